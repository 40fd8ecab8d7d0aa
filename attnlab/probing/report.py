"""
Probe every layer of a model for every property, with its control task, and print the table.

`probe_by_layer` is the whole experiment of the probing lesson in one call:
1. features: hidden states of every layer (or attention pair features, layer by layer);
2. tasks: POS, dependency arcs, coreference from the gold annotations, each with its control task;
3. a probe per (property, layer) for the task and for the control, trained on `train`, scored on `test`.

masked=True asks about a word the model cannot see: the word (for coreference: the pronoun) is replaced
by [MASK] before the forward pass, so its representation only holds what the context says about it.
masked=False probes the visible words. `probe_inputs` runs the model once for both splits; pass its
result to several probe_by_layer calls (hidden states, then attention) to run the model only once.

`format_table` prints the rows with 95% intervals (seeded bootstrap, attnlab.stats, resampling whole
test sentences: the words of one sentence are not independent, so treating them as such would make
the intervals of visible-word probes too narrow); `format_comparison` sets two models side by side
with the paired interval of their difference, both probed on the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from attnlab.models import TinyTransformer
from attnlab.probing.features import ModelFeatures, attention_pair_features, attention_token_features, extract_features
from attnlab.probing.probes import ProbeConfig, train_and_evaluate_together
from attnlab.probing.tasks import (
    NO_LABEL,
    antecedent_class_distribution,
    only_at,
    pos_distribution,
    probing_tasks,
)
from attnlab.stats import Interval, bootstrap
from attnlab.tasks.base import mask_one_word
from attnlab.tasks.toy_language import ToyLanguageData

PROPERTIES = ("pos", "arc", "coref")


@dataclass(frozen=True)
class LayerRow:
    model: str  # e.g. "trained" or "random"
    property: str  # "pos", "arc" or "coref"
    features: str  # "hidden" (hidden states) or "attention" (attention weights of one layer, both directions)
    # (pair tasks: the weights between i and j; POS: the word's weights to and from its neighbours and [CLS])
    layer: int  # hidden: 0 = embeddings, l = output of block l-1; attention: the block
    accuracy: float  # held-out accuracy on the task
    control: float  # held-out accuracy of the same probe family on the control task
    correct: torch.Tensor | None = field(default=None, compare=False, repr=False)  # (M,) task, per held-out word
    control_correct: torch.Tensor | None = field(default=None, compare=False, repr=False)  # (M,) control
    sentence: torch.Tensor | None = field(default=None, compare=False, repr=False)  # (M,) each word's test sentence

    @property
    def selectivity(self) -> float:
        """Hewitt & Liang (2019): task accuracy minus control accuracy."""
        return self.accuracy - self.control


def selectivity(task_accuracy: float, control_accuracy: float) -> float:
    return task_accuracy - control_accuracy


@dataclass(frozen=True)
class ProbeInputs:
    """What probe_by_layer reads of one model, per split ("train", "test") and property: the model's
    features and where the property is asked ((N, T) bool)."""

    features: dict[str, dict[str, ModelFeatures]]
    where: dict[str, dict[str, torch.Tensor]]


def _split_inputs(model: TinyTransformer, data: ToyLanguageData, masked: bool, seed: int):
    """Features and where each property is asked: (features per property, where (N, T) per property)."""
    if not masked:
        features = extract_features(model, data.tokens)
        return {p: features for p in PROPERTIES}, {p: data.mask for p in PROPERTIES}
    tokens, where = mask_one_word(data, seed)  # POS and arcs: a random word is hidden
    pronoun = data.antecedent != NO_LABEL  # coreference: the pronoun is hidden
    random_word = extract_features(model, tokens)
    hidden_pronoun = extract_features(model, data.tokens.masked_fill(pronoun, data.vocab.mask_id))
    return {"pos": random_word, "arc": random_word, "coref": hidden_pronoun}, {
        "pos": where,
        "arc": where,
        "coref": pronoun,
    }


def probe_inputs(
    model: TinyTransformer, train: ToyLanguageData, test: ToyLanguageData, masked: bool = True, seed: int = 0
) -> ProbeInputs:
    """The model run once on both splits. masked: one random word per sentence hidden
    (mask_one_word(train, seed), mask_one_word(test, seed + 1)), and, in another pass, every pronoun."""
    train_features, train_where = _split_inputs(model, train, masked, seed)
    test_features, test_where = _split_inputs(model, test, masked, seed + 1)
    return ProbeInputs({"train": train_features, "test": test_features}, {"train": train_where, "test": test_where})


def probe_by_layer(
    model: TinyTransformer,
    train: ToyLanguageData,
    test: ToyLanguageData,
    name: str = "trained",
    properties: tuple[str, ...] = PROPERTIES,
    features: str = "hidden",
    masked: bool = True,
    cfg: ProbeConfig = ProbeConfig(),
    seed: int = 0,
    inputs: ProbeInputs | None = None,
) -> list[LayerRow]:
    """One LayerRow per (property, layer): task and control accuracy of a probe trained on `train`.

    inputs: probe_inputs(model, train, test, masked, seed), when it was already computed.
    """
    if features not in ("hidden", "attention"):
        raise ValueError(f"features must be 'hidden' or 'attention', got {features!r}")
    probs = pos_distribution(train), antecedent_class_distribution(train)  # one control distribution for both splits
    tasks = {"train": probing_tasks(train, seed, *probs), "test": probing_tasks(test, seed, *probs)}
    inputs = probe_inputs(model, train, test, masked, seed) if inputs is None else inputs
    feats, where = inputs.features, inputs.where
    rows = []
    for prop in properties:
        n_layers = feats["train"][prop].n_layers + (1 if features == "hidden" else 0)
        pair = tasks["train"][prop][0].is_pair
        task, control = ({s: only_at(tasks[s][prop][k], where[s][prop]) for s in ("train", "test")} for k in (0, 1))
        experiments = []  # per layer: the task, then its control, on the same features
        for layer in range(n_layers):
            x = {s: _layer_features(feats[s][prop], features, layer, pair) for s in ("train", "test")}
            experiments += [(x["train"], t["train"], x["test"], t["test"]) for t in (task, control)]
        results = train_and_evaluate_together(experiments, cfg)  # every layer's probes in one training loop
        sentence = task["test"].queries()[0]  # (M,) the clusters the intervals resample
        for layer, (acc, ctl) in enumerate(zip(results[0::2], results[1::2])):
            rows.append(
                LayerRow(name, prop, features, layer, acc.accuracy, ctl.accuracy, acc.correct, ctl.correct, sentence)
            )
    return rows


def _layer_features(features: ModelFeatures, kind: str, layer: int, pair: bool) -> torch.Tensor:
    if kind == "hidden":
        return features.hidden[layer]  # (N, T, D)
    if pair:
        return attention_pair_features(features.attentions, [layer])  # (N, T, T, 2H)
    return attention_token_features(features.attentions, [layer])  # (N, T, 16H): to and from neighbours, [CLS]


def _intervals(row: LayerRow) -> tuple[Interval, Interval, Interval] | None:
    """95% intervals of a row's probe accuracy, control accuracy and selectivity (paired: the task and its
    control are asked on the same words), resampling whole sentences when the row knows them; None for a
    row without per-word results."""
    if row.correct is None or row.control_correct is None:
        return None
    task, control = row.correct.float(), row.control_correct.float()
    groups = _groups(row)
    return bootstrap(task, groups=groups), bootstrap(control, groups=groups), bootstrap(task, control, groups=groups)


def _groups(row: LayerRow) -> torch.Tensor | None:
    """The sentence of each of the row's words, if the row carries them for exactly its words."""
    if row.sentence is None or row.correct is None or row.sentence.shape != row.correct.shape:
        return None
    return row.sentence


def format_table(rows: list[LayerRow]) -> str:
    """A plain-text table, one line per (property, features, layer) and model: held-out accuracy of the
    probe and of its control task, and the selectivity, each with its 95% interval when the rows carry
    per-word results (seeded bootstrap over the held-out sentences)."""
    head = (
        f"{'property':<8} {'features':<9} {'layer':>5}  {'model':<8} {'probe [95% interval]':>24}"
        f" {'control [95% interval]':>24} {'selectivity [95% interval]':>27}"
    )
    lines = [head, "-" * len(head)]
    groups = list(dict.fromkeys((r.property, r.features) for r in rows))  # in the order they first appear
    for r in sorted(rows, key=lambda r: (groups.index((r.property, r.features)), r.layer)):
        line = f"{r.property:<8} {r.features:<9} {r.layer:>5}  {r.model:<8}"
        intervals = _intervals(r)
        if intervals is None:
            line += f" {r.accuracy:>24.1%} {r.control:>24.1%} {r.selectivity:>+27.1%}"
        else:
            probe, control, select = intervals
            line += f" {probe.pct():>24} {control.pct():>24} {select.format('+.1f', 100, '%'):>27}"
        lines.append(line)
    return "\n".join(lines)


def model_difference(first: LayerRow, second: LayerRow) -> Interval:
    """Paired 95% interval of first.accuracy - second.accuracy: two probes scored on the same held-out words
    (whole sentences resampled when the rows know them)."""
    if first.correct is None or second.correct is None or first.correct.shape != second.correct.shape:
        raise ValueError("a paired difference needs both rows' per-word results, on the same held-out words")
    return bootstrap(first.correct.float(), second.correct.float(), groups=_groups(first))


def format_comparison(rows: list[LayerRow], first: str = "trained", second: str = "random") -> str:
    """One line per (property, features, layer): the probe accuracy on two models and the paired 95%
    interval of their difference (both probed on the same held-out words)."""
    by_key = {(r.model, r.property, r.features, r.layer): r for r in rows}
    title = f"{first} minus {second} [95% interval]"
    head = f"{'property':<8} {'features':<9} {'layer':>5} {first:>9} {second:>9} {title:>34}"
    lines = [head, "-" * len(head)]
    for (model, prop, kind, layer), a in by_key.items():
        b = by_key.get((second, prop, kind, layer))
        if model == first and b is not None:
            gap = model_difference(a, b).format("+.1f", 100, "%")
            lines.append(f"{prop:<8} {kind:<9} {layer:>5} {a.accuracy:>9.1%} {b.accuracy:>9.1%} {gap:>34}")
    return "\n".join(lines)
