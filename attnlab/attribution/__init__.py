"""Attribution methods: one score per input token, behind one `attribute()` API (see base.py)."""

from attnlab.attribution.base import Attribution, explained_logits, resolve_target, target_logit

__all__ = ["Attribution", "explained_logits", "resolve_target", "target_logit"]
