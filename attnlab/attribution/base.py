"""
The one API every attribution method shares, after captum's `attribute()`:

    scores = Method(model, **options).attribute(tokens, target=None, mask=None, position=0)   # (B, T)

- tokens: (B, T) token ids with [CLS] at position 0; mask: (B, T) bool, True on real tokens
  (default: tokens != [PAD]). Padding positions always get score 0.
- target: the class whose logit is explained: None (the model's prediction), an int, or a (B,) tensor.
- position: the query row read by attention-based methods (0 = [CLS]); for a head="token" model it is
  also the position whose logit is explained.
- Methods with a conservation property (LRP, integrated gradients) also return their convergence
  delta with `return_convergence_delta=True`: (scores, delta), delta of shape (B,).

A subclass implements `_attribute(tokens, target, mask, position) -> (B, T)` (or (scores, delta)) and
sets `name`. Batched: one call handles the whole batch, and a batch gives the same scores as one
example at a time.
"""

from __future__ import annotations

import torch

from attnlab.models import TinyTransformer, TransformerOutput, n_outputs, require_model


class Attribution:
    name = "attribution"
    has_convergence_delta = False
    reads_attention_row = False  # True: the scores are the query row `position` of attention (or its rollout)

    def __init__(self, model: TinyTransformer) -> None:
        require_model(model)
        self.model = model

    def attribute(
        self,
        tokens: torch.Tensor,
        target: int | torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        position: int = 0,
        return_convergence_delta: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        self.model.validate_tokens(tokens)
        if mask is None:
            mask = tokens != self.model.cfg.pad_id
        if mask.shape != tokens.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match tokens shape {tuple(tokens.shape)}")
        if not 0 <= position < tokens.shape[1]:
            raise ValueError(f"position {position} is outside the {tokens.shape[1]} tokens")
        if return_convergence_delta and not self.has_convergence_delta:
            raise ValueError(f"{self.name} has no convergence delta")
        mask = mask.bool()
        if self.reads_attention_row:
            check_readout_row(self.model, mask, position)
        target = resolve_target(self.model, tokens, mask, target, position)
        result = self._attribute(tokens, target, mask, position)
        scores, delta = result if isinstance(result, tuple) else (result, None)
        scores = scores.masked_fill(~mask, 0.0)
        return (scores, delta) if return_convergence_delta else scores

    def _attribute(
        self, tokens: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, position: int
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def check_readout_row(model: TinyTransformer, mask: torch.Tensor, position: int) -> None:
    """A classifier that reads another row than `position` (a causal model reads each sentence's last
    token) would be explained from a row its decision never used: refused, with the row to pass."""
    readout_positions = getattr(model, "readout_positions", None)
    if model.cfg.head != "cls" or readout_positions is None:
        return
    rows = readout_positions(mask)  # (B,)
    if not bool((rows == position).all()):
        wanted = sorted({int(r) for r in rows})
        raise ValueError(
            f"this model classifies from position {wanted[0] if len(wanted) == 1 else wanted}, not {position}: "
            "pass that position= (attention is read at one row for the whole batch, so a causal model's "
            "sentences must be of one length)"
        )


def resolve_target(
    model: TinyTransformer, tokens: torch.Tensor, mask: torch.Tensor, target: int | torch.Tensor | None, position: int
) -> torch.Tensor:
    """None -> the model's predicted class; int -> the same class for every example. Returns (B,) long."""
    B = tokens.shape[0]
    if target is None:
        with torch.no_grad():
            return explained_logits(model, model(tokens, mask), position).argmax(-1)
    if isinstance(target, int):
        target = torch.full((B,), target, dtype=torch.long)
    if target.shape != (B,):
        raise ValueError(f"target must be an int or a tensor of shape ({B},), got shape {tuple(target.shape)}")
    n_out = n_outputs(model)
    if int(target.min()) < 0 or int(target.max()) >= n_out:
        raise ValueError(f"target class out of range: the model has {n_out} outputs")
    return target.long()


def explained_logits(model: TinyTransformer, out: TransformerOutput, position: int = 0) -> torch.Tensor:
    """The (B, n_outputs) logits being explained: the [CLS] head, or the token head at `position`."""
    return out.logits if model.cfg.head == "cls" else out.logits[:, position]


def target_logit(
    model: TinyTransformer, out: TransformerOutput, target: torch.Tensor, position: int = 0
) -> torch.Tensor:
    """(B,) logit of each example's target class."""
    return explained_logits(model, out, position).gather(1, target[:, None]).squeeze(1)
