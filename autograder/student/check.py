"""
`python -m autograder check NOTEBOOK`: a self-learner's instant verdict, as the grader would give it.

The notebook is never modified. A copy runs through the grading pipeline without a gradebook
(autograder/pipeline/steps.py), in the same sandbox as a graded submission: the test cells (hidden
tests included) come from the instructor version in solutions/, the quiz answers are scored from the
answer cells, and the exercises from what their hidden tests record, compared with the records of the
instructor's solution (autograder/pipeline/reference.py, cached). The verdict lists per question right or
wrong with the explanation of the option chosen, per exercise pass or fail with its hint: as text, as
JSON (--json), or as HTML (--html, what the self-check cell at the end of every notebook shows).

Where no sandbox can be created (no bubblewrap: macOS, Windows; or a Linux without user namespaces),
the student's own notebook is checked without one, and the verdict says so in one line.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from autograder.course.config import CourseConfig, require_notebook_file
from autograder.course.notebooks import graded_cell_titles, read_checkable
from autograder.course.quizbank import Question, load_quizzes
from autograder.pipeline.nbgrader_api import Execution
from autograder.pipeline.results import Totals, Verdict, execution_problems
from autograder.student.untouched import identify


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


NO_SANDBOX_NOTE = "checked without a sandbox: fine for your own notebook; graders use one"


def sandbox_available() -> bool:
    """Whether bubblewrap can create a sandbox here (never on macOS or Windows)."""
    from autograder.sandbox.bwrap import bwrap_path

    return bwrap_path() is not None


def check(course: CourseConfig, path: Path, timeout: int | None = None, sandbox: bool = True) -> CheckResult:
    from autograder.pipeline.judge import judged_verdicts
    from autograder.pipeline.nbgrader_api import config_from_settings, pipeline_settings
    from autograder.pipeline.reference import (
        as_references,
        cache_file,
        instructor_references,
        records_of,
        references_cache,
        save,
    )
    from autograder.pipeline.running import run_notebook
    from autograder.pipeline.steps import judge

    start = time.perf_counter()
    require_notebook_file(path)
    own_notes = []
    if sandbox and not sandbox_available():
        # Checking one's own notebook needs no protection from oneself: macOS, Windows and Linux without
        # user namespaces check without one. Grading other people's code still refuses (grade.py).
        sandbox = False
        own_notes.append(NO_SANDBOX_NOTE)
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
    notes = own_notes + [note for _, note in execution_problems(executed)]
    judged = judge(executed, config_from_settings(pipeline_settings(course, execution)), questions, references)
    found = judged_verdicts(judged)
    return CheckResult(path, assignment.id, found, notes, time.perf_counter() - start, executed, source, questions)


def print_check(result: CheckResult, output: str = "text") -> None:
    """The verdict as `output`: "text" for a terminal, "json" for machines, "html" for the self-check cell."""
    if output == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    if output == "html":
        from autograder.outputs.feedback import render_check

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
