"""
What every faithfulness metric of this package takes: a [CLS] classifier, and scores given either as
a (B, T) tensor or as an attribution method (attnlab.attribution) that computes them for the class
the model predicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from attnlab.attribution.base import Attribution
from attnlab.models import TinyTransformer, require_model

Scores = torch.Tensor | Attribution  # a (B, T) tensor, or a method that computes one


def require_classifier(model: TinyTransformer) -> None:
    require_model(model)
    if model.cfg.head != "cls":
        raise ValueError("faithfulness metrics explain a [CLS] classifier (head='cls'), not a token head")


def scores_of(
    method: Scores, model: TinyTransformer, tokens: torch.Tensor, predicted: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, T) detached scores: a given tensor (checked), or `method.attribute(tokens)` for the predicted class.
    predicted: (B,) the classes the model predicts on `tokens`, when the caller already has them."""
    if isinstance(method, Attribution):
        if method.model is not model:
            raise ValueError(f"{method.name} explains a different model than the one being tested")
        scores = method.attribute(tokens, target=predicted)
    elif isinstance(method, torch.Tensor):
        scores = method
    else:
        raise TypeError(f"scores must be a (B, T) tensor or an Attribution, got {type(method).__name__}")
    if scores.shape != tokens.shape:
        raise ValueError(f"scores have shape {tuple(scores.shape)}, expected {tuple(tokens.shape)} like the tokens")
    return scores.detach().float()


def named_scores(methods: Mapping[str, Scores] | Sequence[Attribution]) -> dict[str, Scores]:
    """{name: method} from a dict, or from a list of Attribution objects (named by their .name)."""
    if isinstance(methods, Mapping):
        return dict(methods)
    named: dict[str, Scores] = {}
    for m in methods:
        if not isinstance(m, Attribution):
            raise TypeError(
                f"a list of methods must hold Attribution objects, got {type(m).__name__}; use a dict for tensors"
            )
        if m.name in named:
            raise ValueError(f"two methods are named {m.name!r}; pass a dict to name them apart")
        named[m.name] = m
    return named
