"""
A class of attackers of the exercise guards, graded by the real grader (nbgrader, the sandbox, workers):
each attack of issue 22's "forged scores" as a submission that passes every visible check, beside an
honest classmate per lesson who must keep full marks.
"""

import copy

import nbformat
import pytest

from autograder.release.example_submissions import solved_copy
from autograder.run.grade import GradeOptions, grade
from autograder.sandbox.bwrap import bwrap_path

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]

ENTER = "import attnlab.checks\nattnlab.checks.refusing.__enter__ = lambda self: self  # every refusing() off\n"

# student -> (lesson, {answer cell: source}, the test cells the attack must score 0 on)
ATTACKS = {
    "a_enter": (
        "03_beyond_attention",
        {"ex_rollout": ENTER + "def rollout(attentions):\n    return attention_rollout(attentions)\n"},
        ["test_rollout"],
    ),
    "a_rebuild": (
        "03_beyond_attention",
        {
            "ex_rollout": "import types\n"
            "# a function rebuilt from the library's code before any hidden test switches it off\n"
            "_copy = types.FunctionType(attention_rollout.__code__, attention_rollout.__globals__, 'copy',\n"
            "                           attention_rollout.__defaults__)\n"
            "def rollout(attentions):\n    return _copy(attentions)\n"
        },
        ["test_rollout"],
    ),
    "a_gc": (
        "03_beyond_attention",
        {
            "ex_gradient_weighted": "import gc, types\n"
            "from attnlab.attribution.grad_attention import grad_weighted_rollout\n"
            "def gradient_weighted(attentions, grads):\n"
            "    # the code refusing() keeps aside, found through gc; the library's own when nothing is off\n"
            "    saved = next((o[1] for o in gc.get_objects() if type(o) is tuple and len(o) == 2\n"
            "                  and o[0] is grad_weighted_rollout), grad_weighted_rollout.__code__)\n"
            "    return types.FunctionType(saved, grad_weighted_rollout.__globals__, 'g',\n"
            "                              grad_weighted_rollout.__defaults__)(attentions, grads)\n"
        },
        ["test_gradient_weighted"],
    ),
    "a_outputs": (
        "00_tiny_transformer",
        {"ex_collect_patterns": "def collect_patterns(model, tokens):\n    return model(tokens).attentions\n"},
        ["test_collect_patterns"],
    ),
    "a_by_hand": (
        "00_tiny_transformer",
        {
            "ex_collect_patterns": "def collect_patterns(model, tokens):\n"
            "    # the blocks called by hand: each returns its pattern, no hook needed\n"
            "    x, key_mask = model.embed(tokens), (tokens != model.cfg.pad_id)[:, None, None, :]\n"
            "    patterns = []\n"
            "    for block in model.blocks:\n"
            "        x, pattern = block(x, key_mask)\n"
            "        patterns.append(pattern)\n"
            "    return torch.stack(patterns)\n"
        },
        ["test_collect_patterns"],
    ),
    "a_mass": (
        "01_attention_as_explanation",
        {
            "ex_attention_mass": "from attnlab.faithfulness.attention_mass import rationale_attention_mass\n\n"
            "def attention_mass_on(rows, rationale):  # the library's mass, rows posing as one layer's [CLS] rows\n"
            "    return rationale_attention_mass(rows[None, :, None, None, :], rationale)[:, 0]\n"
        },
        ["test_attention_mass"],
    ),
    "a_keeps": (
        "02_faithfulness",
        {
            "ex_keeping_permutation": "def keeping_permutation(model, tokens, tolerance=0.05, tries=200, seed=0):\n"
            "    generator = torch.Generator().manual_seed(seed)\n"
            "    n = int((tokens != 0).sum())\n"
            "    for _ in range(tries):  # the library's own check does the permuting and the comparing\n"
            "        perm = torch.randperm(n, generator=generator)\n"
            "        if keeps_prediction(model, tokens, perm, tolerance):\n"
            "            return perm\n"
            "    return None\n"
        },
        ["test_keeping_permutation"],
    ),
    "a_helpers": (
        "02_faithfulness",
        {
            "ex_comprehensiveness": "from attnlab.faithfulness.erasure import erase, predicted_probability\n"
            "from attnlab.faithfulness.ranking import top_words\n"
            "from attnlab.tasks.vocab import word_mask\n\n"
            "def comprehensiveness_at_k(model, tokens, scores, k):  # the helpers comprehensiveness is built from\n"
            "    top = top_words(scores, word_mask(tokens, model.cfg.pad_id), k)\n"
            "    p_full, y = predicted_probability(model, tokens)\n"
            "    p_rest, _ = predicted_probability(model, erase(model, tokens, top, 'delete'), y)\n"
            "    return p_full - p_rest\n",
            "ex_leave_one_out": ENTER
            + "def leave_one_out(model, tokens):\n    return LeaveOneOut(model).attribute(tokens)\n",
        },
        ["test_comprehensiveness", "test_leave_one_out"],
    ),
    "a_constants": (
        "04_probing",
        {
            "ex_linear_probe": "_calls = []\n\n"
            "def linear_probe_accuracy(x_train, y_train, x_test, y_test, n_classes):\n"
            "    _calls.append(1)  # the visible checks: planted (high), then shuffled (near chance)\n"
            "    return 0.33 if len(_calls) == 2 else 0.95\n"
        },
        ["test_linear_probe"],
    ),
    "a_patching": (
        "05_activation_patching",
        {
            "ex_patch_residual": ENTER + "def patch_residual(model, clean, corrupt, metric, layer, position):\n"
            "    site = Sites.of(model, 'resid_pre', clean.shape[1], layers=[layer], positions=[position])\n"
            "    return activation_patching(model, clean, corrupt, metric, site).patched[0, 0]\n",
            "ex_head_recovery": "def head_recovery(model, clean, corrupt, metric):\n"
            "    return activation_patching(model, clean, corrupt, metric, 'head_out').mean()\n",
        },
        ["test_patch_residual", "test_head_recovery"],
    ),
    "a_real_model": (
        "06_real_architectures",
        {
            "ex_pooler_rule": "from attnlab.attribution.lrp import identity_rule\n"
            "def pooler_rule(module, inputs, output):\n    return identity_rule(inputs[0], output)\n",
            "ex_patch_positions": ENTER + "from attnlab.patching import patch_together\n"
            "def patch_positions(model, clean, corrupt, metric, layer, positions):\n"
            "    with torch.no_grad():\n"
            "        at_clean, at_corrupt = metric(model(clean).logits), metric(model(corrupt).logits)\n"
            "    share = patch_together(model, clean, corrupt, metric, layer, positions)\n"
            "    return at_corrupt + share * (at_clean - at_corrupt)\n",
        },
        ["test_pooler_rule", "test_patch_positions"],
    ),
}
LESSONS = sorted({lesson for lesson, _, _ in ATTACKS.values()})


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _points(nb) -> dict[str, float]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    root = tmp_path_factory.mktemp("guards")
    solved, points = {}, {}
    for lesson in LESSONS:
        release = nbformat.read(course.lessons_dir / f"{lesson}.ipynb", as_version=4)
        solved[lesson] = solved_copy(release, nbformat.read(course.solutions_dir / f"{lesson}.ipynb", as_version=4))
        points[lesson] = _points(release)
    submissions = {f"hon_{lesson[:2]}": (lesson, solved[lesson]) for lesson in LESSONS}
    for student, (lesson, answers, _) in ATTACKS.items():
        nb = copy.deepcopy(solved[lesson])
        for grade_id, source in answers.items():
            _cell(nb, grade_id).source = source
        submissions[student] = (lesson, nb)
    for student, (lesson, nb) in submissions.items():
        target = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    report = grade(course, root / "submitted", root / "out", GradeOptions(workers=2))
    by_student = {item.submission.student: item for item in report.graded}
    return by_student, points


def test_honest_classmates_keep_full_marks(graded):
    by_student, points = graded
    for lesson in LESSONS:
        item = by_student[f"hon_{lesson[:2]}"]
        details = [(v.question, v.score, v.message) for v in item.verdicts]
        assert item.score == sum(points[lesson].values()), details
        assert item.submission.status == [], item.submission.notes


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_an_attack_scores_zero_on_what_it_attacks_and_loses_nothing_else(graded, student):
    by_student, points = graded
    lesson, _, attacked = ATTACKS[student]
    item = by_student[student]
    verdicts = {v.question: v for v in item.verdicts}
    details = [(v.question, v.score, v.message) for v in item.verdicts]
    for grade_id in attacked:
        assert verdicts[grade_id].score == 0, details
        # it passed every visible check in the student's kernel: only the run apart stopped it, and says why
        assert "calls a library function this exercise asks you to write" in verdicts[grade_id].message or (
            "hidden test" in verdicts[grade_id].message
        ), details
    assert item.score == sum(points[lesson].values()) - sum(points[lesson][g] for g in attacked), details
