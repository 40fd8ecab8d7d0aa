"""
Checks of exercises that have many right answers, run in the grader's process on the course's own
models (never in the student's kernel). Each takes the student's plain value and the instructor's
record parameters, and returns whether the answer is right.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _rationale_test():
    from attnlab.train import rationale_model

    trained = rationale_model(seed=0)
    return trained.model, trained.test


def keeps_prediction(perm: object, params: dict) -> bool:
    """Lesson 02, exercise 3: a non-identity permutation of the sentence's [CLS] row that keeps p(y)."""
    from attnlab.faithfulness import keeps_prediction as check

    sentence, tolerance = params.get("sentence"), params.get("tolerance")
    if type(sentence) is not int or type(tolerance) not in (int, float):
        return False
    model, test = _rationale_test()
    if not 0 <= sentence < len(test.tokens):
        return False
    return check(model, test.tokens[sentence : sentence + 1], perm, float(tolerance))
