"""
Activation patching: which components *cause* a behaviour, found by intervening on the hook points.

- sites.py:        where to patch: the residual stream per (layer, position), a head's output per
                   (layer, head), its q, k or v per (layer, head, position)
- metrics.py:      what to measure: logit difference, probability
- activation.py:   activation_patching, batched over sites (Meng et al., 2022; Wang et al., 2023);
                   patch_together, several positions at once
- ablation.py:     zero, mean and resample ablation (Heimersheim & Nanda, 2024)
- path.py:         path patching from sender heads through a receiver head's q, k or v (Wang et al., 2023)
- attribution.py:  attribution patching, the gradient estimate (Nanda, 2023; Syed et al., 2023)
- results.py:      PatchingResult / AblationResult: a value per site and pair, means and intervals
- pairs.py:        clean/corrupted pairs with known routes (negation; the multi-hop marker)

    pairs = negation_pairs(200).where_model_is_right(model)
    result = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    result.mean()            # (L, T) recovery: 0 = corrupted behaviour, 1 = clean behaviour
    result.interval(result.best())
"""

from attnlab.patching.ablation import METHODS, ablation
from attnlab.patching.activation import activation_patching, patch_together, run_patched
from attnlab.patching.attribution import attribution_patching
from attnlab.patching.metrics import logit_difference, probability
from attnlab.patching.pairs import PatchingPairs, multihop_pairs, negation_pairs
from attnlab.patching.path import path_patching
from attnlab.patching.results import AblationResult, PatchingResult, SiteEffects
from attnlab.patching.sites import KINDS, Sites

__all__ = [
    "AblationResult",
    "KINDS",
    "METHODS",
    "PatchingPairs",
    "PatchingResult",
    "SiteEffects",
    "Sites",
    "ablation",
    "activation_patching",
    "attribution_patching",
    "logit_difference",
    "multihop_pairs",
    "negation_pairs",
    "patch_together",
    "path_patching",
    "probability",
    "run_patched",
]
