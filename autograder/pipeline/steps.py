"""
The grading pipeline: the steps nbgrader's Autograde converter runs on a submission, in order, and the
one runner that takes a notebook through them without a gradebook.

    SANITIZE   ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells (the test cells as
               released), PinChoiceAnswers (a quiz answer is the letter written), CheckCellMetadata
    AUTOGRADE  RobustExecute (the sandboxed kernel), GradeApart (the hidden tests that forbid library
               shortcuts, only in a kernel whose library lacks them), IgnorePattern (stderr),
               ClearMetadataPreprocessor, LimitOutput, TruncateOutputs
               -- everything above runs the student's code; everything below only reads its results --
               JudgeGrades (the scores, decided here), SaveAutoGrades, AssignLatePenalties,
               CheckCellMetadata, InertContent (nothing of the student's runs in a browser)

The course folder's nbgrader_config.py names these lists, so `nbgrader autograde` and the Formgrader's
Autograde button run exactly this pipeline. `grade` runs it split at the line above: the steps that run
student code in a worker (a local process or a Dask worker), the rest in the grading process, which
alone holds the answer key and the gradebook. `check` runs it whole, in its own process. Without a
gradebook, OverwriteCells becomes RestoreSourceCells (the instructor's notebook gives the test cells)
and the gradebook's own steps are left out.
"""

from __future__ import annotations

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.course.quizbank import Question
from autograder.pipeline.guards import GradeApart
from autograder.pipeline.inert import InertContent
from autograder.pipeline.judge import JudgeGrades
from autograder.pipeline.preprocessors import (
    CourseStubs,
    PinChoiceAnswers,
    RestoreSourceCells,
    RobustExecute,
    TruncateOutputs,
)
from autograder.pipeline.results import References

SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, PinChoiceAnswers, CheckCellMetadata]
RUN_STUDENT_CODE = [RobustExecute, GradeApart, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, TruncateOutputs]
READ_RESULTS = [JudgeGrades, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata, InertContent]
AUTOGRADE = RUN_STUDENT_CODE + READ_RESULTS

# nbgrader's Generate (release) with the course's stubs, and its Generate Feedback from the judged
# notebook without the hidden tests (whose sources hold the quiz key and the record inputs).
GENERATE_ASSIGNMENT = [
    CourseStubs if step is ClearSolutions else step
    for step in GenerateAssignment.class_traits()["preprocessors"].default()  # nbgrader's own list
]
GENERATE_FEEDBACK = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# Steps that read or write nbgrader's gradebook; without one they are left out (OverwriteCells is
# replaced by RestoreSourceCells).
GRADEBOOK_ONLY = (OverwriteKernelspec, SaveAutoGrades, AssignLatePenalties)


def execution_steps(config, source: NotebookNode) -> list[NbGraderPreprocessor]:
    """SANITIZE + the steps that run student code, without a gradebook: the test cells come from source."""
    return [
        RestoreSourceCells(source, config=config) if step is OverwriteCells else step(config=config)
        for step in SANITIZE + RUN_STUDENT_CODE
        if step not in GRADEBOOK_ONLY
    ]


def judging_steps(
    config, questions: list[Question] | None, references: References | None
) -> list[NbGraderPreprocessor]:
    """The steps that read an executed notebook's results, without a gradebook, with the answer key given."""
    return [
        JudgeGrades(questions, references, given=True, config=config) if step is JudgeGrades else step(config=config)
        for step in READ_RESULTS
        if step not in GRADEBOOK_ONLY
    ]


def run_steps(nb: NotebookNode, steps: list, resources: dict) -> NotebookNode:
    for step in steps:
        nb, resources = step(nb, resources)  # calling a step skips it when it is not enabled, as nbconvert does
    return nb


def execute(nb: NotebookNode, source: NotebookNode, folder: str, config) -> NotebookNode:
    """nb with the student's code run: the first half of the pipeline (a grading worker's part)."""
    return run_steps(nb, execution_steps(config, source), {"metadata": {"path": folder}})


def judge(
    executed: NotebookNode, config, questions: list[Question] | None, references: References | None
) -> NotebookNode:
    """An executed notebook judged: the second half of the pipeline (the grading process's part)."""
    return run_steps(executed, judging_steps(config, questions, references), {"metadata": {}})
