"""
Exercises that ask for a decision (a control, a conclusion, a prediction) and how the grader judges it:
against what the course model shows, recomputed in the grader (autograder/pipeline/verifiers.py) or taken from
the instructor's run, never against what the student's code claims. The last tests grade lessons 01 and
02 through `check` with the solutions filled in and the decisions answered wrong or lazily.
"""

import nbformat
import pytest
import torch

from autograder.course.assignments import assignments
from autograder.pipeline.records import Record, judge
from autograder.pipeline.verifiers import one_of, word_control
from autograder.release.example_submissions import solved_copy
from autograder.student.check import check


def test_a_written_answer_counts_only_if_the_run_supports_it():
    params = {"accepted": ["part of the way"]}
    assert one_of("part of the way", params)
    assert not one_of("chance", params)
    assert not one_of("Part of the way", params)  # the answers are spelled out in the prompt
    assert not one_of(None, params)  # not answered
    assert one_of("B", {"accepted": ["A", "B"]})  # the run supports more than one statement
    assert not one_of("A", {"accepted": []})  # the run supports none of them: no answer counts
    assert not one_of(1, {"accepted": [True]}) and not one_of(True, {"accepted": [1]})  # types must match
    assert not one_of(["B"], {"accepted": ["B"]})
    assert not one_of("B", {"accepted": "B"})  # a malformed key accepts nothing


def test_the_student_cannot_choose_the_accepted_answers():
    mine = Record("conclusion", "A", verify="one_of", params={"accepted": ["A"]})
    reference = Record("conclusion", "B", verify="one_of", params={"accepted": ["B"]})
    assert judge([mine], [reference]).passed == 0
    assert judge([Record("conclusion", "B")], [reference]).all_passed


@pytest.fixture(scope="module")
def course_test():
    """The course model's test sentences, what the verifier recomputes on, and their last-layer [CLS] rows."""
    from autograder.pipeline.verifiers import _rationale_test

    model, test = _rationale_test()
    words = test.tokens != 0
    words[:, 0] = False
    with torch.no_grad():
        cls_rows = model(test.tokens).attentions[-1, :, :, 0].mean(1)  # (N, T)
    return test, words, cls_rows


def _one_per_row(scores: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """(N, T) bool: in each row the position of pool with the highest score."""
    chosen = scores.masked_fill(~pool, float("-inf")).argmax(1, keepdim=True)
    return torch.zeros_like(pool).scatter(1, chosen, True)


def _random_in(pool: torch.Tensor, seed: int) -> torch.Tensor:
    return _one_per_row(torch.rand(pool.shape, generator=torch.Generator().manual_seed(seed)), pool)


def test_a_random_word_is_a_fair_control_among_all_words_or_all_but_the_top_one(course_test):
    test, words, cls_rows = course_test
    top = _one_per_row(cls_rows, words)
    params = {"start": 0, "stop": len(test.tokens)}
    for seed in range(3):
        assert word_control(_random_in(words, seed), params)
        assert word_control(_random_in(words & ~top, seed), params)  # Serrano & Smith's control
    assert word_control(_random_in(words[100:400], 0), {"start": 100, "stop": 400})


def test_a_control_chosen_by_attention_or_the_rationale_is_not_fair(course_test):
    test, words, cls_rows = course_test
    params = {"start": 0, "stop": len(test.tokens)}
    rationale = test.rationale & words
    unfair = {
        "the most-attended word": _one_per_row(cls_rows, words),
        "the least-attended word": _one_per_row(-cls_rows, words),
        "a rationale word": _random_in(rationale | (words & ~rationale.any(1, keepdim=True)), 0),
        "a word outside the rationale": _random_in(words & ~rationale, 0),
        "the first word": torch.zeros_like(words).index_fill(1, torch.tensor([1]), True),
    }
    for name, mask in unfair.items():
        assert not word_control(mask, params), name


def test_a_control_must_delete_one_real_word_per_sentence(course_test):
    test, words, _ = course_test
    params = {"start": 0, "stop": len(test.tokens)}
    fair = _random_in(words, 0)
    two = fair | _random_in(words & ~fair, 1)
    cls = fair.clone()
    cls[0] = False
    cls[0, 0] = True
    assert not word_control(two, params)  # the treatment deletes one word
    assert not word_control(cls, params)
    assert not word_control(torch.zeros_like(fair), params)
    assert not word_control(fair.float(), params)
    assert not word_control(fair[:500], params)  # not the sentences it was asked for
    assert not word_control(fair.tolist(), params)
    assert not word_control(fair, {"start": 0, "stop": 10**6})
    assert not word_control(fair, {})


# --- Through the grader: the solutions filled in, the decisions answered wrong or lazily -------------


def _graded_with(course, tmp_path, lesson_id: str, answers: dict[str, str]):
    """check() on the release with every solution filled in, then the given exercise cells replaced."""
    [lesson] = [a for a in assignments(course) if a.id == lesson_id]
    release = nbformat.read(course.root / lesson.student_version, as_version=4)
    nb = solved_copy(release, nbformat.read(lesson.source, as_version=4))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers.pop(grade_id)
    assert answers == {}, f"no such exercise cells: {sorted(answers)}"
    path = tmp_path / lesson.notebook_name
    nbformat.write(nb, path)
    return {v.question: v for v in check(course, path).verdicts}


CONTROL = "def control_erasure(tokens, seed=0):\n"
MOST_ATTENDED = (
    CONTROL + "    with torch.no_grad():\n"
    "        rows = model(tokens).attentions[-1, :, :, 0].mean(1)\n"
    "    is_word = tokens != 0\n"
    "    is_word[:, 0] = False\n"
    "    top = rows.masked_fill(~is_word, -1).argmax(1, keepdim=True)\n"
    "    return torch.zeros_like(is_word).scatter(1, top, True)\n"
)


@pytest.mark.slow
def test_lesson_01_a_biased_control_a_wrong_conclusion_and_a_wrong_prediction_score_0(course, tmp_path):
    verdicts = _graded_with(
        course,
        tmp_path,
        "01_attention_as_explanation",
        {
            "ex_word_control": MOST_ATTENDED,  # passes every visible check: one real word per sentence
            "ex_control_conclusion": 'CONCLUSION = "C"',
            "ex_block_prediction": 'PREDICTION = "chance"',
        },
    )
    for failing in ("test_word_control", "test_control_conclusion", "test_block_prediction"):
        assert verdicts[failing].score == 0, verdicts[failing]
        assert "hidden test" in verdicts[failing].message
    for other in ("test_attention_mass", "test_flip_rate"):
        assert verdicts[other].passed, verdicts[other]


@pytest.mark.slow
def test_lesson_02_an_unpaired_or_signed_gap_and_a_lazy_prediction_score_0(course, tmp_path):
    verdicts = _graded_with(
        course,
        tmp_path,
        "02_faithfulness",
        {
            # Signed taus, paired: the interval lies below 0, and the conclusion read from it says "attention".
            "ex_gradient_gap": (
                "GAP = bootstrap(kendall_tau(grad, loo_scores, w).tau, kendall_tau(attention, loo_scores, w).tau)\n"
                'CONCLUSION = "attention"\n'
            ),
            "ex_flip_prediction": 'PREDICTION = "the same"',
        },
    )
    for failing in ("test_gradient_gap", "test_flip_prediction"):
        assert verdicts[failing].score == 0, verdicts[failing]
        assert "hidden test" in verdicts[failing].message
    assert verdicts["test_comprehensiveness"].passed, verdicts["test_comprehensiveness"]
