"""
Adversarial attention (Jain & Wallace 2019): for each example, search for a [CLS] attention row as
*different* from the original as possible while the output stays (almost) the same.

    maximise   JSD(a', a)                      a' = softmax(theta) over the real tokens, per head
    subject to |p(y | a') - p(y | a)| <= tolerance

Optimised by Adam on theta with the penalty `-JSD + penalty * relu(|delta p| - tolerance)`, from
log-uniform plus N(0, init_std^2) noise, as in the paper's code (lr 0.01, penalty 500). The result is
the highest-JSD row *seen during the search that met the tolerance*; the original row (JSD 0) counts
as a candidate, so every returned row keeps the output within the tolerance. Every step runs the
model's own forward pass with the row put in by `replace_attention` (the model's hook points).

JSD uses natural logs (maximum ln 2 ~ 0.693) and is averaged over the heads of the chosen layer.
Only the [CLS] row of that layer is replaced; in the last layer it is the only row the classifier reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnlab.adam import adam_state, adam_step
from attnlab.faithfulness.scores import require_classifier
from attnlab.interventions import replace_attention
from attnlab.models import TinyTransformer

EPS = 1e-10


def jensen_shannon(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JSD between distributions on the last dim (natural log; 0 <= JSD <= ln 2). Returns p.shape[:-1]."""
    if p.shape != q.shape:
        raise ValueError(f"distributions of different shapes: {tuple(p.shape)} and {tuple(q.shape)}")
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * ((a + EPS).log() - (b + EPS).log())).sum(-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


@dataclass(frozen=True)
class AdversaryConfig:
    steps: int = 300
    lr: float = 0.01
    tolerance: float = 0.01  # largest allowed |delta p(y)| (the paper's epsilon for classification)
    penalty: float = 500.0
    init_std: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.tolerance < 0 or self.penalty < 0 or self.init_std < 0:
            raise ValueError(f"invalid adversary config: {self}")


@dataclass
class AdversarialAttention:
    original: torch.Tensor  # (B, H, T) the [CLS] rows of the chosen layer
    adversarial: torch.Tensor  # (B, H, T) the most different rows found within the tolerance
    jsd: torch.Tensor  # (B,) head-mean JSD between the two
    output_change: torch.Tensor  # (B,) |delta p(y)| under the adversarial rows (<= tolerance)
    flipped: torch.Tensor  # (B,) bool: predicted class changed (possible only near p = 0.5)


def _run_with_row(model, tokens, pattern, row, layer, position) -> torch.Tensor:
    """(B, C) probabilities with the [CLS] row of `layer` replaced. pattern (B, H, T, T), row (B, H, T)."""
    given = pattern.clone()
    given[:, :, position] = row
    with replace_attention(model, "given", layers=[layer], attention=given):
        return model(tokens).logits.softmax(-1)


def adversarial_attention(
    model: TinyTransformer,
    tokens: torch.Tensor,
    cfg: AdversaryConfig = AdversaryConfig(),
    layer: int = -1,
    position: int = 0,
) -> AdversarialAttention:
    """Search, for every example of the batch at once, the adversarial [CLS] row of one layer."""
    require_classifier(model)
    (layer,) = model.cfg.layer_indices([layer])
    if model.cfg.causal:
        raise ValueError("adversarial attention is defined here for a bidirectional (non-causal) classifier")
    with torch.no_grad():
        out = model(tokens)
    pattern = out.attention_list[layer].detach()  # (B, H, T, T)
    original = pattern[:, :, position]  # (B, H, T)
    p0 = out.logits.softmax(-1)  # (B, C)
    y = p0.argmax(-1)  # (B,)
    p0y = p0.gather(1, y[:, None])[:, 0]  # (B,)
    keys = out.mask[:, None, :].expand_as(original)  # (B, H, T) real tokens

    generator = torch.Generator().manual_seed(cfg.seed)
    uniform = keys.float() / keys.float().sum(-1, keepdim=True)
    theta = (uniform + EPS).log() + cfg.init_std * torch.randn(original.shape, generator=generator)
    theta.requires_grad_(True)
    state = adam_state(theta, amsgrad=True)  # torch.optim.Adam(amsgrad=True), written out (attnlab.adam)

    best, best_jsd = original.clone(), torch.zeros(len(tokens))
    best_change = torch.zeros(len(tokens))
    for _ in range(cfg.steps):
        row = theta.masked_fill(~keys, float("-inf")).softmax(-1)  # (B, H, T)
        probs = _run_with_row(model, tokens, pattern, row, layer, position)  # (B, C)
        change = (probs.gather(1, y[:, None])[:, 0] - p0y).abs()  # (B,)
        jsd = jensen_shannon(row, original).mean(1)  # (B,)
        with torch.no_grad():  # keep the best row that met the tolerance
            better = (change <= cfg.tolerance) & (jsd > best_jsd)
            best[better], best_jsd[better], best_change[better] = (
                row[better].detach(),
                jsd[better].detach(),
                change[better].detach(),
            )
        loss = (-jsd + cfg.penalty * F.relu(change - cfg.tolerance)).sum()
        (grad,) = torch.autograd.grad(loss, [theta])
        adam_step(theta, grad, state, cfg.lr)

    with torch.no_grad():
        final = _run_with_row(model, tokens, pattern, best, layer, position)
    return AdversarialAttention(
        original=original,
        adversarial=best,
        jsd=best_jsd,
        output_change=best_change,
        flipped=final.argmax(-1) != y,
    )
