"""Attribution methods: one score per input token, behind one `attribute()` API (see base.py).

Pure tensor functions (usable on hand-made matrices): attention_rollout, grad_weighted_rollout,
attention_flow, fuse_heads.
Methods on a model, all called as Method(model, **options).attribute(tokens, target=None, mask=None,
position=0) -> (B, T): RawAttention, Rollout, AttentionFlow, GradWeightedRollout, AttentionGradCAM,
LRP, GradientXInput, IntegratedGradients, LeaveOneOut, RandomBaseline.
The course's list of methods (standard.py): standard_methods, attribute_all.
Scoring against a gold rationale (plausibility.py): score_against_rationale, precision_at_k, ranking_auc.
"""

from attnlab.attribution.base import Attribution, explained_logits, resolve_target, target_logit
from attnlab.attribution.flow import AttentionFlow, attention_flow
from attnlab.attribution.grad_attention import AttentionGradCAM, GradWeightedRollout, grad_weighted_rollout
from attnlab.attribution.gradients import GradientXInput, IntegratedGradients
from attnlab.attribution.lrp import LRP, RelevanceBudget, relevance_budget
from attnlab.attribution.perturbation import LeaveOneOut, RandomBaseline
from attnlab.attribution.plausibility import precision_at_k, ranking_auc, score_against_rationale
from attnlab.attribution.raw import RawAttention
from attnlab.attribution.rollout import Rollout, attention_rollout, fuse_heads
from attnlab.attribution.standard import attribute_all, standard_methods

__all__ = [
    "LRP",
    "AttentionFlow",
    "AttentionGradCAM",
    "Attribution",
    "GradWeightedRollout",
    "GradientXInput",
    "IntegratedGradients",
    "LeaveOneOut",
    "RandomBaseline",
    "RawAttention",
    "RelevanceBudget",
    "Rollout",
    "attention_flow",
    "attention_rollout",
    "attribute_all",
    "explained_logits",
    "fuse_heads",
    "grad_weighted_rollout",
    "precision_at_k",
    "ranking_auc",
    "relevance_budget",
    "resolve_target",
    "score_against_rationale",
    "standard_methods",
    "target_logit",
]
