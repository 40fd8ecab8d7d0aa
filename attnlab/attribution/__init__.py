"""Attribution methods: one score per input token, behind one `attribute()` API (see base.py).

Pure tensor functions (usable on hand-made matrices): attention_rollout, grad_weighted_rollout,
attention_flow, fuse_heads.
Methods on a model, all called as Method(model, **options).attribute(tokens, target=None, mask=None,
position=0) -> (B, T): RawAttention, Rollout, AttentionFlow, GradWeightedRollout, AttentionGradCAM,
LRP, GradientXInput, IntegratedGradients, LeaveOneOut, RandomBaseline.
Scoring against a gold rationale (evaluate.py): standard_methods, score_against_rationale, precision_at_k, ranking_auc.
"""

from attnlab.attribution.base import Attribution, explained_logits, resolve_target, target_logit
from attnlab.attribution.evaluate import score_against_rationale, precision_at_k, ranking_auc, standard_methods
from attnlab.attribution.flow import AttentionFlow, attention_flow
from attnlab.attribution.grad_attention import AttentionGradCAM, GradWeightedRollout, grad_weighted_rollout
from attnlab.attribution.gradients import GradientXInput, IntegratedGradients
from attnlab.attribution.lrp import LRP, RelevanceBudget, relevance_budget
from attnlab.attribution.perturbation import LeaveOneOut, RandomBaseline
from attnlab.attribution.raw import RawAttention
from attnlab.attribution.rollout import Rollout, attention_rollout, fuse_heads

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
    "score_against_rationale",
    "attention_rollout",
    "explained_logits",
    "fuse_heads",
    "grad_weighted_rollout",
    "precision_at_k",
    "ranking_auc",
    "relevance_budget",
    "resolve_target",
    "standard_methods",
    "target_logit",
]
