"""The quiz bank: the seed's eight questions as the course quiz, a quiz per lesson, answers, explanations,
a fixed shuffle, and the conventions the grader and the notebooks share (cell ids, reading an answer)."""

import re
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import CourseError, load_config
from autograder.course.quiz_notebook import READER_ID
from autograder.course.quizbank import (
    COURSE_QUIZ,
    LETTERS,
    answer_cell_id,
    answer_cell_number,
    graded_cell_id,
    graded_cell_number,
    lesson_quiz_id,
    load_quizzes,
    normalize_choice,
)

SEED = Path(__file__).resolve().parent / "data" / "seed_quiz.txt"  # the seed text's quiz, verbatim


@pytest.fixture(scope="module")
def course():
    return load_config()


@pytest.fixture(scope="module")
def quizzes(course):
    return load_quizzes(course.quiz_bank, course.shuffle_seed)


@pytest.fixture(scope="module")
def questions(quizzes):
    """The course quiz's questions."""
    return quizzes[COURSE_QUIZ].questions


def every_question(quizzes):
    return [q for quiz in quizzes.values() for q in quiz.questions]


def seed_questions() -> list[tuple[str, list[str], str]]:
    """(prompt, options in seed order, correct option text) parsed from the seed text."""
    text = SEED.read_text()
    blocks = re.split(r"Question \d+: ", text)[1:]
    parsed = []
    for block in blocks:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        options = [re.sub(r"^•\s*[A-D][)>]\s*", "", line) for line in lines[1:5]]
        parsed.append((lines[0], options, options[1]))  # every seed answer is option B
    return parsed


def test_the_bank_holds_the_seeds_eight_questions_with_the_seeds_answers(questions):
    seed = seed_questions()
    assert len(questions) == len(seed) == 8
    for question, (prompt, options, correct) in zip(questions, seed):
        assert question.prompt == prompt
        assert sorted(o.text for o in question.options) == sorted(options)
        assert question.option(question.answer).text == correct


def test_seed_typos_are_fixed_and_every_option_is_explained(course, quizzes):
    for question in every_question(quizzes):
        assert len(question.options) == 4
        assert sum(o.correct for o in question.options) == 1
        for option in question.options:
            assert not re.match(r"^[A-D]>", option.text)
            assert len(option.explanation) > 20
        assert (course.solutions_dir / f"{question.lesson}.ipynb").exists(), question.lesson


def test_every_lesson_has_a_quiz_of_its_own_with_at_least_four_questions(course, quizzes):
    lessons = sorted(p.stem for p in course.solutions_dir.glob("[0-9][0-9]_*.ipynb"))
    assert list(quizzes) == [COURSE_QUIZ] + [lesson_quiz_id(lesson) for lesson in lessons]
    for lesson in lessons:
        quiz = quizzes[lesson_quiz_id(lesson)]
        assert quiz.lesson == lesson and len(quiz.questions) >= 4
        assert all(q.lesson == lesson for q in quiz.questions)
        assert [q.number for q in quiz.questions] == list(range(1, len(quiz.questions) + 1))


def test_the_shuffle_is_fixed_by_the_seed_and_the_key_is_not_one_letter(course, quizzes):
    again = load_quizzes(course.quiz_bank, course.shuffle_seed)
    assert [q.options for q in every_question(again)] == [q.options for q in every_question(quizzes)]
    for quiz in quizzes.values():
        assert len({q.answer for q in quiz.questions}) > 1, quiz.id
    other = load_quizzes(course.quiz_bank, course.shuffle_seed + 1)
    assert [q.options for q in every_question(other)] != [q.options for q in every_question(quizzes)]
    assert [o.option(o.answer).text for o in every_question(other)] == [
        q.option(q.answer).text for q in every_question(quizzes)
    ]


ANSWERS = [
    ("B", "B"),
    ("b", "B"),
    ("  c ", "C"),
    ("d)", "D"),
    (" a) ", "A"),
    ("E", None),
    ("AB", None),
    ("B))", None),
    ("", None),
    (None, None),
    (2, None),
]


@pytest.mark.parametrize("written, letter", ANSWERS)
def test_answers_ignore_case_spaces_and_one_closing_parenthesis(written, letter):
    assert normalize_choice(written) == letter


def test_the_quiz_notebook_reads_answers_with_the_graders_own_function(course):
    # The checks inside the notebook run the cell the quiz carries; it must say what the grader says.
    quiz = nbformat.read(course.quizzes_dir / "quiz.ipynb", as_version=4)
    [reader] = [c for c in quiz.cells if c.metadata.get("nbgrader", {}).get("grade_id") == READER_ID]
    namespace = {}
    exec(reader.source, namespace)
    assert [namespace["normalize_choice"](written) for written, _ in ANSWERS] == [letter for _, letter in ANSWERS]


@pytest.mark.parametrize("number", [1, 9, 12])
def test_cell_ids_are_read_back_to_their_question_number(number):
    assert answer_cell_number(answer_cell_id(number)) == graded_cell_number(graded_cell_id(number)) == number
    assert answer_cell_number(graded_cell_id(number)) is None and graded_cell_number(answer_cell_id(number)) is None
    assert graded_cell_number(f"{graded_cell_id(number)}x") is None and answer_cell_number("ex_rollout") is None


def test_a_string_subclass_is_not_an_answer():
    class Anything(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    assert normalize_choice(Anything("B")) is None


@pytest.mark.parametrize(
    "entry, problem",
    [
        ('[[question]]\nprompt = "p"\nlesson = "01_x"\n', "missing 'option'"),
        (
            '[[question]]\nprompt = "p"\nlesson = "01_x"\n'
            + '[[question.option]]\ntext = "t"\nexplanation = "e"\n' * 3,
            "exactly 4 options",
        ),
        (
            '[[question]]\nprompt = "p"\nlesson = "01_x"\n'
            + '[[question.option]]\ntext = "t"\nexplanation = "e"\n' * 4,
            "exactly one option",
        ),
        (
            '[[question]]\nprompt = "p"\nlesson = "lesson one"\n'
            + '[[question.option]]\ntext = "t"\nexplanation = "e"\n',
            "should name a lesson",
        ),
        ("not toml at all [", "not valid TOML"),
        ("", "no [[question]]"),
        ('[[question]]\nprompt = "p"\n', "missing 'lesson'"),
        ('[[question]]\nprompt = "p"\nlesson = "01_x"\nquiz = "quiz_02"\n', "quiz_01"),
    ],
)
def test_a_broken_bank_entry_is_reported_clearly(tmp_path, entry, problem):
    bank = tmp_path / "bank.toml"
    bank.write_text(entry)
    with pytest.raises(CourseError, match=re.escape(problem)):
        load_quizzes(bank, 0)


def _entry(prompt: str, lesson: str, quiz: str | None = None) -> str:
    return (
        f'\n[[question]]\nprompt = "{prompt}"\nlesson = "{lesson}"\n'
        + (f'quiz = "{quiz}"\n' if quiz else "")
        + "".join(f'[[question.option]]\ntext = "option {i}"\nexplanation = "because {i}."\n' for i in range(3))
        + '[[question.option]]\ntext = "the right one"\nexplanation = "because."\ncorrect = true\n'
    )


def test_a_question_goes_to_its_lessons_quiz_unless_it_names_the_course_quiz(tmp_path):
    bank = tmp_path / "bank.toml"
    bank.write_text(_entry("a", "02_x") + _entry("b", "01_y", quiz="quiz") + _entry("c", "02_x") + _entry("d", "01_y"))
    quizzes = load_quizzes(bank, 0)
    assert list(quizzes) == ["quiz", "quiz_01", "quiz_02"]  # the course quiz first, then lesson order
    assert [q.prompt for q in quizzes["quiz_02"].questions] == ["a", "c"]
    assert [(q.prompt, q.number) for q in quizzes["quiz"].questions] == [("b", 1)]
    assert [(q.prompt, q.number) for q in quizzes["quiz_01"].questions] == [("d", 1)]  # numbered within its quiz
    assert quizzes["quiz"].lesson is None and quizzes["quiz_02"].lesson == "02_x"


def test_adding_a_question_keeps_the_others_in_place(tmp_path, course, quizzes):
    bank = tmp_path / "bank.toml"
    bank.write_text(course.quiz_bank.read_text() + _entry("One more question?", "03_beyond_attention"))
    grown = load_quizzes(bank, course.shuffle_seed)
    before, after = quizzes["quiz_03"].questions, grown["quiz_03"].questions
    assert len(after) == len(before) + 1 and after[-1].option(after[-1].answer).text == "the right one"
    assert after[:-1] == before
    assert {k: v for k, v in grown.items() if k != "quiz_03"} == {k: v for k, v in quizzes.items() if k != "quiz_03"}
    assert set(LETTERS) >= {q.answer for q in after}
