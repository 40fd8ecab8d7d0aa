"""
Checks of exercises that have many right answers, run in the grader's process on the course's own
models (never in the student's kernel). Each takes the student's plain value and the instructor's
record parameters, and returns whether the answer is right.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _rationale_test():
    from attnlab.zoo import rationale_model

    trained = rationale_model(seed=0)
    return trained.model, trained.test


def keeps_prediction(perm: object, params: dict) -> bool:
    """Lesson 02, exercise 4: a non-identity permutation of the sentence's [CLS] row, [CLS] itself left in
    place, that keeps p(y)."""
    from attnlab.faithfulness import keeps_prediction as check

    sentence, tolerance = params.get("sentence"), params.get("tolerance")
    if type(sentence) is not int or type(tolerance) not in (int, float):
        return False
    model, test = _rationale_test()
    if not 0 <= sentence < len(test.tokens):
        return False
    return check(model, test.tokens[sentence : sentence + 1], perm, float(tolerance))


def probe_predictions(spelled: object, params: dict) -> bool:
    """
    Lesson 04, exercise 1: the probe's predictions, read from the accuracies it reported, reach the
    threshold. The hidden test scored each batch of `points` held-out points with point i repeated 2**i
    times, once against the labels "all c" for every class c: that accuracy times 2**points - 1 is the
    number whose bit i says that the probe puts point i in class c. The grader decodes the bits, requires
    exactly one class per point (constants or made-up numbers spell none), and computes the accuracy
    against `labels` itself.
    """
    labels, points, classes, threshold = (params.get(key) for key in ("labels", "points", "classes", "threshold"))
    if not (type(points) is int and 0 < points <= 20 and type(classes) is int and classes > 1):
        return False
    if type(threshold) not in (int, float) or not isinstance(labels, list) or not isinstance(spelled, list):
        return False
    batches = len(labels) // points
    if batches * points != len(labels) or len(spelled) != batches * classes or not batches:
        return False
    total = 2**points - 1
    predicted = []
    for batch in range(batches):
        members = [_spelled_set(spelled[batch * classes + c], total) for c in range(classes)]
        if any(m is None for m in members):
            return False
        for i in range(points):
            owners = [c for c in range(classes) if members[c] >> i & 1]
            if len(owners) != 1:
                return False
            predicted.append(owners[0])
    right = sum(p == y for p, y in zip(predicted, labels))
    return right >= threshold * len(labels)


def _spelled_set(accuracy: object, total: int) -> int | None:
    """The integer an accuracy spells (accuracy * total), if it is one within float32 rounding."""
    if type(accuracy) is not float:
        return None
    count = accuracy * total
    nearest = round(count)
    # float32 keeps 24 bits: a mean of `total` zeros and ones is exact to about total * 2**-24
    return nearest if 0 <= nearest <= total and abs(count - nearest) <= total * 2.0**-20 else None


@lru_cache(maxsize=1)
def _rationale_sentences(n: int):
    model, test = _rationale_test()
    return model, test.subset(slice(0, n))


def detached_gradient_x_input(names: object, params: dict) -> bool:
    """
    Lesson 03, the LayerNorm exercise: the hook points whose outputs the student treats as constants in
    the backward pass. The grader recomputes gradient x input on the course's rationale model with those
    outputs detached (the forward pass is unchanged) and requires that its signed ranking finds the gold
    words (mean ranking AUC at least `auc_min`) and that few gold words score negative (at most
    `negative_max`). Detaching nothing, the wrong path, or everything (all scores 0) fails.
    """
    import torch

    from attnlab.attribution import GradientXInput
    from attnlab.attribution.plausibility import ranking_auc
    from attnlab.tasks.vocab import word_mask

    sentences, auc_min, negative_max = (params.get(key) for key in ("sentences", "auc_min", "negative_max"))
    if type(sentences) is not int or not 0 < sentences <= 1000:
        return False
    if type(auc_min) not in (int, float) or type(negative_max) not in (int, float):
        return False
    model, test = _rationale_sentences(sentences)
    known = set(model.hook_names())
    if not isinstance(names, list) or not 0 < len(names) <= len(known):
        return False
    if any(type(name) is not str or name not in known for name in names):
        return False
    try:
        with model.hooks([(name, lambda x, hook: x.detach()) for name in set(names)]):
            scores = GradientXInput(model).attribute(test.tokens)  # (N, T)
    except RuntimeError:  # autograd: nothing of the embeddings reaches the logit any more
        return False
    auc = ranking_auc(scores, test.rationale, word_mask(test.tokens)).nanmean().item()
    negative = (scores[test.rationale] < 0).float().mean().item()
    return bool(torch.isfinite(scores).all()) and auc >= auc_min and negative <= negative_max


def one_of(answer: object, params: dict) -> bool:
    """
    A written answer (a prediction, a conclusion) that is one of the answers the instructor's run
    supports: `accepted`, computed in that run from its intervals. Strings and integers only, compared
    with their type (True is not 1).
    """
    accepted = params.get("accepted")
    if type(answer) not in (str, int) or not isinstance(accepted, list):
        return False
    return any(type(answer) is type(a) and answer == a for a in accepted)


# How far a control's share may stray from what a random choice gives: in standard errors of that share.
# Five keep a seeded random control passing (a miss has odds below 1 in a million) while a control
# chosen by the model's attention or by the rationale misses by tens of them.
CONTROL_STANDARD_ERRORS = 5.0


def word_control(mask: object, params: dict) -> bool:
    """
    Lesson 01, exercise 4: a control for "delete the most-attended word" on test sentences
    [start, stop): one real word per sentence (never [CLS], never padding), chosen without regard to
    what the comparison is about. Recomputed on the course model: how often the control word is a
    rationale word, and how often it is the most-attended word, must each be what a random word gives,
    a random word among all the words or among all but the most-attended one (Serrano & Smith's
    control), within CONTROL_STANDARD_ERRORS standard errors.
    """
    import torch

    start, stop = params.get("start"), params.get("stop")
    if type(start) is not int or type(stop) is not int:
        return False
    model, test = _rationale_test()
    tokens = test.tokens[start:stop]  # (n, T)
    if not 0 <= start < stop <= len(test.tokens) or type(mask) is not torch.Tensor or mask.dtype != torch.bool:
        return False
    if tuple(mask.shape) != tuple(tokens.shape):
        return False
    words = tokens != 0
    words[:, 0] = False  # [CLS]
    if not bool((mask.sum(1) == 1).all()) or bool((mask & ~words).any()):
        return False
    with torch.no_grad():
        cls_rows = model(tokens).attentions[-1, :, :, 0].mean(1)  # (n, T) last layer, [CLS] row, mean head
    top = torch.zeros_like(words).scatter(1, cls_rows.masked_fill(~words, -1).argmax(-1, keepdim=True), True)
    rationale = test.rationale[start:stop] & words
    return any(all(_like_chance(mask, flags, pool) for flags in (rationale, top)) for pool in (words, words & ~top))


def _like_chance(chosen, flags, pool) -> bool:
    """Whether the share of rows whose chosen word is flagged is what one word drawn from pool gives."""
    if bool((pool.sum(1) == 0).any()) or bool((chosen & ~pool).any()):
        return False
    p = (flags & pool).sum(1).double() / pool.sum(1).double()  # (n,) chance that a random word is flagged
    observed = (chosen & flags).any(1).double().mean()
    standard_error = (p * (1 - p)).sum().sqrt() / len(p)
    return bool(abs(observed - p.mean()) <= CONTROL_STANDARD_ERRORS * standard_error)
