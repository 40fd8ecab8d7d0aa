"""
The checkpoint cache of the course's models. Where a model comes from (`cached_model`), first match wins:
1. the course's checkpoints, shipped in attnlab/checkpoints/ (made by this code: `make checkpoints`);
2. your cache, $ATTNLAB_CACHE_DIR or ~/.cache/attnlab;
3. training it now (seconds to a minute), then storing it in your cache.
Set ATTNLAB_CHECKPOINTS=own to skip the shipped checkpoints and train every model yourself.

A file's name is a hash of everything that determines the weights: the model and training configs,
the variant's settings, and the data itself (every tensor of both splits and the vocabulary's
words), so a changed data generator or vocabulary never loads weights trained on the old data.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from attnlab import settings
from attnlab.models import TinyTransformer, TinyTransformerConfig
from attnlab.tasks.base import TokenDataset
from attnlab.tasks.multihop import MultihopData
from attnlab.tasks.rationale import RationaleData
from attnlab.tasks.toy_language import ToyLanguageData
from attnlab.train import one_thread

CACHE_FORMAT = 3  # bump when training code changes what a config produces: old cache entries are then ignored
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"  # the course's trained models (package data)


@dataclass
class TrainedModel:
    model: TinyTransformer  # or a Hugging Face model behind the adapter (attnlab.external), lesson 06's
    train: RationaleData | ToyLanguageData | MultihopData
    test: RationaleData | ToyLanguageData | MultihopData
    metrics: dict  # held-out figures, measured when it was trained (stored with the weights)
    source: str  # "shipped" (the course's checkpoint), "cache" (yours) or "trained" (just now)
    train_seconds: float | None = None  # when trained just now

    @property
    def from_cache(self) -> bool:
        """Loaded rather than trained in this call."""
        return self.source != "trained"

    def summary(self) -> str:
        acc = ", ".join(f"{k} {v:.1%}" for k, v in self.metrics.items() if k.endswith("accuracy"))
        how = {"shipped": "shipped with the course", "cache": "from your cache"}.get(self.source)
        if how is None:
            how = f"trained in {self.train_seconds:.1f} s"
        return f"{how}; held-out {acc}"


def data_fingerprint(*datasets: TokenDataset) -> str:
    """sha256 of the data sets as the model sees them: every tensor (name, dtype, shape, values) and
    the vocabulary's words. Any change to a generator or a vocabulary changes it."""
    digest = hashlib.sha256()
    for data in datasets:
        digest.update(json.dumps(data.vocab.words).encode())
        for f in fields(data):
            value = getattr(data, f.name)
            if isinstance(value, torch.Tensor):
                digest.update(f"{f.name} {value.dtype} {tuple(value.shape)}".encode())
                digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


def checkpoint_name(name: str, key: dict) -> str:
    """The file name of a trained model: `name`, then a hash of its key and of the cache format."""
    digest = hashlib.sha256(json.dumps({**key, "format": CACHE_FORMAT}, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}-{digest}.pt"


def _load(path: Path, model: nn.Module) -> dict | None:
    """The metrics stored with the weights, after loading them into `model`; None if there is no usable file."""
    try:
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return json.loads(saved["metrics"])
    except FileNotFoundError:
        return None
    except Exception as error:  # a cut or corrupt file: say so, and look further
        print(f"checkpoint {path} unreadable ({type(error).__name__}); not used")
        return None


def cached_model(
    name: str,
    key: dict,
    cfg: TinyTransformerConfig | dict,
    train: TokenDataset,
    test: TokenDataset,
    build: Callable[[TinyTransformer], dict],
    new_model: Callable[[], nn.Module] | None = None,
) -> TrainedModel:
    """The trained model for `key`: a shipped checkpoint, else your cache, else `build(model) -> metrics`
    trains it now (on one thread, torch seeded with key["seed"]) and it is stored in your cache.
    The file holds the weights and the metrics only (no timings), so training the same model again
    writes the same bytes.

    key: the settings that determine the weights besides the data (JSON-serialisable: seeds, training
    config, variant); the model config and a fingerprint of train and test are added to it here. A
    missing or corrupt file is never a crash: the next source is tried.

    new_model: builds the untrained model when it is not TinyTransformer(cfg) (lesson 06's Hugging Face
    model behind the adapter); cfg is then a dict of everything that defines its architecture.
    """
    described = cfg.to_dict() if isinstance(cfg, TinyTransformerConfig) else cfg
    file = checkpoint_name(name, {**key, "model": described, "data": data_fingerprint(train, test)})
    new_model = new_model or (lambda: TinyTransformer(cfg))
    model = new_model()
    sources = [("shipped", SHIPPED_DIR / file)] if settings.use_shipped_checkpoints() else []
    sources += [("cache", settings.cache_dir() / file)]
    for source, path in sources:
        metrics = _load(path, model)
        if metrics is not None:
            return TrainedModel(model.eval(), train, test, metrics, source)
    torch.manual_seed(key.get("seed", 0))
    model = new_model()
    start = time.perf_counter()
    with one_thread():
        metrics = build(model)
    seconds = time.perf_counter() - start
    path = settings.cache_dir() / file
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "metrics": json.dumps(metrics)}, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    except OSError as error:  # a read-only cache (the grader's sandbox): the model is trained all the same
        print(f"note: could not store {file} in {path.parent} ({error.strerror}); it will be trained again next time")
    return TrainedModel(model.eval(), train, test, metrics, "trained", seconds)
