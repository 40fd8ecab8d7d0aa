"""
attnlab's methods on other libraries' transformers: the same calls as on the course's TinyTransformer.

    from attnlab.external import from_hf, from_tl, load_hf
    model = from_hf(hf_model)                       # a transformers model already in memory
    model = load_hf("path/to/saved/folder")         # one saved with save_pretrained, loaded offline
    model = from_tl(tl_model)                       # a TransformerLens model (HookedTransformer, TransformerBridge)
    scores = Rollout(model).attribute(tokens)       # every attribution method, metric and patching kind

Supported: GPT-2 (GPT2LMHeadModel, GPT2ForSequenceClassification, GPT2ForTokenClassification) and BERT
(BertForSequenceClassification, BertForMaskedLM) from Hugging Face `transformers`, the optional extra
`pip install .[realmodels]`; TransformerLens-style models (TL 3's HookedTransformer, TL 4's
TransformerBridge) through the extra `pip install .[transformerlens]`. Nothing here imports either library
until a model is wrapped, so the course imports every module without the extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnlab.external.hf import HFTransformer
    from attnlab.external.tl import TLTransformer


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


def require_transformer_lens() -> None:
    """An ImportError that says how to install the extra, where transformer_lens is missing."""
    try:
        import transformer_lens  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "using attnlab on TransformerLens models needs the optional extra: pip install '.[transformerlens]' "
            "(in the course's folder), which installs transformer-lens"
        ) from error


def from_tl(model, **options) -> TLTransformer:
    """Wrap a TransformerLens-style model; options (head, readout, pad_id, baseline_id): see
    attnlab.external.tl.TLTransformer."""
    require_transformer_lens()
    from attnlab.external.tl import TLTransformer

    return TLTransformer(model, **options)
