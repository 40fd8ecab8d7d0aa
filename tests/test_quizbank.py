"""The quiz bank encodes the seed's eight questions, with their answers, explanations and a fixed shuffle."""

import re
from pathlib import Path

import pytest

from autograder.config import CourseError, load_config
from autograder.quizbank import LETTERS, load_bank, normalize_choice

SEED = Path(__file__).resolve().parent / "data" / "seed_quiz.txt"  # the seed text's quiz, verbatim


@pytest.fixture(scope="module")
def course():
    return load_config()


@pytest.fixture(scope="module")
def questions(course):
    return load_bank(course.quiz_bank, course.shuffle_seed)


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


def test_seed_typos_are_fixed_and_every_option_is_explained(questions):
    for question in questions:
        assert len(question.options) == 4
        assert sum(o.correct for o in question.options) == 1
        for option in question.options:
            assert not re.match(r"^[A-D]>", option.text)
            assert len(option.explanation) > 20
        assert re.fullmatch(r"0[0-4]_\w+", question.lesson)


def test_the_shuffle_is_fixed_by_the_seed_and_the_key_is_not_one_letter(course, questions):
    again = load_bank(course.quiz_bank, course.shuffle_seed)
    assert [q.options for q in again] == [q.options for q in questions]
    assert len({q.answer for q in questions}) > 1
    other = load_bank(course.quiz_bank, course.shuffle_seed + 1)
    assert [q.options for q in other] != [q.options for q in questions]
    assert [o.option(o.answer).text for o in other] == [q.option(q.answer).text for q in questions]


@pytest.mark.parametrize("written, letter", [
    ("B", "B"), ("b", "B"), ("  c ", "C"), ("d)", "D"), (" a) ", "A"),
    ("E", None), ("AB", None), ("B))", None), ("", None), (None, None), (2, None),
])
def test_answers_ignore_case_spaces_and_one_closing_parenthesis(written, letter):
    assert normalize_choice(written) == letter


def test_a_string_subclass_is_not_an_answer():
    class Anything(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__

    assert normalize_choice(Anything("B")) is None


@pytest.mark.parametrize("entry, problem", [
    ('[[question]]\nprompt = "p"\nlesson = "01_x"\n', "missing 'option'"),
    ('[[question]]\nprompt = "p"\nlesson = "01_x"\n' + '[[question.option]]\ntext = "t"\nexplanation = "e"\n' * 3,
     "exactly 4 options"),
    ('[[question]]\nprompt = "p"\nlesson = "01_x"\n' + '[[question.option]]\ntext = "t"\nexplanation = "e"\n' * 4,
     "exactly one option"),
    ('[[question]]\nprompt = "p"\nlesson = "lesson one"\n' + '[[question.option]]\ntext = "t"\nexplanation = "e"\n',
     "should name a lesson"),
    ('not toml at all [', "not valid TOML"),
    ('', "no [[question]]"),
])
def test_a_broken_bank_entry_is_reported_clearly(tmp_path, entry, problem):
    bank = tmp_path / "bank.toml"
    bank.write_text(entry)
    with pytest.raises(CourseError, match=re.escape(problem)):
        load_bank(bank, 0)


def test_adding_a_question_keeps_the_others_in_place(tmp_path, course, questions):
    extra = ('\n[[question]]\nprompt = "A ninth question?"\nlesson = "03_beyond_attention"\n'
             + "".join(f'[[question.option]]\ntext = "option {i}"\nexplanation = "because {i}."\n' for i in range(3))
             + '[[question.option]]\ntext = "the right one"\nexplanation = "because."\ncorrect = true\n')
    bank = tmp_path / "bank.toml"
    bank.write_text(course.quiz_bank.read_text() + extra)
    grown = load_bank(bank, course.shuffle_seed)
    assert len(grown) == 9 and grown[8].option(grown[8].answer).text == "the right one"
    assert [q.options for q in grown[:8]] == [q.options for q in questions]
    assert set(LETTERS) >= {q.answer for q in grown}
