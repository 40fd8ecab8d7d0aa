"""
`python -m autograder check NOTEBOOK`: a self-learner's instant verdict, as the grader would give it.

The notebook is never modified. A copy runs through the grading pipeline without a gradebook
(preprocessors.self_check_steps), in the same sandbox as a graded submission: the test cells (hidden
tests included) come from the instructor version in solutions/, the quiz answers are scored from the
answer cells, and the exercises from what their hidden tests record, compared with the records of the
instructor's solution (autograder/reference.py, cached). The verdict lists per question right or
wrong with the explanation of the option chosen, per exercise pass or fail with its hint: as text, as
JSON (--json), or as HTML (--html, what the self-check cell at the end of every notebook shows).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.build import assignments
from autograder.config import CourseConfig, CourseError, require_notebook_file
from autograder.nbgrader_api import Execution
from autograder.notebooks import KERNELSPEC, graded_cell_titles, read_checkable
from autograder.quizbank import Question, load_quizzes
from autograder.records import strip_records
from autograder.results import Totals, Verdict, execution_problems, verdicts


@dataclass
class CheckResult(Totals):
    notebook: Path
    assignment: str
    verdicts: list[Verdict]
    notes: list[str]
    seconds: float
    executed: NotebookNode  # the graded copy, outputs included
    source: NotebookNode  # the instructor's notebook: the exercises' and questions' titles come from it
    questions: list[Question] | None  # the quiz's questions, for their prompts

    def title(self, verdict: Verdict) -> str:
        return graded_cell_titles(self.source).get(verdict.question, verdict.question)

    def to_dict(self) -> dict:
        return {
            "notebook": str(self.notebook),
            "assignment": self.assignment,
            "score": self.score,
            "max_score": self.max_score,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
            "questions": [v.to_dict() | {"title": self.title(v)} for v in self.verdicts],
        }


def _grade_ids(nb: NotebookNode) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}


def identify(course: CourseConfig, nb: NotebookNode, path: Path):
    """The assignment whose graded cells the notebook shares most, and its instructor notebook."""
    mine = _grade_ids(nb)
    best, best_overlap = None, 0
    for assignment in assignments(course):
        if not assignment.source.exists():
            continue
        source = nbformat.read(assignment.source, as_version=4)
        overlap = len(mine & _grade_ids(source)) + (assignment.id == path.stem)  # ties go to the file name
        if overlap > best_overlap:
            best, best_overlap = (assignment, source), overlap
    if best is None or not mine:
        raise CourseError(f"{path} is not one of the course's lessons or quizzes (it has no graded cells)")
    return best


def run_notebook(
    course: CourseConfig, nb: NotebookNode, source: NotebookNode, folder: Path, execution: Execution
) -> NotebookNode:
    """nb through the grading pipeline without a gradebook (the instructor's test cells from source)."""
    from autograder.nbgrader_api import config_from_settings, pipeline_settings
    from autograder.preprocessors import run_steps, self_check_steps

    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    config = config_from_settings(pipeline_settings(course, execution))
    return run_steps(nb, self_check_steps(config, source), {"metadata": {"path": str(folder)}})


def references_cache(course: CourseConfig) -> Path:
    """Beside the model cache, never inside it: the sandbox sees the model cache, and these hold the answers.
    Refuses (CourseError) a model cache that holds them anyway, or the course (ATTNLAB_CACHE_DIR set to a
    folder above its default place)."""
    from attnlab.train import cache_dir
    from autograder.sandbox import require_safe_model_cache

    require_safe_model_cache(course.root)
    models = cache_dir()
    return models.with_name(models.name + "-grader") / "reference"


def check(course: CourseConfig, path: Path, timeout: int | None = None, sandbox: bool = True) -> CheckResult:
    from autograder.reference import as_references, cache_file, instructor_references, records_of, save

    start = time.perf_counter()
    require_notebook_file(path)
    if sandbox:
        from autograder.sandbox import require_bwrap

        require_bwrap()
    nb = read_checkable(path, course.max_notebook_bytes)
    assignment, source = identify(course, nb, path)
    execution = Execution(timeout=timeout, sandbox=sandbox)
    questions = (
        list(load_quizzes(course.quiz_bank, course.shuffle_seed)[assignment.id].questions)
        if assignment.is_quiz
        else None
    )
    references = None
    if assignment.is_quiz:
        executed = run_notebook(course, nb, source, path.resolve().parent, execution)
    elif path.resolve() == assignment.source.resolve():
        # The instructor's own notebook: its run is the reference (and fills the cache for everyone).
        executed = run_notebook(
            course, nb, source, path.resolve().parent, Execution(timeout, sandbox, writable_cache=True)
        )
        payloads = records_of(executed, path.name)
        save(cache_file(references_cache(course), path.name, source), payloads)
        references = as_references(payloads)
    else:
        references = instructor_references(course, assignment.source, references_cache(course), execution)
        executed = run_notebook(course, nb, source, path.resolve().parent, execution)
    notes = [note for _, note in execution_problems(executed)]
    found = verdicts(executed, questions, references)
    for cell in executed.cells:
        strip_records(cell)  # they were for the grader
    return CheckResult(path, assignment.id, found, notes, time.perf_counter() - start, executed, source, questions)


def print_check(result: CheckResult, output: str = "text") -> None:
    """The verdict as `output`: "text" for a terminal, "json" for machines, "html" for the self-check cell."""
    if output == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    if output == "html":
        from autograder.feedback import render_check

        print(
            render_check(
                result.assignment, result.verdicts, result.notes, result.seconds, result.source, result.questions
            )
        )
        return
    print(
        f"{result.notebook} ({result.assignment}): {result.score:g} / {result.max_score:g}   [{result.seconds:.1f} s]"
    )
    for note in result.notes:
        print(f"  note: {note}")
    width = max((len(result.title(v)) for v in result.verdicts), default=0)
    for v in result.verdicts:
        mark = "✓" if v.passed else "✗"
        print(f"  {mark} {result.title(v):<{width}}  {v.score:g}/{v.max_score:g}  {v.message}")
        if v.hint:
            print(f"      Hint: {v.hint}")
        if v.explanation:
            print(f"      why: {v.explanation}")
    if result.all_passed:
        print("Everything passes.")
