"""
The grading pipeline: the steps nbgrader's Autograde converter runs on a submission, in order.

    SANITIZE   ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells (the test cells as
               released), PinChoiceAnswers (a quiz answer is the letter written), CheckCellMetadata
    AUTOGRADE  RobustExecute (the sandboxed kernel), GradeApart (the hidden tests that forbid library
               shortcuts, only in a kernel whose library lacks them), IgnorePattern (stderr),
               ClearMetadataPreprocessor, LimitOutput, TruncateOutputs
               -- everything above runs the student's code (autograder/pipeline/execution.py);
                  everything below only reads its results --
               JudgeGrades (the scores, decided here), SaveAutoGrades, AssignLatePenalties,
               CheckCellMetadata, InertContent (nothing of the student's runs in a browser)

The course folder's nbgrader_config.py names these lists (autograder/pipeline/course_folder.py), so
`nbgrader autograde` and the Formgrader's Autograde button run exactly this pipeline. `grade` runs it
split at the line above: the steps that run student code in a worker (a local process or a Dask
worker, execution.execute), the rest in the grading process, which alone holds the answer key and the
gradebook (judge, below). `check` runs both halves, in its own process. The first half is a module of
its own because the answer key is computed with it (the instructor's solution run like a submission),
and the judge, in the second half, reads that key.
"""

from __future__ import annotations

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearSolutions,
    GetGrades,
    NbGraderPreprocessor,
    SaveAutoGrades,
)

from autograder.course.quizbank import Question
from autograder.pipeline.execution import GRADEBOOK_ONLY, RUN_STUDENT_CODE, run_steps
from autograder.pipeline.inert import InertContent
from autograder.pipeline.judge import JudgeGrades
from autograder.pipeline.preprocessors import CourseStubs
from autograder.pipeline.results import References

READ_RESULTS = [JudgeGrades, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata, InertContent]
AUTOGRADE = RUN_STUDENT_CODE + READ_RESULTS

# nbgrader's Generate (release) with the course's stubs, and its Generate Feedback from the judged
# notebook without the hidden tests (whose sources hold the quiz key and the record inputs).
GENERATE_ASSIGNMENT = [
    CourseStubs if step is ClearSolutions else step
    for step in GenerateAssignment.class_traits()["preprocessors"].default()  # nbgrader's own list
]
GENERATE_FEEDBACK = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]


def judging_steps(
    config, questions: list[Question] | None, references: References | None
) -> list[NbGraderPreprocessor]:
    """The steps that read an executed notebook's results, without a gradebook, with the answer key given."""
    return [
        JudgeGrades(questions, references, given=True, config=config) if step is JudgeGrades else step(config=config)
        for step in READ_RESULTS
        if step not in GRADEBOOK_ONLY
    ]


def judge(
    executed: NotebookNode, config, questions: list[Question] | None, references: References | None
) -> NotebookNode:
    """An executed notebook judged: the second half of the pipeline (the grading process's part)."""
    return run_steps(executed, judging_steps(config, questions, references), {"metadata": {}})
