"""Probing: probes recover planted properties and only those, control tasks depend on word type only,
selectivity is task minus control, single heads are scored on hand-made attention maps."""

import re

import matplotlib
import pytest
import torch

from attnlab.models import TinyTransformer, preset
from attnlab.probing import (
    LayerRow,
    ProbeConfig,
    ProbingTask,
    ablation_effects,
    arc_task,
    attention_pair_features,
    attention_token_features,
    best_heads,
    control_arc,
    control_coref,
    control_pos,
    coref_task,
    extract_features,
    format_comparison,
    format_table,
    head_accuracy,
    head_accuracy_both,
    held_out_best_head,
    held_out_best_offset,
    model_difference,
    only_at,
    pos_task,
    probe_by_layer,
    probe_inputs,
    pronoun_agreement,
    random_model_like,
    selectivity,
    train_and_evaluate,
    train_and_evaluate_together,
)
from attnlab.probing.probes import (
    ProbeData,
    _feature_statistics,
    _scores,
    _standardise,
    fit_probe,
    make_probe,
    probe_data,
)
from attnlab.probing.tasks import AGREEMENT, agreement_classes, antecedent_class_distribution, pos_distribution
from attnlab.tasks.base import mask_one_word
from attnlab.tasks.toy_language import (
    NO_LABEL,
    PRONOUNS,
    VERB_NUMBER,
    agreement_table,
    make_toy_language,
    masked_lm_accuracy,
    pronoun_agrees,
)

matplotlib.use("Agg")

N_CLASSES = 4


def planted_token_task(n: int, seed: int, shuffle: bool = False) -> tuple[torch.Tensor, ProbingTask]:
    """(n, 5, 16) random word vectors with the class written along a fixed random direction per class."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(N_CLASSES, 16, generator=torch.Generator().manual_seed(99))  # same for every split
    labels = torch.randint(N_CLASSES, (n, 5), generator=g)
    x = torch.randn(n, 5, 16, generator=g) + 3 * directions[labels]  # (n, 5, 16)
    if shuffle:  # labels no longer belong to their vectors
        labels = labels.flatten()[torch.randperm(n * 5, generator=g)].view(n, 5)
    return x, ProbingTask("planted", labels, n_classes=N_CLASSES)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_probe_recovers_a_planted_property(kind: str) -> None:
    x_train, train = planted_token_task(200, seed=0)
    x_test, test = planted_token_task(100, seed=1)
    result = train_and_evaluate(x_train, train, x_test, test, ProbeConfig(kind=kind))
    assert result.accuracy > 0.95


def test_probe_fails_on_shuffled_labels() -> None:
    x_train, train = planted_token_task(200, seed=0, shuffle=True)
    x_test, test = planted_token_task(100, seed=1, shuffle=True)
    result = train_and_evaluate(x_train, train, x_test, test, ProbeConfig(kind="mlp"))
    assert result.accuracy < 1 / N_CLASSES + 0.1  # chance on held-out words...
    assert result.train_accuracy > result.accuracy + 0.1  # ...though it memorised some training words


def planted_pair_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, ProbingTask]:
    """Word i points to a random other word j; pair feature 0 is high exactly at (i, gold j), and word
    vectors carry a code that a bilinear probe can match (word j's key equals word i's query)."""
    g = torch.Generator().manual_seed(seed)
    T = 6
    gold = torch.stack([torch.randperm(T, generator=g) for _ in range(n)])  # (n, T) a permutation: j for each i
    pairs = torch.rand(n, T, T, 3, generator=g)  # noise features
    pairs[..., 0] *= 0.3
    pairs[torch.arange(n)[:, None], torch.arange(T)[None], gold, 0] += 1.0  # planted at the gold pair
    codes = torch.randn(n, T, 8, generator=g)  # a random code per word
    vectors = torch.cat([codes, torch.zeros(n, T, 8)], -1)  # (n, T, 16): [own code, code of my target]
    vectors[..., 8:] = codes.gather(1, gold[..., None].expand(-1, -1, 8))
    candidates = torch.ones(n, T, T, dtype=torch.bool)
    return pairs, vectors, ProbingTask("planted_pairs", gold, candidates=candidates)


def test_pair_probes_recover_planted_pairs() -> None:
    pairs_train, vectors_train, train = planted_pair_task(300, seed=0)
    pairs_test, vectors_test, test = planted_pair_task(100, seed=1)
    assert train_and_evaluate(pairs_train, train, pairs_test, test).accuracy > 0.95  # linear on pair features
    bilinear = train_and_evaluate(vectors_train, train, vectors_test, test, ProbeConfig(steps=300))
    assert bilinear.accuracy > 0.9  # h_i^T W h_j matches "my target's code" with "your own code"


def test_probes_are_seeded() -> None:
    x_train, train = planted_token_task(100, seed=0, shuffle=True)
    x_test, test = planted_token_task(50, seed=1)
    first = train_and_evaluate(x_train, train, x_test, test, ProbeConfig(kind="mlp", steps=20))
    state = torch.random.get_rng_state()
    second = train_and_evaluate(x_train, train, x_test, test, ProbeConfig(kind="mlp", steps=20))
    assert first.accuracy == second.accuracy
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random stream is untouched


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("pairs", [False, True], ids=["words", "pairs of words"])
def test_probes_trained_together_are_the_probes_trained_alone(kind: str, pairs: bool) -> None:
    # probe_by_layer trains every layer's probe and its control in one loop; each must come out as it
    # would alone, though the probes differ in data, labels, feature scales and (pairs) candidates.
    if pairs:
        experiments = []
        for seed, scale in ((0, 1.0), (1, 30.0), (2, 0.1)):
            _, vectors_train, train = planted_pair_task(120, seed=seed)
            _, vectors_test, test = planted_pair_task(60, seed=seed + 10)
            train.candidates[:, :, seed] = False  # each probe its own candidates
            experiments.append((vectors_train * scale, train, vectors_test * scale, test))
    else:
        experiments = []
        for seed, shuffle in ((0, False), (1, True), (2, False)):
            x_train, train = planted_token_task(100, seed=seed, shuffle=shuffle)
            x_test, test = planted_token_task(50, seed=seed + 10)
            experiments.append((x_train * (seed + 1), train, x_test * (seed + 1), test))
    cfg = ProbeConfig(kind=kind, steps=40)
    together = train_and_evaluate_together(experiments, cfg)
    # The two orders of computation round differently: a float32 sum of n terms is exact to n * eps
    # relative, and each step adds one gradient summed over the n word positions of the training data.
    n_positions = experiments[0][0].shape[:2].numel()  # (sentences, tokens, features) -> 500-600
    weights_rtol = cfg.steps * n_positions * torch.finfo(torch.float32).eps  # about 2.5e-3
    for experiment, joint in zip(experiments, together):
        alone = train_and_evaluate(*experiment, cfg)
        for a, b in zip(joint.probe.module.parameters(), alone.probe.module.parameters()):
            assert (a - b).norm() <= weights_rtol * b.norm()
        # Weights that close change only predictions on a decision boundary: a few held-out examples.
        assert (joint.correct != alone.correct).float().mean() <= 0.01
        assert joint.accuracy == pytest.approx(alone.accuracy, abs=0.01)
        assert joint.train_accuracy == pytest.approx(alone.train_accuracy, abs=0.01)


def autograd_probe(data: ProbeData, n_classes: int, cfg: ProbeConfig) -> torch.nn.Module:
    """The straightforward training of one probe: its module, autograd, torch.optim.Adam."""
    pair = data.allowed is not None
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        module = make_probe(cfg, data.n_features, 1 if pair else n_classes, pairs_of_vectors=len(data.inputs) == 2)
    standardised = _standardise(data, *_feature_statistics(data))
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.steps):
        loss = torch.nn.functional.cross_entropy(_scores(module, standardised), data.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return module


@pytest.mark.parametrize("inputs", ["words", "pair features", "pairs of word vectors"])
def test_linear_probes_trained_in_closed_form_are_the_probes_autograd_trains(inputs: str) -> None:
    # fit_probes trains the linear families with their gradient written out and Adam written out:
    # the weights must be those of the plain autograd + torch.optim.Adam loop, up to rounding.
    if inputs == "words":
        x, task = planted_token_task(100, seed=0)
        n_positions = x.shape[:2].numel()
    else:
        pairs, vectors, task = planted_pair_task(80, seed=0)
        task.candidates[:, :, 0] = False  # not every position is a candidate...
        task.candidates[task.labels == 0] = True  # ...but the gold one is
        x = pairs if inputs == "pair features" else vectors
        n_positions = pairs.shape[:3].numel()  # every candidate pair adds to the gradient
    data = probe_data(x, task)
    cfg = ProbeConfig(steps=30, weight_decay=0.01 if inputs == "words" else 0.0)
    fast = fit_probe(data, task.n_classes, cfg)
    plain = autograd_probe(data, task.n_classes, cfg)
    # Each step's gradient is a float32 sum over the positions, exact to n eps relative, summed in
    # another order here; the steps compound it (the same bound as for probes trained together).
    weights_rtol = cfg.steps * n_positions * torch.finfo(torch.float32).eps
    for (name, a), b in zip(fast.module.named_parameters(), plain.parameters()):
        if inputs == "pair features" and name == "linear.bias":
            # One bias shared by every candidate cancels in the softmax: its gradient is 0 up to rounding,
            # which Adam scales up to steps of size lr. It is arbitrary in both and changes no prediction.
            continue
        assert (a - b).norm() <= weights_rtol * b.norm(), name
    assert (fast.predict(data) == plain_predictions(plain, data)).float().mean() >= 0.99


def plain_predictions(module: torch.nn.Module, data: ProbeData) -> torch.Tensor:
    with torch.no_grad():
        return _scores(module, _standardise(data, *_feature_statistics(data))).argmax(-1)


def test_probes_of_different_shapes_are_not_trained_together() -> None:
    small = planted_token_task(100, seed=0)
    large = planted_token_task(120, seed=1)
    with pytest.raises(ValueError, match="same shapes"):
        train_and_evaluate_together([(*small, *small), (*large, *large)])


# -----------------------------------------------------------------------------
# tasks and control tasks


@pytest.fixture(scope="module")
def data():
    return make_toy_language(300, seed=5)


def test_linguistic_tasks_follow_the_gold_annotations(data) -> None:
    assert torch.equal(pos_task(data).labels, data.pos)
    arcs = arc_task(data)
    b, i = arcs.queries()
    assert arcs.candidates[b, i, data.heads[b, i]].all()  # the gold head is always a candidate
    coref = coref_task(data)
    b, i = coref.queries()
    assert (coref.candidates[b, i].sum(-1) >= 2).all()  # only pronouns with a real choice
    assert coref.candidates[b, i, data.antecedent[b, i]].all()
    nouns = coref.candidates[b, i].nonzero()
    assert (nouns[:, 1] < i[nouns[:, 0]]).all()  # candidates come before the pronoun


def test_control_labels_depend_on_word_type_only(data) -> None:
    train, test = data.split(200)
    probs = pos_distribution(train)
    for part in (train, test):
        control = control_pos(part, seed=3, probs=probs)
        b, i = control.queries()
        words, labels = part.tokens[b, i], control.labels[b, i]
        for w in words.unique():
            assert labels[words == w].unique().numel() == 1  # one label per word type
    # the same type -> label map on both splits
    table = {}
    for part in (train, test):
        control = control_pos(part, seed=3, probs=probs)
        b, i = control.queries()
        for w, y in zip(part.tokens[b, i].tolist(), control.labels[b, i].tolist()):
            assert table.setdefault(w, y) == y
    assert len(set(table.values())) > 1  # not a constant


def test_control_arcs_and_coref_follow_a_fixed_rule_per_word_type(data) -> None:
    arcs = control_arc(data, seed=1)
    b, i = arcs.queries()
    last = data.mask.sum(1)[b] - 1
    target = arcs.labels[b, i]
    behaviour = torch.where(target == i, 0, torch.where(target == 1, 1, 2))  # self, first word, last word
    assert ((target == i) | (target == 1) | (target == last)).all()
    for w in data.tokens[b, i].unique():
        # a word type may satisfy several rules at once (the first word attaching to itself), but one
        # rule must explain every occurrence of the type
        mine = data.tokens[b, i] == w
        fits = [bool(((target == rule) | ~mine).all()) for rule in (i, 1, last)]
        assert any(fits), data.vocab.words[w]
    assert behaviour.unique().numel() == 3
    coref = control_coref(data, seed=1)
    task = coref_task(data)
    asked = coref.labels != NO_LABEL
    assert not (asked & (task.labels == NO_LABEL)).any() and asked.sum() > 0.2 * (task.labels != NO_LABEL).sum()
    b, i = coref.queries()
    assert task.candidates[b, i, coref.labels[b, i]].all()  # the same output space: an earlier noun


def test_the_coref_control_is_a_fixed_function_of_word_types_with_the_tasks_labels(data) -> None:
    # Hewitt & Liang: the control's answer depends only on word types. Two pronouns of the same type
    # whose candidate nouns are the same types in the same order get the same answer (by rank).
    coref, task = control_coref(data, seed=1), coref_task(data)
    b, i = coref.queries()
    seen: dict[tuple, int] = {}
    for n, p in zip(b.tolist(), i.tolist()):
        cands = task.candidates[n, p].nonzero()[:, 0]
        key = (int(data.tokens[n, p]), tuple(data.tokens[n, cands].tolist()))
        answer = int((cands == coref.labels[n, p]).nonzero()[0, 0])  # which candidate, by rank
        assert seen.setdefault(key, answer) == answer
    # the gold task follows agreement with exactly one candidate; so does the control, with random classes
    classes = agreement_classes(data.vocab)
    tb, ti = task.queries()
    assert torch.equal(classes[data.tokens[tb, task.labels[tb, ti]]], classes[data.tokens[tb, ti]])
    probs = antecedent_class_distribution(data)
    assert probs.shape == (len(AGREEMENT),) and probs.sum().item() == pytest.approx(1.0)
    # not the task, and not a positional rule (earliest or nearest for every pronoun type)
    assert (coref.labels[b, i] != task.labels[b, i]).float().mean() > 0.2
    earliest = torch.where(task.candidates[b, i], -torch.arange(24.0), -1e9).argmax(-1)
    nearest = torch.where(task.candidates[b, i], torch.arange(24.0), -1e9).argmax(-1)
    assert not bool((coref.labels[b, i] == earliest).all()) and not bool((coref.labels[b, i] == nearest).all())
    assert torch.equal(control_coref(data, seed=1, probs=probs).labels, coref.labels)
    # probing_tasks asks the task at the control's pronouns
    from attnlab.probing import probing_tasks

    t, c = probing_tasks(data, seed=1)["coref"]
    assert torch.equal(t.labels != NO_LABEL, c.labels != NO_LABEL)


def test_mask_one_word_hides_exactly_one_word(data) -> None:
    tokens, hidden = mask_one_word(data, seed=0)
    assert (hidden.sum(1) == 1).all()
    assert (hidden & ~data.mask).sum() == 0 and not hidden[:, 0].any()  # never [CLS] or padding
    assert (tokens[hidden] == data.vocab.mask_id).all()
    assert torch.equal(tokens[~hidden], data.tokens[~hidden])
    task = only_at(pos_task(data), hidden)
    assert len(task.queries()[0]) == len(data)


# -----------------------------------------------------------------------------
# selectivity, single heads, features


def test_selectivity_is_task_minus_control() -> None:
    row = LayerRow("trained", "pos", "hidden", 2, accuracy=0.9, control=0.55)
    assert row.selectivity == pytest.approx(0.35)
    assert selectivity(0.6, 0.7) == pytest.approx(-0.1)
    table = format_table([row, LayerRow("random", "pos", "hidden", 2, 0.5, 0.4)])
    assert "+35.0%" in table and "+10.0%" in table


def test_tables_print_intervals_and_the_paired_difference_of_two_models() -> None:
    right = torch.tensor([True] * 80 + [False] * 20)  # 80% on 100 held-out words
    trained = LayerRow("trained", "pos", "hidden", 1, 0.8, 0.5, right, torch.arange(100) < 50)
    random = LayerRow("random", "pos", "hidden", 1, 0.6, 0.5, torch.arange(100) < 60, torch.arange(100) < 50)
    table = format_table([trained, random])
    assert "80.0% [" in table and "+30.0% [" in table  # the probe and its selectivity, with intervals
    gap = model_difference(trained, random)
    assert gap.estimate == pytest.approx(0.2) and gap.excludes(0.0)
    assert "+20.0% [" in format_comparison([trained, random])
    with pytest.raises(ValueError, match="same held-out words"):
        model_difference(trained, LayerRow("random", "pos", "hidden", 1, 0.6, 0.5, right[:50], right[:50]))


def test_intervals_resample_whole_sentences_so_clustered_words_get_wider_intervals() -> None:
    # 40 sentences of 5 words, each sentence right or wrong as a whole: 200 words, 40 independent draws
    per_sentence = torch.rand(40, generator=torch.Generator().manual_seed(0)) < 0.7
    right, sentence = per_sentence.repeat_interleave(5), torch.arange(40).repeat_interleave(5)
    control = torch.zeros(200, dtype=torch.bool)
    clustered = LayerRow("trained", "pos", "hidden", 1, 0.7, 0.0, right, control, sentence)
    by_word = LayerRow("trained", "pos", "hidden", 1, 0.7, 0.0, right, control)  # no sentences: words resampled

    def width(table: str) -> float:
        low, high = re.search(r"\[([\d.]+)%, ([\d.]+)%\]", table.splitlines()[2]).groups()
        return float(high) - float(low)

    assert width(format_table([clustered])) > 1.8 * width(format_table([by_word]))  # about sqrt(5) wider
    random = LayerRow("random", "pos", "hidden", 1, 0.0, 0.0, control, control, sentence)
    random_by_word = LayerRow("random", "pos", "hidden", 1, 0.0, 0.0, control, control)
    gap, naive = model_difference(clustered, random), model_difference(by_word, random_by_word)
    assert gap.estimate == pytest.approx(naive.estimate)
    assert gap.high - gap.low > 1.8 * (naive.high - naive.low)


def test_visible_word_rows_carry_each_words_sentence(toy_language) -> None:
    train, test = toy_language.train.subset(slice(0, 40)), toy_language.test.subset(slice(0, 30))
    rows = probe_by_layer(toy_language.model, train, test, properties=("pos",), masked=False, cfg=ProbeConfig(steps=5))
    b, _ = only_at(pos_task(test), test.mask).queries()
    for row in rows:
        assert torch.equal(row.sentence, b) and row.sentence.shape == row.correct.shape
    assert len(b.unique()) < len(b)  # several words per sentence: the clusters the intervals resample


def test_single_head_accuracy_on_a_hand_made_map() -> None:
    # one sentence, 4 tokens ([CLS] w1 w2 w3); gold heads: w1 -> w2, w2 -> 0 (root), w3 -> w2
    heads = torch.tensor([[NO_LABEL, 2, 0, 2]])
    task = ProbingTask("arc", heads, candidates=torch.ones(1, 4, 4, dtype=torch.bool))
    A = torch.zeros(1, 1, 2, 4, 4)  # (L=1, N=1, H=2, T, T)
    A[0, 0, 0] = torch.tensor([[1, 0, 0, 0], [0, 0.9, 0.1, 0], [1, 0, 0, 0], [0, 0, 0.4, 0.6]])  # head 0
    A[0, 0, 1] = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]])  # head 1
    acc = head_accuracy(A, task)
    # head 0: w1 attends most to itself (dropped) then w2: right; w2 -> [CLS]: right; w3 -> itself, then w2: right
    assert acc.tolist() == [[1.0, pytest.approx(1 / 3)]]
    # transposed, head 1: who attends most to w_i? to w1: w2 (right), to w2: w3 (wrong), to w3: w1 (wrong)
    assert head_accuracy(A, task, transpose=True)[0, 1].item() == pytest.approx(1 / 3)
    assert best_heads(acc, k=1) == [(0, 0, 1.0)]
    # Clark et al. keep the better of the two directions per head
    both, transposed = head_accuracy_both(A, task)
    assert torch.equal(both, torch.maximum(acc, head_accuracy(A, task, transpose=True)))
    assert transposed.tolist() == [[False, False]]  # head 1 ties: the forward direction is kept


def test_head_accuracy_both_finds_a_head_that_looks_from_the_head_word() -> None:
    # w1 -> w2 (gold head w2). Head 0 looks from the head word w2 to its dependent w1 only: forward it
    # misses, transposed it finds it; "both" reports the better direction and says which.
    task = ProbingTask(
        "arc", torch.tensor([[NO_LABEL, 2, NO_LABEL, NO_LABEL]]), candidates=torch.ones(1, 4, 4, dtype=torch.bool)
    )
    A = torch.zeros(1, 1, 1, 4, 4)
    A[0, 0, 0] = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]])
    assert head_accuracy(A, task).item() == 0.0 and head_accuracy(A, task, transpose=True).item() == 1.0
    both, transposed = head_accuracy_both(A, task)
    assert both.item() == 1.0 and transposed.item()


def _noise_heads(n: int, seed: int) -> tuple[torch.Tensor, ProbingTask]:
    # n sentences of 6 tokens, every word's gold head a random earlier-or-later word, attention random:
    # every head is at chance, so any gap between heads is noise
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(1, 6, (n, 6), generator=g)
    labels[:, 0] = NO_LABEL
    labels[labels == torch.arange(6)] = NO_LABEL
    task = ProbingTask("arc", labels, candidates=torch.ones(n, 6, 6, dtype=torch.bool))
    return torch.rand(3, n, 4, 6, 6, generator=g).softmax(-1), task  # (L, N, H, T, T)


def test_held_out_best_head_is_picked_on_one_split_and_scored_on_the_other() -> None:
    select_attn, select_task = _noise_heads(40, seed=0)
    eval_attn, eval_task = _noise_heads(40, seed=1)
    # plant a perfect head (2, 3) on the evaluation split only: it must not be the one picked
    b, i = eval_task.queries()
    eval_attn[2, b, 3, i] = 0.0
    eval_attn[2, b, 3, i, eval_task.labels[b, i]] = 1.0
    picked = held_out_best_head(select_attn, select_task, eval_attn, eval_task)
    ((layer, head, accuracy),) = best_heads(head_accuracy(select_attn, select_task), 1)
    assert picked.choice == (layer, head) != (2, 3)
    assert picked.selection_accuracy == pytest.approx(accuracy)
    expected = head_accuracy(eval_attn, eval_task)[layer, head]
    assert picked.correct.shape == (len(b),) and picked.correct.float().mean() == pytest.approx(expected.item())


def test_the_best_of_many_noise_heads_scores_lower_on_held_out_words() -> None:
    # the selection bias the held-out split removes: 12 heads at chance, the best looks good in-sample
    gaps = []
    for seed in range(10):
        select_attn, select_task = _noise_heads(30, seed=2 * seed)
        eval_attn, eval_task = _noise_heads(30, seed=2 * seed + 1)
        picked = held_out_best_head(select_attn, select_task, eval_attn, eval_task, both_directions=True)
        gaps.append(picked.selection_accuracy - picked.correct.float().mean().item())
    assert min(gaps) > -0.05 and sum(gaps) / len(gaps) > 0.05


def test_held_out_best_offset_and_direction() -> None:
    # w_i's head is always w_{i+1}: offset +1 wins on the selection split and is scored on the other
    heads = torch.tensor([[NO_LABEL, 2, 3, 4, 0]])
    task = ProbingTask("arc", heads, candidates=torch.ones(1, 5, 5, dtype=torch.bool))
    other = ProbingTask("arc", torch.tensor([[NO_LABEL, 2, 1, 4, 3]]), candidates=task.candidates)
    picked = held_out_best_offset(task, other)
    assert picked.choice == (1,) and picked.selection_accuracy == 0.75
    assert picked.correct.tolist() == [True, False, True, False]
    # a head that looks from the head word to its dependent wins transposed, and keeps that direction
    A = torch.zeros(1, 1, 1, 5, 5)
    for i in range(1, 4):
        A[0, 0, 0, i + 1, i] = 1.0
    A[0, 0, 0, 1, 0] = A[0, 0, 0, 0, 0] = A[0, 0, 0, 4, 0] = 1.0
    picked = held_out_best_head(A, task, A, task, both_directions=True)
    assert picked.transposed and picked.correct[:3].all()
    with pytest.raises(ValueError, match="one model"):
        held_out_best_head(A, task, A[:, :, :0], task)


def test_attention_token_features_read_a_words_neighbours() -> None:
    A = torch.rand(2, 3, 4, 5, 5)  # (L, N, H, T, T)
    f = attention_token_features(A, [1], offsets=(-1, 1))
    assert f.shape == (3, 5, 4 * 2 * 3)  # heads x (out, in) x (offsets + [CLS])
    n, i, h = 2, 3, 1
    per_head = f[n, i].view(4, 6)  # (H, features)
    assert per_head[h, 0] == A[1, n, h, i, i - 1] and per_head[h, 1] == A[1, n, h, i - 1, i]  # offset -1
    assert per_head[h, 2] == A[1, n, h, i, i + 1] and per_head[h, 3] == A[1, n, h, i + 1, i]  # offset +1
    assert per_head[h, 4] == A[1, n, h, i, 0] and per_head[h, 5] == A[1, n, h, 0, i]  # [CLS]
    assert (f[:, 4].view(3, 4, 6)[:, :, 2:4] == 0).all()  # the last token has no right neighbour


def test_attention_pair_features_hold_both_directions() -> None:
    A = torch.rand(2, 3, 4, 5, 5)  # (L, N, H, T, T)
    f = attention_pair_features(A)
    assert f.shape == (3, 5, 5, 16)
    assert f[1, 2, 4, 1 * 4 + 3] == A[1, 1, 3, 2, 4]  # layer 1, head 3, i=2 -> j=4
    assert f[1, 2, 4, 8 + 1 * 4 + 3] == A[1, 1, 3, 4, 2]  # the other direction
    assert attention_pair_features(A, [1]).shape == (3, 5, 5, 8)


def test_random_model_has_the_same_shape_and_is_seeded() -> None:
    model = TinyTransformer(preset("nano", vocab_size=20, max_len=8, head="token"))
    a, b = random_model_like(model, seed=1), random_model_like(model, seed=1)
    assert a.cfg == model.cfg
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.tok_emb.weight, random_model_like(model, seed=2).tok_emb.weight)
    f = extract_features(a, torch.tensor([[1, 5, 6, 7, 0]]))
    assert f.hidden.shape == (3, 1, 5, 32) and f.attentions.shape == (2, 1, 2, 5, 5)


# -----------------------------------------------------------------------------
# on the trained toy-language model


def test_probe_by_layer_on_the_trained_model(toy_language) -> None:
    train, test = toy_language.train.subset(slice(0, 300)), toy_language.test.subset(slice(0, 200))
    rows = probe_by_layer(toy_language.model, train, test, properties=("pos",), cfg=ProbeConfig(steps=60))
    assert [r.layer for r in rows] == [0, 1, 2, 3]
    assert rows[-1].accuracy > 0.9 and rows[-1].selectivity > 0.2  # a masked word's POS is in the context
    attention = probe_by_layer(
        toy_language.model, train, test, properties=("pos", "arc"), features="attention", cfg=ProbeConfig(steps=30)
    )
    assert [r.property for r in attention] == ["pos"] * 3 + ["arc"] * 3  # POS from a word's attention too
    assert attention[-1].accuracy > attention[-1].control


def test_probe_inputs_computed_once_give_the_same_rows(toy_language) -> None:
    train, test = toy_language.train.subset(slice(0, 100)), toy_language.test.subset(slice(0, 80))
    cfg = ProbeConfig(steps=10)
    inputs = probe_inputs(toy_language.model, train, test)
    shared = probe_by_layer(toy_language.model, train, test, properties=("arc",), cfg=cfg, inputs=inputs)
    own = probe_by_layer(toy_language.model, train, test, properties=("arc",), cfg=cfg)
    assert [(r.accuracy, r.control) for r in shared] == [(r.accuracy, r.control) for r in own]


def test_agreement_scores_count_like_the_grammar(toy_language) -> None:
    # the vectorised scores against a word-by-word reading of the grammar's rules
    model, data = toy_language.model, toy_language.test.subset(slice(0, 200))
    b, i = (data.antecedent != NO_LABEL).nonzero(as_tuple=True)
    hidden = data.tokens.clone()
    hidden[b, i] = data.vocab.mask_id
    with torch.no_grad():
        guesses = model(hidden).logits[b, i].argmax(-1).tolist()
    words = data.vocab.words
    agree = [
        words[g] in PRONOUNS and pronoun_agrees(words[g], words[n])
        for g, n in zip(guesses, data.tokens[b, data.antecedent[b, i]].tolist())
    ]
    assert pronoun_agreement(model, data) == sum(agree) / len(agree)

    scores = masked_lm_accuracy(model, data, seed=3)
    generator = torch.Generator().manual_seed(3)  # the word masked_lm_accuracy hides in each sentence
    position = 1 + (torch.rand(len(data), generator=generator) * (data.mask.sum(1) - 1)).long()
    rows = torch.arange(len(data))
    hidden = data.tokens.clone()
    hidden[rows, position] = data.vocab.mask_id
    with torch.no_grad():
        guesses = model(hidden).logits[rows, position].argmax(-1).tolist()
    verbs, pronouns = [], []
    for n, (gold, guess) in enumerate(zip(data.tokens[rows, position].tolist(), guesses)):
        word, guessed = words[gold], words[guess]
        if word in VERB_NUMBER:
            verbs.append(VERB_NUMBER.get(guessed) == VERB_NUMBER[word])
        elif word in PRONOUNS:
            noun = words[data.tokens[n, data.antecedent[n, position[n]]]]
            pronouns.append(guessed in PRONOUNS and pronoun_agrees(guessed, noun))
    assert scores["verb_agreement_accuracy"] == sum(verbs) / len(verbs)
    assert scores["pronoun_agreement_accuracy"] == sum(pronouns) / len(pronouns)
    table = agreement_table(data.vocab)
    assert (
        table[data.vocab.index["she"], data.vocab.index["queen"]]
        and not table[data.vocab.index["she"], data.vocab.index["king"]]
    )
    assert not table[data.vocab.index["queen"]].any()  # only pronouns agree with anything


def test_causal_ablation_restores_the_model(toy_language) -> None:
    test = toy_language.test.subset(slice(0, 300))
    intact = pronoun_agreement(toy_language.model, test)
    assert intact > 0.8
    effects = ablation_effects(toy_language.model, test, [(2, 1), (0, 0)])
    assert set(effects) == {None, (2, 1), (0, 0)}
    assert effects[None]["pronoun_agreement_all"] == intact
    assert pronoun_agreement(toy_language.model, test) == intact  # the hooks are gone afterwards


def test_probing_figures() -> None:
    from attnlab.plots import plot_head_map, plot_probe_accuracy

    rows = [LayerRow(m, "pos", "hidden", l, 0.5 + 0.1 * l, 0.3) for m in ("trained", "random") for l in range(3)]
    fig = plot_probe_accuracy(rows)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4
    fig = plot_head_map(torch.rand(3, 4), "coref", baseline=0.4)
    assert "40%" in fig.axes[0].get_title()
    matplotlib.pyplot.close("all")
