"""Every lesson end to end: the student version runs, the solution passes, autograding scores both right."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.build import assignments
from autograder.check import check
from autograder.config import load_config
from autograder.example_submissions import solved_copy
from autograder.grade import grade

pytestmark = pytest.mark.slow
LESSONS = [a for a in assignments(load_config()) if not a.is_quiz]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda a: a.id)
def test_the_student_version_runs_with_only_not_implemented_errors(course, lesson):
    nb = nbformat.read(course.root / lesson.student_version, as_version=4)
    NotebookClient(nb, timeout=course.timeout, allow_errors=True,
                   resources={"metadata": {"path": str(course.lessons_dir)}}).execute()
    errors = [out.ename for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    stderr = [out.text for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "stream" and out.name == "stderr"]
    assert errors and set(errors) == {"NotImplementedError"}, errors
    assert not stderr, stderr[:2]


@pytest.mark.parametrize("lesson", LESSONS + [a for a in assignments(load_config()) if a.is_quiz], ids=lambda a: a.id)
def test_the_solution_passes_every_graded_cell_with_hidden_tests(course, lesson):
    result = check(course, lesson.source)
    assert result.verdicts and result.all_passed, [(v.question, v.message) for v in result.verdicts if not v.passed]
    if not lesson.is_quiz:
        assert len(result.verdicts) >= 2


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, course):
    """Two students per assignment: one fills in the instructor's solutions, one hands in the student version untouched."""
    root = tmp_path_factory.mktemp("class")
    for lesson in assignments(course):
        released = nbformat.read(course.root / lesson.student_version, as_version=4)
        solved = solved_copy(released, nbformat.read(lesson.source, as_version=4))
        for student, nb in (("solved", solved), ("untouched", released)):
            target = root / "submitted" / student / lesson.id / lesson.notebook_name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
    return grade(course, root / "submitted", root / "out")


def test_autograding_the_solution_gives_full_marks_and_the_student_version_zero(graded_class):
    for item in graded_class.graded:
        assert item.status == "ok", (item.submission.student, item.submission.assignment, item.submission.notes)
        expected = item.max_score if item.submission.student == "solved" else 0
        assert item.score == expected, (item.submission.student, item.submission.assignment,
                                        [(v.question, v.message) for v in item.verdicts])
