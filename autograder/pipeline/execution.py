"""
The first half of the grading pipeline (autograder/pipeline/steps.py): the steps that take in a submission
and run its code, and the runner that takes a notebook through them without a gradebook. A grading
worker, `check` and the instructor's answer key (autograder/pipeline/key.py, which runs the solution)
run notebooks this way; nothing here reads an answer key, so the key can be built on it.

    SANITIZE          ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells (the test cells
                      as released), PinChoiceAnswers (a quiz answer is the letter written), CheckCellMetadata
    RUN_STUDENT_CODE  RobustExecute (the sandboxed kernel), GradeApart (the hidden tests that forbid
                      library shortcuts, only in a kernel whose library lacks them), IgnorePattern
                      (stderr), ClearMetadataPreprocessor, LimitOutput, TruncateOutputs

Without a gradebook, OverwriteCells becomes RestoreSourceCells (the instructor's notebook gives the test
cells) and the gradebook's own steps are left out.
"""

from __future__ import annotations

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.pipeline.guards import GradeApart
from autograder.pipeline.preprocessors import PinChoiceAnswers, RestoreSourceCells, RobustExecute, TruncateOutputs

SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, PinChoiceAnswers, CheckCellMetadata]
RUN_STUDENT_CODE = [RobustExecute, GradeApart, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, TruncateOutputs]

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


def run_steps(nb: NotebookNode, steps: list, resources: dict) -> NotebookNode:
    for step in steps:
        nb, resources = step(nb, resources)  # calling a step skips it when it is not enabled, as nbconvert does
    return nb


def execute(nb: NotebookNode, source: NotebookNode, folder: str, config) -> NotebookNode:
    """nb with the student's code run: the first half of the pipeline (a grading worker's part)."""
    return run_steps(nb, execution_steps(config, source), {"metadata": {"path": folder}})
