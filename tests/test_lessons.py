"""
Every lesson end to end, each notebook executed as few times as the claims need: a class is graded in
which one student hands in every released notebook untouched and another fills in the instructor's
solutions. The untouched run shows what a student sees on Run All; the solved run that the hidden tests
pass; `check` is exercised on one lesson and the quizzes (the rest of its pipeline is the grader's).

Three runs of every lesson (the instructor's, for the reference records, and the two students') are
too long for one test worker, so the class is graded in two halves of similar cost: the two test
classes below, which `--dist loadscope` may give to different workers.
"""

import nbformat
import pytest

from autograder.course.assignments import assignments
from autograder.course.config import load_config
from autograder.pipeline.judge import verdict_of
from autograder.pipeline.results import NOT_DONE
from autograder.release.example_submissions import solved_copy
from autograder.run.grade import grade
from autograder.student.check import check

pytestmark = pytest.mark.slow
ASSIGNMENTS = assignments(load_config())
LESSONS = [a for a in ASSIGNMENTS if not a.is_quiz]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The per-lesson tests of a half run on that half's lessons.
    if "lesson" in metafunc.fixturenames and metafunc.cls is not None:
        mine = [a for a in LESSONS if metafunc.cls.includes(a)]
        metafunc.parametrize("lesson", mine, ids=[a.id for a in mine])


def _executed(out, student, lesson):
    return nbformat.read(out / "course" / "autograded" / student / lesson.id / f"{lesson.id}.ipynb", as_version=4)


class LessonHalf:
    """The tests of one half of the class; a subclass says which assignments are in it."""

    @classmethod
    def includes(cls, assignment) -> bool:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, tmp_path_factory, course):
        """Two students per assignment: one fills in the instructor's solutions, one hands in the release untouched."""
        root = tmp_path_factory.mktemp("class")
        for lesson in filter(cls.includes, ASSIGNMENTS):
            released = nbformat.read(course.root / lesson.student_version, as_version=4)
            solved = solved_copy(released, nbformat.read(lesson.source, as_version=4))
            for student, nb in (("solved", solved), ("untouched", released)):
                target = root / "submitted" / student / lesson.id / lesson.notebook_name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, target)
        out = root / "out"
        return grade(course, root / "submitted", out), out

    def test_autograding_the_solution_gives_full_marks_and_the_student_version_zero(self, graded):
        report, _ = graded
        assert {item.submission.assignment for item in report.graded} == {a.id for a in ASSIGNMENTS if self.includes(a)}
        for item in report.graded:
            assert item.status == "ok", (item.submission.student, item.submission.assignment, item.submission.notes)
            expected = item.max_score if item.submission.student == "solved" else 0
            assert item.score == expected, (
                item.submission.student,
                item.submission.assignment,
                [(v.question, v.message) for v in item.verdicts],
            )
            if not item.submission.assignment.startswith("quiz"):
                assert len(item.verdicts) >= 2  # every lesson grades at least two exercises

    def test_the_student_version_runs_with_only_not_implemented_errors(self, graded, lesson):
        _, out = graded
        nb = _executed(out, "untouched", lesson)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert all(cell.execution_count for cell in code if cell.source.strip())  # no cell was skipped
        # Graded cells were judged (autograder/pipeline/judge.py): each says "not done yet";
        # the others keep their errors.
        judged = [verdict_of(cell) for cell in code if verdict_of(cell) is not None]
        assert judged and {v.message for v in judged} == {NOT_DONE}, [(v.question, v.message) for v in judged]
        errors = [
            o.ename for cell in code if verdict_of(cell) is None for o in cell.outputs if o.output_type == "error"
        ]
        stderr = [o.text for cell in code for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert set(errors) <= {"NotImplementedError"}, errors
        assert not stderr, stderr[:2]

    def test_the_solved_lesson_runs_without_a_single_error(self, graded, lesson):
        # Graded cells passing is not enough: a failing demonstration cell leaves the prose without its output.
        _, out = graded
        nb = _executed(out, "solved", lesson)
        errors = [
            (o.ename, o.evalue[:200])
            for cell in nb.cells
            if cell.cell_type == "code"
            for o in cell.outputs
            if o.output_type == "error"
        ]
        assert errors == []

    def test_every_number_the_prose_quotes_is_printed_above_it(self, graded, lesson):
        from test_claims import unsupported_claims  # the checker and its own tests: tests/test_claims.py

        _, out = graded
        problems = unsupported_claims(_executed(out, "solved", lesson))
        assert problems == [], "\n".join(problems)


class TestTheTwoLongestLessons(LessonHalf):
    @classmethod
    def includes(cls, assignment) -> bool:
        return assignment.id in ("02_faithfulness", "04_probing")


class TestTheOtherLessonsAndTheQuizzes(LessonHalf):
    @classmethod
    def includes(cls, assignment) -> bool:
        return not TestTheTwoLongestLessons.includes(assignment)


@pytest.mark.parametrize("lesson", [LESSONS[0]] + [a for a in ASSIGNMENTS if a.is_quiz], ids=lambda a: a.id)
def test_check_passes_the_solution_with_hidden_tests(course, lesson):
    result = check(course, lesson.source)
    assert result.verdicts and result.all_passed, [(v.question, v.message) for v in result.verdicts if not v.passed]
