"""
Probes: small classifiers trained to read a property off frozen features.

- `LinearProbe`: logistic regression. On a word's vector it predicts a class (POS); on a pair's
  feature vector (e.g. the attention weights of every head between i and j) it gives the pair one
  score, and a softmax over the candidates j picks the answer (Clark et al., 2019's attention probe).
- `BilinearProbe`: the linear probe for pairs of word vectors, score(i, j) = h_i^T W h_j. (A linear
  score of the concatenation [h_i; h_j] cannot relate i to j: the h_i part is the same for every
  candidate and cancels in the softmax.) Hewitt & Liang (2019) probe edges this way.
- `MLPProbe` / `PairMLPProbe`: one hidden ReLU layer, the more powerful family.

Every probe is trained full-batch with Adam for a fixed number of steps on standardised features,
from a seeded initialisation, so the same inputs always give the same probe. `fit_probes` trains
several probes of the same shapes side by side (the lesson's probe of every layer and its control).
The linear families are trained with their gradient in closed form (`linear_fit`), the MLPs by autograd.
Accuracy is measured on a held-out split the probe never saw.

Shapes: M words asked about, C candidates per word (= T), D / F feature size, K classes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.probing.linear_fit import train_linear
from attnlab.probing.tasks import ProbingTask


@dataclass(frozen=True)
class ProbeConfig:
    kind: str = "linear"  # "linear" (bilinear for pairs of word vectors) or "mlp" (one hidden layer)
    hidden: int = 64  # width of the MLP probes' hidden layer
    steps: int = 100  # full-batch Adam steps; converged enough on every probe of the lesson
    lr: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "mlp"):
            raise ValueError(f"kind must be 'linear' or 'mlp', got {self.kind!r}")


# -----------------------------------------------------------------------------
# the probe families


class LinearProbe(nn.Module):
    """x (M, D) -> class logits (M, K); or pair features (M, C, F) -> pair scores (M, C) when n_out=1."""

    def __init__(self, d_in: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out.squeeze(-1) if out.shape[-1] == 1 else out


class MLPProbe(nn.Module):
    """Like LinearProbe with one hidden ReLU layer in between."""

    def __init__(self, d_in: int, n_out: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if out.shape[-1] == 1 else out


class BilinearProbe(nn.Module):
    """score(i, j) = h_j^T W h_i + b^T h_j: query (M, D), candidates (M, C, D) -> scores (M, C)."""

    def __init__(self, d_in: int) -> None:
        super().__init__()
        self.W = nn.Linear(d_in, d_in, bias=False)
        self.b = nn.Linear(d_in, 1, bias=False)  # how likely j is a head at all, whoever asks

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        v = self.W(query) + self.b.weight  # (M, D): score(i, j) = h_j . (W h_i + b), one product per candidate
        # Each query's scores as a (1, D) x (D, C) product: about three times faster on CPU than
        # (C, D) x (D, 1) products plus a separate product for b (many tiny matrix-vector products).
        return (v[:, None, :] @ keys.transpose(1, 2))[:, 0]  # (M, 1, D) x (M, D, C) -> (M, C)


class PairMLPProbe(nn.Module):
    """score(i, j) = w^T relu(A h_i + B h_j + c): query (M, D), candidates (M, C, D) -> scores (M, C)."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.A = nn.Linear(d_in, hidden)
        self.B = nn.Linear(d_in, hidden, bias=False)
        self.w = nn.Linear(hidden, 1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.A(query)[:, None, :] + self.B(keys))  # (M, C, hidden)
        return self.w(h)[..., 0]  # (M, C)


def make_probe(cfg: ProbeConfig, d_in: int, n_out: int, pairs_of_vectors: bool) -> nn.Module:
    if pairs_of_vectors:
        return BilinearProbe(d_in) if cfg.kind == "linear" else PairMLPProbe(d_in, cfg.hidden)
    return LinearProbe(d_in, n_out) if cfg.kind == "linear" else MLPProbe(d_in, n_out, cfg.hidden)


# -----------------------------------------------------------------------------
# from features and a task to probe inputs


@dataclass(frozen=True)
class ProbeData:
    inputs: tuple[torch.Tensor, ...]  # (x (M, D),) | (pair features (M, C, F),) | (query (M, D), keys (M, C, D))
    labels: torch.Tensor  # (M,) a class, or the index of the gold candidate
    allowed: torch.Tensor | None  # (M, C) bool for pair tasks: the candidates

    @property
    def n_features(self) -> int:
        return self.inputs[-1].shape[-1]


def probe_data(features: torch.Tensor, task: ProbingTask) -> ProbeData:
    """Gather the probe's inputs for every word the task asks about.

    features: (N, T, D) word vectors (e.g. one layer's hidden states), or (N, T, T, F) pair features
    (e.g. attention_pair_features). Pair features only make sense for pair tasks.
    """
    b, i = task.queries()  # (M,), (M,)
    labels = task.labels[b, i]
    if not task.is_pair:
        if features.dim() != 3:
            raise ValueError(f"a token task needs word vectors (N, T, D), got shape {tuple(features.shape)}")
        return ProbeData((features[b, i],), labels, None)
    allowed = task.candidates[b, i]  # (M, C)
    if features.dim() == 4:
        return ProbeData((features[b, i],), labels, allowed)  # (M, C, F)
    return ProbeData((features[b, i], features[b]), labels, allowed)  # (M, D), (M, C, D)


# -----------------------------------------------------------------------------
# training and evaluation


@dataclass
class FittedProbe:
    module: nn.Module
    mean: torch.Tensor  # (F,) feature means on the training words, subtracted before the probe
    std: torch.Tensor  # (F,)

    @torch.no_grad()
    def predict(self, data: ProbeData) -> torch.Tensor:
        """(M,) predicted class or candidate position."""
        return _scores(self.module, _standardise(data, self.mean, self.std)).argmax(-1)

    def accuracy(self, data: ProbeData) -> float:
        return (self.predict(data) == data.labels).float().mean().item()


def _feature_statistics(data: ProbeData) -> tuple[torch.Tensor, torch.Tensor]:
    """(F,) means and (F,) spreads of the features on `data`'s words: standardising makes one learning rate
    fit every layer."""
    x = data.inputs[-1]  # (M, D) words, or (M, C, F) candidates
    rows = x[data.allowed] if data.allowed is not None else x  # (rows, F): real candidates only, not padding
    return rows.mean(0), rows.std(0) + 1e-5


def _standardise(data: ProbeData, mean: torch.Tensor, std: torch.Tensor) -> ProbeData:
    return ProbeData(tuple((x - mean) / std for x in data.inputs), data.labels, data.allowed)


def _scores(module: nn.Module, data: ProbeData) -> torch.Tensor:
    scores = module(*data.inputs)  # (M, K) or (M, C)
    if data.allowed is not None:
        scores = scores.masked_fill(~data.allowed, float("-inf"))  # only candidates compete
    return scores


def fit_probe(data: ProbeData, n_classes: int = 0, cfg: ProbeConfig = ProbeConfig()) -> FittedProbe:
    """Train a probe on `data` (n_classes for token tasks; ignored for pair tasks)."""
    return fit_probes([data], n_classes, cfg)[0]


def fit_probes(data: Sequence[ProbeData], n_classes: int = 0, cfg: ProbeConfig = ProbeConfig()) -> list[FittedProbe]:
    """Train one probe per ProbeData, side by side: the probe of every layer of a model and of its control
    task, say. All must have the same shapes (the same words asked, features of the same size).

    The P probes share one training loop: their parameters are stacked (P, ...), every probe's scores
    come from its own parameters and data (batched products for the linear families, torch.func.vmap of
    the probe module for the MLPs), and the loss is the *sum* of the probes' losses, so each probe's
    gradient, and with Adam (elementwise) its every step, is the one it would get if trained alone. Only
    floating-point rounding differs. On CPU, small probes are bound by the cost of each step more than
    by arithmetic, so training them together saves most of that cost; the larger the probe, the less
    (benchmarks/bench_probing.py measures it).
    """
    if not data:
        return []
    first = data[0]
    pair = first.allowed is not None
    if not pair and n_classes < 2:
        raise ValueError(f"a token task needs n_classes >= 2, got {n_classes}")
    shapes = {(tuple(x.shape for x in d.inputs), d.labels.shape, d.allowed is None) for d in data}
    if len(shapes) > 1:
        raise ValueError(f"probes trained together need inputs of the same shapes, got {sorted(map(str, shapes))}")
    with torch.random.fork_rng():  # a seeded init that leaves the caller's random stream alone
        torch.manual_seed(cfg.seed)
        module = make_probe(cfg, first.n_features, 1 if pair else n_classes, pairs_of_vectors=len(first.inputs) == 2)
    statistics = [_feature_statistics(d) for d in data]  # each probe its own means and spreads
    standardised = [_standardise(d, *stats) for d, stats in zip(data, statistics)]  # once, not at every step
    inputs = [torch.stack(xs) for xs in zip(*(d.inputs for d in standardised))]  # each (P, M, ...)
    labels = torch.stack([d.labels for d in data])  # (P, M)
    allowed = torch.stack([d.allowed for d in data]) if pair else None  # (P, M, C)
    # every probe starts from the same seeded initialisation, as it would if trained alone
    params = {
        name: p.detach().expand(len(data), *p.shape).clone().requires_grad_() for name, p in module.named_parameters()
    }
    if cfg.kind == "linear":  # the same training with the gradient in closed form: several times faster
        params = train_linear(params, inputs, labels, allowed, cfg.steps, cfg.lr, cfg.weight_decay)
    else:
        _train_with_autograd(module, params, inputs, labels, allowed, cfg)
    fitted = []
    for k, (mean, std) in enumerate(statistics):
        own = copy.deepcopy(module).eval()
        own.load_state_dict({name: p[k].detach() for name, p in params.items()})  # probe k's trained weights
        fitted.append(FittedProbe(own, mean, std))
    return fitted


def _train_with_autograd(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    inputs: list[torch.Tensor],
    labels: torch.Tensor,
    allowed: torch.Tensor | None,
    cfg: ProbeConfig,
) -> None:
    """Full-batch Adam on the sum of the probes' mean cross-entropies, in place on the stacked `params`."""
    each_probe = torch.func.vmap(lambda own, *x: torch.func.functional_call(module, own, x))
    opt = torch.optim.Adam(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.steps):
        scores = each_probe(params, *inputs)  # (P, M, K) or (P, M, C)
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))  # only candidates compete
        loss = F.cross_entropy(scores.transpose(1, 2), labels, reduction="none").mean(1).sum()  # sum of P means
        opt.zero_grad()
        loss.backward()
        opt.step()


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float  # on the held-out words
    train_accuracy: float  # on the words it was trained on; a large gap means memorising
    probe: FittedProbe
    correct: torch.Tensor | None = None  # (M,) bool: right or wrong on each held-out word (for intervals)


Experiment = tuple[torch.Tensor, ProbingTask, torch.Tensor, ProbingTask]  # train features, task, test features, task


def train_and_evaluate(
    train_features: torch.Tensor,
    train_task: ProbingTask,
    test_features: torch.Tensor,
    test_task: ProbingTask,
    cfg: ProbeConfig = ProbeConfig(),
) -> ProbeResult:
    """Fit a probe on the training split and score it on the held-out split."""
    return train_and_evaluate_together([(train_features, train_task, test_features, test_task)], cfg)[0]


def train_and_evaluate_together(
    experiments: Sequence[Experiment], cfg: ProbeConfig = ProbeConfig()
) -> list[ProbeResult]:
    """train_and_evaluate for several experiments (train features, train task, test features, test task)
    whose probes have the same shapes, trained side by side by fit_probes."""
    n_classes = {train_task.n_classes for _, train_task, _, _ in experiments}
    if len(n_classes) > 1:
        raise ValueError(f"probes trained together need the same number of classes, got {sorted(n_classes)}")
    train = [probe_data(features, task) for features, task, _, _ in experiments]
    test = [probe_data(features, task) for _, _, features, task in experiments]
    results = []
    for probe, train_data, test_data in zip(fit_probes(train, n_classes.pop(), cfg), train, test):
        correct = probe.predict(test_data) == test_data.labels  # (M,)
        results.append(ProbeResult(correct.float().mean().item(), probe.accuracy(train_data), probe, correct))
    return results
