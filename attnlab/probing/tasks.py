"""
Probing tasks built from the toy language's gold annotations, and their control tasks.

Two kinds of task:
- a **token task** gives each word a class (part of speech): the probe classifies one vector;
- a **pair task** asks, for some words i, which word j it points to (its dependency head, or a
  pronoun's antecedent): the probe scores every candidate j of the same sentence and the highest
  score wins. `candidates[n, i, j]` says which j may be chosen.

Control tasks (Hewitt & Liang, 2019) keep the shape of a task but make its answer a fixed random
function of the word type, so a probe can only solve them by memorising word types. Selectivity =
task accuracy - control accuracy: a probe that does as well on the control is too powerful for its
success to say much about the representation. Our controls:
- POS: each word type gets a fixed tag drawn from the empirical tag distribution (as in the paper);
- arcs: each word type always attaches to itself, to the first word or to the last word of its
  sentence, chosen at random per type (the paper's CorruptedEdgePositionTask);
- coreference: the task's rule is "the earlier noun whose agreement class (masculine, feminine,
  neuter singular, or plural) is the pronoun's". The control keeps that rule and the output space (the
  nouns before the pronoun) but gives every noun *type* a random agreement class, drawn from the
  task's label distribution (the classes of the gold antecedents). Like the task's generator, which
  keeps only pronouns that agree with exactly one earlier noun, the control asks only where exactly
  one candidate carries the pronoun's class under the random table, and `probing_tasks` asks the
  task at those same pronouns. Like the task, it needs the pronoun's class and the identity of
  every candidate, so it is as hard; only the mapping is random.
  (An earlier control, "each pronoun type always takes the earliest or the nearest noun", was a
  matter of position once the pronoun was guessed, and turned out easier than the task.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.tasks.toy_language import NO_LABEL, NOUN_FEATURES, POS_TAGS, PRONOUNS, ToyLanguageData
from attnlab.tasks.vocab import Vocab

NOUN = POS_TAGS.index("NOUN")
AGREEMENT = (("m", "sg"), ("f", "sg"), ("n", "sg"), (None, "pl"))  # a pronoun's class: he, she, it, they


@dataclass(frozen=True)
class ProbingTask:
    name: str
    labels: torch.Tensor  # (N, T) class (token task) or gold position j (pair task); NO_LABEL: not asked
    n_classes: int = 0  # token tasks: number of classes; 0 for pair tasks
    candidates: torch.Tensor | None = None  # pair tasks: (N, T, T) bool, which j may answer for word i

    @property
    def is_pair(self) -> bool:
        return self.candidates is not None

    def queries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(sentence index (M,), position (M,)) of every word the task asks about."""
        return (self.labels != NO_LABEL).nonzero(as_tuple=True)


# -----------------------------------------------------------------------------
# the linguistic tasks


def pos_task(data: ToyLanguageData) -> ProbingTask:
    """Part of speech of every word."""
    return ProbingTask("pos", data.pos, n_classes=len(POS_TAGS))


def arc_task(data: ToyLanguageData) -> ProbingTask:
    """For every word, the position of its dependency head; [CLS] (position 0) stands for the root.

    Candidates: every real token of the sentence, [CLS] and the word itself included (the control
    task attaches some words to themselves, and both tasks must offer the same choices).
    """
    real = data.mask  # (N, T)
    candidates = real[:, None, :] & real[:, :, None]  # (N, T, T)
    return ProbingTask("arc", data.heads, candidates=candidates)


def coref_task(data: ToyLanguageData, min_candidates: int = 2) -> ProbingTask:
    """For every pronoun, the position of its antecedent; candidates are the nouns before it.

    A pronoun with a single noun before it is a free point for any method, so by default only
    pronouns with at least `min_candidates` nouns before them are asked about.
    """
    T = data.tokens.shape[1]
    before = torch.ones(T, T, dtype=torch.bool).tril(-1)  # (T, T): j < i
    is_noun = data.pos == NOUN  # (N, T)
    candidates = before[None] & is_noun[:, None, :]  # (N, T, T)
    enough = candidates.sum(-1) >= min_candidates  # (N, T)
    return ProbingTask("coref", torch.where(enough, data.antecedent, NO_LABEL), candidates=candidates)


# -----------------------------------------------------------------------------
# control tasks: the answer depends on the word type only


def type_labels(n_types: int, probs: torch.Tensor, seed: int) -> torch.Tensor:
    """(n_types,) a label per word type, drawn once from `probs`; same seed, same labels."""
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(probs.double(), n_types, replacement=True, generator=generator)


def pos_distribution(data: ToyLanguageData) -> torch.Tensor:
    """(n_tags,) the share of each tag among the words of `data`."""
    tags = data.pos[data.pos != NO_LABEL]
    return torch.bincount(tags, minlength=len(POS_TAGS)).double() / len(tags)


def control_pos(data: ToyLanguageData, seed: int = 0, probs: torch.Tensor | None = None) -> ProbingTask:
    """Each word type gets a fixed random tag. Pass the same `probs` for every split, so train and
    test share the type -> tag map (the default, the split's own tag distribution, may differ slightly)."""
    probs = pos_distribution(data) if probs is None else probs
    table = type_labels(len(data.vocab), probs, seed)  # (V,)
    labels = torch.where(data.pos != NO_LABEL, table[data.tokens], NO_LABEL)  # (N, T)
    return ProbingTask("control_pos", labels, n_classes=len(POS_TAGS))


def control_arc(data: ToyLanguageData, seed: int = 0) -> ProbingTask:
    """Each word type always attaches to itself (0), the first word (1) or the last word (2)."""
    behaviour = type_labels(len(data.vocab), torch.ones(3), seed)[data.tokens]  # (N, T)
    T = data.tokens.shape[1]
    position = torch.arange(T).expand_as(data.tokens)  # (N, T)
    last = (data.mask.sum(1, keepdim=True) - 1).expand_as(data.tokens)  # (N, T) position of the last word
    target = torch.stack([position, torch.ones_like(position), last], -1)  # (N, T, 3)
    labels = target.gather(-1, behaviour[..., None])[..., 0]  # (N, T)
    task = arc_task(data)
    return ProbingTask("control_arc", torch.where(data.heads != NO_LABEL, labels, NO_LABEL), candidates=task.candidates)


def agreement_classes(vocab: Vocab) -> torch.Tensor:
    """(V,) index into AGREEMENT of every pronoun and noun form, -1 for other words."""
    table = torch.full((len(vocab),), -1, dtype=torch.long)
    for word, features in {**PRONOUNS, **NOUN_FEATURES}.items():
        gender, number = features
        table[vocab.index[word]] = 3 if number == "pl" else AGREEMENT.index((gender, number))
    return table


def antecedent_class_distribution(data: ToyLanguageData) -> torch.Tensor:
    """(4,) the share of each agreement class among the gold antecedents of the coreference task."""
    task = coref_task(data)
    b, i = task.queries()
    classes = agreement_classes(data.vocab)[data.tokens[b, task.labels[b, i]]]  # (M,)
    return torch.bincount(classes, minlength=len(AGREEMENT)).double() / len(classes)


def control_coref(data: ToyLanguageData, seed: int = 0, probs: torch.Tensor | None = None) -> ProbingTask:
    """The task's rule with a random agreement class per noun type, drawn from `probs` (default: the
    split's antecedent class distribution; pass the training split's for every split). Asked only
    where exactly one candidate noun has the pronoun's class under the random table."""
    task = coref_task(data)
    probs = antecedent_class_distribution(data) if probs is None else probs
    noun_class = type_labels(len(data.vocab), probs, seed)  # (V,) a random class per word type
    pronoun_class = agreement_classes(data.vocab)[data.tokens]  # (N, T) the query's own class
    candidate = data.tokens[:, None, :].expand_as(task.candidates)  # (N, T, T) token id of candidate j
    match = (noun_class[candidate] == pronoun_class[:, :, None]) & task.candidates  # (N, T, T)
    unique = match.sum(-1) == 1  # (N, T) exactly one answer, as in the task
    labels = match.float().argmax(-1)  # (N, T) the matching candidate
    asked = (task.labels != NO_LABEL) & unique
    return ProbingTask("control_coref", torch.where(asked, labels, NO_LABEL), candidates=task.candidates)


def probing_tasks(
    data: ToyLanguageData, seed: int = 0, pos_probs: torch.Tensor | None = None, coref_probs: torch.Tensor | None = None
) -> dict[str, tuple[ProbingTask, ProbingTask]]:
    """{property: (task, its control task)} for "pos", "arc" and "coref"; pass the training split's
    label distributions (pos_distribution, antecedent_class_distribution) so every split shares them."""
    return {
        "pos": (pos_task(data), control_pos(data, seed, pos_probs)),
        "arc": (arc_task(data), control_arc(data, seed)),
        "coref": _same_queries(coref_task(data), control_coref(data, seed, coref_probs)),
    }


def _same_queries(task: ProbingTask, control: ProbingTask) -> tuple[ProbingTask, ProbingTask]:
    """The task asked only where its control is asked, so that both are scored on the same words."""
    return only_at(task, control.labels != NO_LABEL), control


# -----------------------------------------------------------------------------
# asking a task at chosen words only (e.g. where tasks.base.mask_one_word hid the word)


def only_at(task: ProbingTask, where: torch.Tensor) -> ProbingTask:
    """The same task asked only at the positions where `where` (N, T) is True."""
    return ProbingTask(task.name, torch.where(where, task.labels, NO_LABEL), task.n_classes, task.candidates)
