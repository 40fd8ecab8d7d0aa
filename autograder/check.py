"""
`python -m autograder check NOTEBOOK`: a self-learner's instant verdict, as nbgrader would grade it.

The notebook is never modified. A copy runs through the grading pipeline without a gradebook: the
test cells (hidden tests included) come from the instructor version in solutions/, the quiz answers
are pinned from the answer cells, and the robust executor runs it. The verdict lists per question
right or wrong with the explanation of the option chosen, per exercise pass or fail with its hint.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.build import assignments
from autograder.config import CourseConfig, CourseError
from autograder.notebooks import KERNELSPEC, NotANotebook, read_notebook
from autograder.quizbank import load_bank
from autograder.results import Totals, Verdict, execution_problems, verdicts


@dataclass
class CheckResult(Totals):
    notebook: Path
    assignment: str
    verdicts: list[Verdict]
    notes: list[str]
    seconds: float
    executed: NotebookNode  # the graded copy, outputs included

    def to_dict(self) -> dict:
        return {"notebook": str(self.notebook), "assignment": self.assignment, "score": self.score,
                "max_score": self.max_score, "seconds": round(self.seconds, 2), "notes": self.notes,
                "questions": [v.to_dict() for v in self.verdicts]}


def _grade_ids(nb: NotebookNode) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}


def identify(course: CourseConfig, nb: NotebookNode, path: Path) -> tuple[str, NotebookNode]:
    """(assignment id, instructor notebook) whose graded cells the notebook shares most."""
    mine = _grade_ids(nb)
    best, best_overlap = None, 0
    for assignment in assignments(course):
        if not assignment.source.exists():
            continue
        source = nbformat.read(assignment.source, as_version=4)
        overlap = len(mine & _grade_ids(source)) + (assignment.id == path.stem)  # ties go to the file name
        if overlap > best_overlap:
            best, best_overlap = (assignment.id, source), overlap
    if best is None or not mine:
        raise CourseError(f"{path} is not one of the course's lessons or the quiz (it has no graded cells)")
    return best


def check(course: CourseConfig, path: Path, timeout: int | None = None) -> CheckResult:
    from autograder import preprocessors as pp  # imports nbgrader and nbclient
    from nbgrader.preprocessors import ClearOutput, IgnorePattern

    start = time.perf_counter()
    if not path.is_file():
        raise CourseError(f"no such notebook: {path}")
    try:
        nb, _ = read_notebook(path)
    except NotANotebook as error:
        raise CourseError(f"{path} cannot be checked: {error}") from None
    assignment, source = identify(course, nb, path)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    resources = {"metadata": {"path": str(path.resolve().parent)}}
    pipeline = [
        ClearOutput(),
        pp.RestoreSourceCells(source),
        pp.PinChoiceAnswers(),
        pp.RobustExecute(timeout=timeout or course.timeout),
        IgnorePattern(enabled=True, pattern=pp.ALL_STDERR),
        pp.TruncateOutputs(max_chars=course.max_output_chars),
    ]
    for step in pipeline:
        nb, resources = step.preprocess(nb, resources)
    questions = load_bank(course.quiz_bank, course.shuffle_seed) if assignment == "quiz" else None
    notes = [note for _, note in execution_problems(nb)]
    return CheckResult(path, assignment, verdicts(nb, questions), notes, time.perf_counter() - start, nb)


def print_check(result: CheckResult, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    print(f"{result.notebook} ({result.assignment}): {result.score:g} / {result.max_score:g}   "
          f"[{result.seconds:.1f} s]")
    for note in result.notes:
        print(f"  note: {note}")
    for v in result.verdicts:
        mark = "✓" if v.passed else "✗"
        print(f"  {mark} {v.question:<28} {v.score:g}/{v.max_score:g}  {v.message}")
        if v.explanation:
            print(f"      why: {v.explanation}")
    if result.all_passed:
        print("All questions pass.")
