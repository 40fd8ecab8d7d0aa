"""
The exercises that ask for judgement (lessons 03 to 06): the student decides something, and the
grader judges the decision against what the course model shows, never against the student's claim.

- lesson 03: which activations the backward pass must treat as constants so that gradient x input stops
  being blind; the grader recomputes the scores on the course model from the student's list
  (autograder/pipeline/verifiers.py, detached_gradient_x_input);
- lessons 04, 05 and 06: which statements the printed output supports; the instructor's solution derives
  the key from its own run, and the grader compares with that record.

Through the real check path (the grading pipeline, the instructor's records), a wrong answer scores 0
on that exercise while the rest of the lesson keeps its points; the verifier's own tests show the lazy
answers it refuses.
"""

import nbformat
import pytest

from autograder.pipeline.verifiers import detached_gradient_x_input
from autograder.release.example_submissions import solved_copy
from autograder.student.check import check

PARAMS = {"sentences": 400, "auc_min": 0.75, "negative_max": 0.40}  # those of lesson 03's hidden test

# lesson -> (the exercise's answer cell, its graded cell, a wrong answer a student could give)
WRONG = {
    # the path layer 0 reads the embeddings by, not what hides it from x . g
    "03_beyond_attention": (
        "ex_ln_blind_spot",
        "test_ln_blind_spot",
        'DETACH = ["blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v"]',
    ),
    # "the map found it": the test map ranked the head first, but the training map picked another
    "04_probing": ("ex_intervention_reading", "test_intervention_reading", 'SUPPORTED = {"A", "D"}'),
    # every statement that compares two heads or two ablations, whatever its interval says
    "05_activation_patching": ("ex_ablation_reading", "test_ablation_reading", 'SUPPORTED = {"A", "B", "C"}'),
    # every large difference, whichever its direction and whatever the interval of the LayerNorm fix says
    "06_real_architectures": ("ex_difference_reading", "test_difference_reading", 'SUPPORTED = {"A", "B", "C", "D"}'),
}


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", sorted(WRONG))
def test_a_wrong_judgement_scores_zero_on_its_exercise_and_nothing_else_changes(course, lesson, tmp_path):
    answer_cell, graded_cell, wrong = WRONG[lesson]
    release = nbformat.read(course.lessons_dir / f"{lesson}.ipynb", as_version=4)
    nb = solved_copy(release, nbformat.read(course.solutions_dir / f"{lesson}.ipynb", as_version=4))
    _cell(nb, answer_cell).source = wrong
    path = tmp_path / f"{lesson}.ipynb"
    nbformat.write(nb, path)
    result = check(course, path)
    scores = {v.question: (v.score, v.max_score) for v in result.verdicts}
    assert scores[graded_cell][0] == 0, result.verdicts
    others = {q: s for q, s in scores.items() if q != graded_cell}
    assert others and all(score == max_score for score, max_score in others.values()), others


@pytest.mark.slow
def test_the_ln_verifier_recomputes_the_scores_and_refuses_lazy_answers():
    scales = [f"blocks.{l}.{ln}.hook_scale" for l in (0, 1) for ln in ("ln1", "ln2")] + ["ln_f.hook_scale"]
    assert detached_gradient_x_input(scales, PARAMS)  # the LayerNorm scale everywhere: the blind spot removed
    assert detached_gradient_x_input(scales + scales, PARAMS)  # a name given twice is detached once
    assert not detached_gradient_x_input([], PARAMS)  # nothing changed: plain gradient x input
    assert not detached_gradient_x_input(scales[:1], PARAMS)  # one LayerNorm is not enough
    assert not detached_gradient_x_input(["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"], PARAMS)
    everything = ["hook_embed"] + [f"blocks.{l}.hook_resid_post" for l in (0, 1)] + scales
    assert not detached_gradient_x_input(everything, PARAMS)  # nothing reaches the input any more
    assert not detached_gradient_x_input(["blocks.9.ln1.hook_scale"], PARAMS)  # not a hook point of the model
    assert not detached_gradient_x_input("ln_f.hook_scale", PARAMS)  # a string, not a list
    assert not detached_gradient_x_input(scales, {**PARAMS, "sentences": "all"})  # the instructor's params only
