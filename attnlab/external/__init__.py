"""
attnlab's methods on other libraries' transformers: the same calls as on the course's TinyTransformer.

    from attnlab.external import from_hf, load_hf
    model = from_hf(hf_model)                       # a transformers model already in memory
    model = load_hf("path/to/saved/folder")         # one saved with save_pretrained, loaded offline
    scores = Rollout(model).attribute(tokens)       # every attribution method, metric and patching kind

Supported: GPT-2 (GPT2LMHeadModel, GPT2ForSequenceClassification, GPT2ForTokenClassification) and BERT
(BertForSequenceClassification, BertForMaskedLM) from Hugging Face `transformers`, the optional extra
`pip install .[realmodels]`. Nothing here imports transformers until a model is wrapped, so the course
imports every module without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnlab.external.hf import HFTransformer


def require_transformers() -> None:
    """An ImportError that says how to install the extra, where transformers is missing."""
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "using attnlab on Hugging Face models needs the optional extra: pip install '.[realmodels]' "
            "(in the course's folder), which installs transformers"
        ) from error


def from_hf(model, **options) -> HFTransformer:
    """Wrap a Hugging Face transformers model; options: see attnlab.external.hf.HFTransformer."""
    require_transformers()
    from attnlab.external.hf import HFTransformer

    return HFTransformer(model, **options)


def load_hf(folder, **options) -> HFTransformer:
    """Load a model saved with `save_pretrained(folder)`, offline, and wrap it (see attnlab.external.hf.load)."""
    require_transformers()
    from attnlab.external.hf import load

    return load(folder, **options)
