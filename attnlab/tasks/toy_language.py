"""
A toy language with a known grammar: every sentence comes with gold part-of-speech tags, gold
dependency heads and gold coreference links.

Two clauses, the second opening with a pronoun that refers back to exactly one noun of the first:

    the old king sees some boxes near a tree . he sleeps .
    DET ADJ NOUN VERB DET  NOUN  ADP  DET NOUN PUNCT PRON VERB PUNCT

- Agreement makes structure learnable: a verb agrees in number with its subject ("king sees",
  "kings see"), "a" takes a singular noun and "some" a plural one, and a pronoun agrees in gender and
  number with its antecedent (he: masculine singular, she: feminine singular, it: neuter singular,
  they: plural). The generator keeps only pronouns that match exactly one earlier noun, so the
  antecedent is unambiguous.
- Dependencies follow Universal Dependencies conventions: DET and ADJ attach to their noun, subject
  and object nouns to their verb, a preposition to its noun, that noun to the noun it modifies, the
  first verb to the root ([CLS], position 0), the second verb to the first, "." to its clause's verb.

A masked language model trained on it (attnlab.zoo.toy_language_model) must track these relations to fill in masked
verbs, determiners and pronouns: the probing lesson asks where that information sits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from attnlab.tasks.base import TokenDataset, mask_one_word, pad_batch, pad_labels
from attnlab.tasks.vocab import Vocab

if TYPE_CHECKING:  # the data does not need the model; its accuracy measure only names it
    from attnlab.models import TinyTransformer

POS_TAGS = ("DET", "ADJ", "NOUN", "PRON", "VERB", "ADP", "ADV", "PUNCT")
NO_LABEL = -1  # for [CLS] and [PAD] in every per-token label tensor
MAX_LEN = 24

# noun lemma -> (gender, singular form, plural form)
NOUNS = {
    "king": ("m", "king", "kings"),
    "boy": ("m", "boy", "boys"),
    "man": ("m", "man", "men"),
    "queen": ("f", "queen", "queens"),
    "girl": ("f", "girl", "girls"),
    "woman": ("f", "woman", "women"),
    "box": ("n", "box", "boxes"),
    "tree": ("n", "tree", "trees"),
    "ball": ("n", "ball", "balls"),
}
# verb -> (singular form, plural form)
TRANSITIVE = {"see": ("sees", "see"), "like": ("likes", "like"), "take": ("takes", "take")}
INTRANSITIVE = {"sleep": ("sleeps", "sleep"), "run": ("runs", "run"), "fall": ("falls", "fall")}
ADJECTIVES = ("old", "small", "red", "big")
PREPOSITIONS = ("near", "under", "with")
ADVERBS = ("quickly", "slowly")
PRONOUNS = {"he": ("m", "sg"), "she": ("f", "sg"), "it": ("n", "sg"), "they": (None, "pl")}
DETERMINERS = {"the": ("sg", "pl"), "a": ("sg",), "some": ("pl",)}

# every noun form -> (gender, number); every verb form -> number
NOUN_FEATURES = {form: (g, n) for g, sg, pl in NOUNS.values() for form, n in ((sg, "sg"), (pl, "pl"))}
VERB_NUMBER = {form: n for sg, pl in (TRANSITIVE | INTRANSITIVE).values() for form, n in ((sg, "sg"), (pl, "pl"))}

_words = (
    [*DETERMINERS, *ADJECTIVES, *PREPOSITIONS, *ADVERBS, *PRONOUNS, "."]
    + [form for _, sg, pl in NOUNS.values() for form in (sg, pl)]
    + [form for forms in (TRANSITIVE | INTRANSITIVE).values() for form in forms]
)  # fmt: skip
TOY_VOCAB = Vocab.from_words(_words)


@dataclass(frozen=True)
class ToyLanguageData(TokenDataset):
    pos: torch.Tensor  # (N, T) index into POS_TAGS, NO_LABEL on [CLS]/[PAD]
    heads: torch.Tensor  # (N, T) position of each word's head (0 = root = [CLS]), NO_LABEL on [CLS]/[PAD]
    antecedent: torch.Tensor  # (N, T) position of a pronoun's antecedent noun, NO_LABEL elsewhere


class _Sentence:
    """Words with their tags and heads, built left to right; positions count [CLS] as 0."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.pos: list[str] = []
        self.heads: list[int | None] = []  # None until the head is known
        self.nouns: list[tuple[int, str, str]] = []  # (position, gender, number) of each noun

    def add(self, word: str, pos: str, head: int | None = None) -> int:
        self.words.append(word)
        self.pos.append(pos)
        self.heads.append(head)
        return len(self.words)  # its position, [CLS] being 0

    def set_head(self, position: int, head: int) -> None:
        self.heads[position - 1] = head

    def noun_phrase(self, rng: random.Random, allow_pp: bool) -> tuple[int, str]:
        """DET (ADJ) NOUN (ADP DET NOUN); returns (position of the head noun, its number)."""
        lemma = rng.choice(list(NOUNS))
        gender, singular, plural = NOUNS[lemma]
        number = rng.choice(("sg", "pl"))
        det = rng.choice([d for d, numbers in DETERMINERS.items() if number in numbers])
        det_pos = self.add(det, "DET")
        adj_pos = self.add(rng.choice(ADJECTIVES), "ADJ") if rng.random() < 0.4 else None
        noun = self.add(singular if number == "sg" else plural, "NOUN")
        self.set_head(det_pos, noun)
        if adj_pos is not None:
            self.set_head(adj_pos, noun)
        self.nouns.append((noun, gender, number))
        if allow_pp and rng.random() < 0.3:
            prep = self.add(rng.choice(PREPOSITIONS), "ADP")
            inner, _ = self.noun_phrase(rng, allow_pp=False)
            self.set_head(prep, inner)
            self.set_head(inner, noun)
        return noun, number

    def clause(self, rng: random.Random, subject: int, number: str, root: int) -> int:
        """VERB (object NP) (ADV) . after a subject at `subject`; returns the verb's position."""
        transitive = rng.random() < 0.6
        forms = rng.choice(list((TRANSITIVE if transitive else INTRANSITIVE).values()))
        verb = self.add(forms[0] if number == "sg" else forms[1], "VERB", head=root)
        self.set_head(subject, verb)
        if transitive:
            obj, _ = self.noun_phrase(rng, allow_pp=True)
            self.set_head(obj, verb)
        if rng.random() < 0.25:
            self.add(rng.choice(ADVERBS), "ADV", head=verb)
        self.add(".", "PUNCT", head=verb)
        return verb


def _matches(pronoun: str, gender: str, number: str) -> bool:
    p_gender, p_number = PRONOUNS[pronoun]
    return p_number == number and (p_gender is None or p_gender == gender)


def pronoun_agrees(pronoun: str, noun: str) -> bool:
    """Does the pronoun agree in gender and number with a noun form ("she", "queen" -> True)?"""
    return _matches(pronoun, NOUN_FEATURES[noun][0], NOUN_FEATURES[noun][1])


def agreement_table(vocab: Vocab) -> torch.Tensor:
    """(V, V) bool: [p, n] is True when word p is a pronoun that agrees with the noun n (pronoun_agrees),
    to score many guesses at once."""
    table = torch.zeros(len(vocab), len(vocab), dtype=torch.bool)
    for pronoun in PRONOUNS:
        for noun in NOUN_FEATURES:
            table[vocab.index[pronoun], vocab.index[noun]] = pronoun_agrees(pronoun, noun)
    return table


def verb_numbers(vocab: Vocab) -> torch.Tensor:
    """(V,) long: 1 for a singular verb form, 2 for a plural one, 0 for any other word."""
    numbers = torch.zeros(len(vocab), dtype=torch.long)
    for form, number in VERB_NUMBER.items():
        numbers[vocab.index[form]] = 1 if number == "sg" else 2
    return numbers


def _example(rng: random.Random) -> tuple[_Sentence, int, int]:
    """One two-clause sentence; returns it with the pronoun's and the antecedent's positions."""
    while True:
        s = _Sentence()
        subject, number = s.noun_phrase(rng, allow_pp=False)
        verb = s.clause(rng, subject, number, root=0)
        choices = [
            (p, position)
            for p in PRONOUNS
            for position, gender, n in s.nouns
            if _matches(p, gender, n) and sum(_matches(p, g, m) for _, g, m in s.nouns) == 1
        ]
        if not choices:
            continue  # no pronoun would be unambiguous; draw again
        pronoun, antecedent = rng.choice(choices)
        pron = s.add(pronoun, "PRON")
        s.clause(rng, pron, PRONOUNS[pronoun][1], root=verb)
        if len(s.words) < MAX_LEN:
            return s, pron, antecedent


def make_toy_language(n: int = 3000, seed: int = 0) -> ToyLanguageData:
    """n seeded sentences of the toy language with their gold annotations."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    rows, pos, heads, antecedents = [], [], [], []
    for _ in range(n):
        s, pron, antecedent = _example(rng)
        assert all(h is not None for h in s.heads), s.words
        rows.append([TOY_VOCAB.cls_id] + [TOY_VOCAB.index[w] for w in s.words])
        pos.append([NO_LABEL] + [POS_TAGS.index(t) for t in s.pos])
        heads.append([NO_LABEL] + list(s.heads))
        links = [NO_LABEL] * (len(s.words) + 1)
        links[pron] = antecedent
        antecedents.append(links)
    return ToyLanguageData(
        tokens=pad_batch(rows, TOY_VOCAB.pad_id, MAX_LEN),
        vocab=TOY_VOCAB,
        pos=pad_labels(pos, MAX_LEN, NO_LABEL),
        heads=pad_labels(heads, MAX_LEN, NO_LABEL),
        antecedent=pad_labels(antecedents, MAX_LEN, NO_LABEL),
    )


@torch.no_grad()
def masked_lm_accuracy(model: TinyTransformer, data: ToyLanguageData, seed: int = 0) -> dict[str, float]:
    """Fill in one masked word per sentence and score the parts the grammar decides:

    masked_word_accuracy: the exact word (often undecidable: any noun may follow "the");
    verb_agreement_accuracy: at a masked verb, a verb form of the subject's number is predicted;
    pronoun_agreement_accuracy: at a masked pronoun, a pronoun that agrees with the antecedent is predicted.
    """
    masked, hidden = mask_one_word(data, seed)
    rows, position = hidden.nonzero(as_tuple=True)  # (N,) each: one word per sentence, in order
    predicted = model(masked).logits[rows, position].argmax(-1)  # (N,)
    gold = data.tokens[rows, position]  # (N,)
    number = verb_numbers(data.vocab)  # (V,) 1 singular verb, 2 plural verb, 0 other
    is_verb = number[gold] > 0  # (N,)
    agrees = agreement_table(data.vocab)  # (V, V) [pronoun, noun]
    is_pronoun = agrees.any(1)[gold]  # (N,) every pronoun agrees with some noun
    antecedent = data.tokens[rows, data.antecedent[rows, position].clamp(min=0)]  # (N,) read only at pronouns
    verbs = (number[predicted] == number[gold])[is_verb]
    pronouns = agrees[predicted, antecedent][is_pronoun]
    return {
        "masked_word_accuracy": (predicted == gold).float().mean().item(),
        "verb_agreement_accuracy": int(verbs.sum()) / max(len(verbs), 1),
        "pronoun_agreement_accuracy": int(pronouns.sum()) / max(len(pronouns), 1),
    }
