"""
JudgeGrades: the step of nbgrader's Autograde pipeline that decides every graded cell's score, in the
grading process, so that `nbgrader autograde`, the Formgrader's Autograde button, `python -m autograder
grade` and `check` all score a submission the same way.

nbgrader scores a test cell from its outputs alone: full marks without an error, none with one
(nbgrader.utils.determine_grade). A hidden test of an exercise only records what the student's code
returned (attnlab.checks.record); whether that is right is decided here, against the instructor's
records, and a quiz answer is scored from the letter written in its answer cell, against the key
(autograder/pipeline/results.py). This step then rewrites each graded test cell's outputs so that nbgrader's own
SaveAutoGrades, which runs next, gives exactly that verdict:

- the records are removed (they are for the grader, not for people), and so are errors and stderr
  the student's kernel produced in the cell (a traceback of a hidden test shows the hidden test, and
  for a quiz the key); the cell's result is kept as a display (nbgrader reads a number there as credit);
- a cell that did not pass gets one error output whose text is the course-written verdict;
- the verdict itself is kept in the cell's metadata (metadata.autograder.verdict) for the feedback, the
  CSVs and the report.

Where the answer key comes from: `grade` and `check` hand the step the quiz's questions and the
instructor's records. Under nbgrader (no one hands it anything) it reads them from the course folder's
key folder (`key_dir`, written by `python -m autograder build` and `grade`): `quiz_bank.toml` and the
instructor's records, which it computes from the course's own source notebook when they are missing or
out of date.
"""

from __future__ import annotations

from pathlib import Path

from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Integer, Unicode

from autograder.course.config import KEY_DIR
from autograder.course.quizbank import Question
from autograder.pipeline.key import load_key
from autograder.pipeline.records import strip_records
from autograder.pipeline.results import References, Verdict, verdicts

VERDICT_ERROR = "NotPassed"  # the ename of the one error a failed graded cell keeps


def verdict_of(cell: NotebookNode) -> Verdict | None:
    """The verdict JudgeGrades wrote into a graded cell, or None."""
    data = cell.get("metadata", {}).get("autograder", {}).get("verdict")
    return Verdict.from_dict(data) if isinstance(data, dict) else None


def judged_verdicts(nb: NotebookNode) -> list[Verdict]:
    """Every graded cell's verdict, in notebook order (a judged notebook)."""
    found = [verdict_of(cell) for cell in nb.cells if cell.cell_type == "code" and is_grade(cell)]
    return [v for v in found if v is not None]


def _verdict_output(verdict: Verdict) -> NotebookNode:
    text = verdict.text
    return NotebookNode(output_type="error", ename=VERDICT_ERROR, evalue=text, traceback=[f"{VERDICT_ERROR}: {text}"])


def _keeps(output: NotebookNode) -> bool:
    """What a graded cell may keep of its kernel's outputs: printed text and figures, nothing nbgrader scores."""
    if output.get("output_type") == "error":
        return False
    return not (output.get("output_type") == "stream" and output.get("name") == "stderr")


def _shown(output: NotebookNode) -> NotebookNode:
    """A cell's result shown as a display: nbgrader reads a number in an execute_result as partial credit."""
    if output.get("output_type") == "execute_result":
        return NotebookNode(
            output_type="display_data", data=output.get("data", {}), metadata=output.get("metadata", {})
        )
    return output


class JudgeGrades(NbGraderPreprocessor):
    key_dir = Unicode(
        KEY_DIR,
        help="under nbgrader: the folder, in the course folder, of quiz_bank.toml and the instructor's records",
    ).tag(config=True)
    shuffle_seed = Integer(0, help="the quiz bank's shuffle seed (course.toml)").tag(config=True)

    def __init__(
        self,
        questions: list[Question] | None = None,
        references: References | None = None,
        given: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.questions, self.references, self.given = questions, references, given

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        questions, references = self.questions, self.references
        if not self.given:  # under nbgrader: the key of this assignment from the course folder
            assignment = resources.get("nbgrader", {}).get("assignment", "")
            root = Path(CourseDirectory(config=self.config).root)
            questions, references = load_key(root / self.key_dir, root, assignment, self.shuffle_seed, self.config)
        judged = iter(verdicts(nb, questions, references))
        for cell in nb.cells:
            if cell.cell_type != "code" or not is_grade(cell):
                continue
            verdict = next(judged)
            strip_records(cell)
            cell.outputs = [_shown(out) for out in cell.get("outputs", []) if _keeps(out)]
            if not verdict.passed:
                cell.outputs.append(_verdict_output(verdict))
            cell.metadata.setdefault("autograder", {})["verdict"] = verdict.to_dict()
        return nb, resources
