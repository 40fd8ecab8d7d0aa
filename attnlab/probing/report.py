"""
Probe every layer of a model for every property, with its control task, and print the table.

`probe_by_layer` is the whole experiment of the probing lesson in one call:
1. features: hidden states of every layer (or attention pair features, layer by layer);
2. tasks: POS, dependency arcs, coreference from the gold annotations, each with its control task;
3. a probe per (property, layer) for the task and for the control, trained on `train`, scored on `test`.

masked=True asks about a word the model cannot see: the word (for coreference: the pronoun) is replaced
by [MASK] before the forward pass, so its representation only holds what the context says about it.
masked=False probes the visible words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from attnlab.models import TinyTransformer
from attnlab.probing.features import ModelFeatures, attention_pair_features, attention_token_features, extract_features
from attnlab.probing.probes import ProbeConfig, train_and_evaluate
from attnlab.probing.tasks import (
    NO_LABEL,
    antecedent_class_distribution,
    only_at,
    pos_distribution,
    probing_tasks,
)
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

    @property
    def selectivity(self) -> float:
        """Hewitt & Liang (2019): task accuracy minus control accuracy."""
        return self.accuracy - self.control


def selectivity(task_accuracy: float, control_accuracy: float) -> float:
    return task_accuracy - control_accuracy


def _inputs(model: TinyTransformer, data: ToyLanguageData, masked: bool, seed: int):
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
) -> list[LayerRow]:
    """One LayerRow per (property, layer): task and control accuracy of a probe trained on `train`."""
    if features not in ("hidden", "attention"):
        raise ValueError(f"features must be 'hidden' or 'attention', got {features!r}")
    probs = pos_distribution(train), antecedent_class_distribution(train)  # one control distribution for both splits
    tasks = {"train": probing_tasks(train, seed, *probs), "test": probing_tasks(test, seed, *probs)}
    feats, where = {}, {}
    feats["train"], where["train"] = _inputs(model, train, masked, seed)
    feats["test"], where["test"] = _inputs(model, test, masked, seed + 1)
    rows = []
    for prop in properties:
        n_layers = feats["train"][prop].n_layers + (1 if features == "hidden" else 0)
        for layer in range(n_layers):
            pair = tasks["train"][prop][0].is_pair
            x = {s: _layer_features(feats[s][prop], features, layer, pair) for s in ("train", "test")}
            task, control = ({s: only_at(tasks[s][prop][k], where[s][prop]) for s in ("train", "test")} for k in (0, 1))
            acc = train_and_evaluate(x["train"], task["train"], x["test"], task["test"], cfg)
            ctl = train_and_evaluate(x["train"], control["train"], x["test"], control["test"], cfg)
            rows.append(LayerRow(name, prop, features, layer, acc.accuracy, ctl.accuracy, acc.correct, ctl.correct))
    return rows


def _layer_features(features: ModelFeatures, kind: str, layer: int, pair: bool) -> torch.Tensor:
    if kind == "hidden":
        return features.hidden[layer]  # (N, T, D)
    if pair:
        return attention_pair_features(features.attentions, [layer])  # (N, T, T, 2H)
    return attention_token_features(features.attentions, [layer])  # (N, T, 16H): to and from neighbours, [CLS]


def format_table(rows: list[LayerRow]) -> str:
    """A plain-text table: one line per (property, features, layer), one column group per model."""
    models = list(dict.fromkeys(r.model for r in rows))
    keys = list(dict.fromkeys((r.property, r.features, r.layer) for r in rows))
    by_key = {(r.model, r.property, r.features, r.layer): r for r in rows}
    head = f"{'property':<8} {'features':<9} {'layer':>5}" + "".join(
        f" | {m + ': probe  control  select.':>33}" for m in models
    )
    lines = [head, "-" * len(head)]
    for prop, kind, layer in keys:
        line = f"{prop:<8} {kind:<9} {layer:>5}"
        for m in models:
            r = by_key.get((m, prop, kind, layer))
            line += " | " + (f"{r.accuracy:>16.1%} {r.control:>8.1%} {r.selectivity:>+8.1%}" if r else " " * 33)
        lines.append(line)
    return "\n".join(lines)
