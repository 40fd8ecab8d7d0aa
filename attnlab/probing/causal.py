"""
From "encoded" to "used": silence a head and measure what the model's own task loses.

A probe or a single-head map says where information about a property can be read. Whether the model
needs that head is a different question, answered by an intervention (Belinkov, 2022; Elazar et al.,
2021): mask the head (attnlab.interventions.mask_heads) and re-measure the masked-LM scores.

- `pronoun_agreement`: hide every sentence's pronoun behind [MASK]; the share of sentences where the
  model's guess is a pronoun that agrees with the antecedent. Every sentence has exactly one pronoun,
  so this uses all of them (masked_lm_accuracy masks one random word and meets few pronouns).
- `masked_lm_scores`: that share and masked_lm_accuracy's three scores, the model's own task.
- `ablation_effects`: masked_lm_scores with each given head silenced.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnlab.interventions import mask_heads
from attnlab.models import TinyTransformer
from attnlab.tasks.toy_language import NO_LABEL, ToyLanguageData, agreement_table, masked_lm_accuracy


@torch.no_grad()
def pronoun_agreement(model: TinyTransformer, data: ToyLanguageData) -> float:
    """Share of sentences whose masked pronoun is filled in with a pronoun agreeing with its antecedent."""
    b, i = (data.antecedent != NO_LABEL).nonzero(as_tuple=True)  # one pronoun per sentence
    tokens = data.tokens.clone()
    tokens[b, i] = data.vocab.mask_id
    guess = model(tokens).logits[b, i].argmax(-1)  # (M,)
    nouns = data.tokens[b, data.antecedent[b, i]]  # (M,) the antecedents' ids
    hits = agreement_table(data.vocab)[guess, nouns]  # (M,) a pronoun that agrees with the antecedent
    return int(hits.sum()) / max(len(hits), 1)


def masked_lm_scores(model: TinyTransformer, data: ToyLanguageData) -> dict[str, float]:
    """The model's own task, scored: every pronoun masked, plus masked_lm_accuracy's three scores."""
    return {"pronoun_agreement_all": pronoun_agreement(model, data), **masked_lm_accuracy(model, data)}


def ablation_effects(
    model: TinyTransformer, data: ToyLanguageData, heads: Sequence[tuple[int, int]]
) -> dict[tuple[int, int] | None, dict[str, float]]:
    """{None: scores of the intact model, (layer, head): scores with that one head silenced}."""
    results: dict[tuple[int, int] | None, dict[str, float]] = {None: masked_lm_scores(model, data)}
    for layer, head in heads:
        with mask_heads(model, {layer: [head]}):
            results[(layer, head)] = masked_lm_scores(model, data)
    return results
