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

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnlab.external.hf import HFTransformer
    from attnlab.external.tl import TLTransformer


# extra -> (the module it provides, the package pip installs, the models it is for)
EXTRAS = {
    "realmodels": ("transformers", "transformers", "Hugging Face models"),
    "transformerlens": ("transformer_lens", "transformer-lens", "TransformerLens models"),
}


def require_extra(extra: str) -> None:
    """An ImportError that says how to install the optional extra `extra`, where its library is missing."""
    module, package, models = EXTRAS[extra]
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"using attnlab on {models} needs the optional extra: pip install '.[{extra}]' "
            f"(in the course's folder), which installs {package}"
        ) from error


def from_hf(model, **options) -> HFTransformer:
    """Wrap a Hugging Face transformers model; options: see attnlab.external.hf.HFTransformer."""
    require_extra("realmodels")
    from attnlab.external.hf import HFTransformer

    return HFTransformer(model, **options)


def load_hf(folder, **options) -> HFTransformer:
    """Load a model saved with `save_pretrained(folder)`, offline, and wrap it (see attnlab.external.hf.load)."""
    require_extra("realmodels")
    from attnlab.external.hf import load

    return load(folder, **options)


def from_tl(model, **options) -> TLTransformer:
    """Wrap a TransformerLens-style model; options (head, readout, pad_id, baseline_id): see
    attnlab.external.tl.TLTransformer."""
    require_extra("transformerlens")
    from attnlab.external.tl import TLTransformer

    return TLTransformer(model, **options)
