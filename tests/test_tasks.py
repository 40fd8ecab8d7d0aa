"""The synthetic tasks: seeded, and their ground truth agrees with their labels."""

import pytest
import torch

from attnlab.tasks.rationale import LABELS, NEGATION, NEGATIVE, POSITIVE, label_of, make_rationale_task
from attnlab.tasks.toy_language import (
    DETERMINERS,
    NO_LABEL,
    NOUN_FEATURES,
    POS_TAGS,
    PRONOUNS,
    VERB_NUMBER,
    make_toy_language,
    pronoun_agrees,
)  # fmt: skip
from attnlab.tasks.vocab import Vocab, word_mask


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_rationale_task(50, seed=1), make_rationale_task(50, seed=1), make_rationale_task(50, seed=2)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.rationale, b.rationale)
    assert not torch.equal(a.tokens, c.tokens)
    assert torch.equal(make_toy_language(30, seed=4).heads, make_toy_language(30, seed=4).heads)


def test_rationale_labels_follow_the_rule_and_the_rationale():
    data = make_rationale_task(500, seed=0)
    for i in range(len(data)):
        words = data.sentence(i)[1:]
        assert label_of(words) == int(data.labels[i])
        # The rationale alone decides the label: rebuild a sentence from it and apply the rule.
        kept = [w for w, r in zip(words, data.rationale[i, 1:]) if r]
        assert label_of(kept) == int(data.labels[i])
        for w, r in zip(words, data.rationale[i, 1:]):
            if w in POSITIVE or w in NEGATIVE:
                assert r
        assert not (data.rationale[i] & data.distractor[i]).any()


def test_rationale_labels_are_balanced_and_distractors_are_present():
    data = make_rationale_task(1000, seed=0)
    assert 0.4 < data.labels.float().mean() < 0.6
    assert data.distractor.any(1).float().mean() > 0.3
    assert set(LABELS) == {"negative", "positive"}


def test_label_rule_on_hand_made_sentences():
    assert label_of("the movie was good".split()) == 1
    assert label_of(f"the movie was {NEGATION} good".split()) == 0
    assert label_of(f"{NEGATION} the movie was good".split()) == 1  # a distractor "not"
    with pytest.raises(ValueError, match="must agree"):
        label_of("good and bad".split())


def test_toy_language_annotations_are_consistent():
    data = make_toy_language(300, seed=0)
    for i in range(len(data)):
        words = data.sentence(i)
        n = len(words)
        assert (data.pos[i, 0], data.heads[i, 0]) == (NO_LABEL, NO_LABEL)
        assert (data.pos[i, n:] == NO_LABEL).all() and (data.heads[i, n:] == NO_LABEL).all()
        heads = data.heads[i, 1:n]
        assert ((heads >= 0) & (heads < n)).all() and (heads != torch.arange(1, n)).all()
        assert (heads == 0).sum() == 1  # one root
        tags = [POS_TAGS[t] for t in data.pos[i, 1:n]]
        for position, (word, tag, head) in enumerate(zip(words[1:], tags, heads.tolist()), start=1):
            if tag == "DET":
                assert POS_TAGS[data.pos[i, head]] == "NOUN"
                assert NOUN_FEATURES[words[head]][1] in DETERMINERS[word]  # "a" + singular, "some" + plural
            if tag == "VERB":
                subject = [
                    j for j in range(1, position) if data.heads[i, j] == position and tags[j - 1] in ("NOUN", "PRON")
                ]
                assert len(subject) == 1
                subject_word = words[subject[0]]
                number = PRONOUNS[subject_word][1] if subject_word in PRONOUNS else NOUN_FEATURES[subject_word][1]
                assert VERB_NUMBER[word] == number
        pronouns = [j for j in range(n) if words[j] in PRONOUNS]
        assert len(pronouns) == 1
        (p,) = pronouns
        antecedent = int(data.antecedent[i, p])
        assert 0 < antecedent < p and pronoun_agrees(words[p], words[antecedent])
        # unambiguous: no other earlier noun agrees with the pronoun
        others = [j for j in range(1, p) if words[j] in NOUN_FEATURES and j != antecedent]
        assert not any(pronoun_agrees(words[p], words[j]) for j in others)


def test_vocab_encodes_and_names_unknown_words():
    data = make_rationale_task(1, seed=0)
    ids = data.vocab.encode("the movie was good")
    assert ids[0, 0] == data.vocab.cls_id
    assert data.vocab.decode(ids[0]) == ["[CLS]", "the", "movie", "was", "good"]
    with pytest.raises(ValueError, match="'fantastic'"):
        data.vocab.encode("the movie was fantastic")
    with pytest.raises(ValueError, match="at most 3"):
        data.vocab.encode("the movie was good", max_len=3)
    with pytest.raises(ValueError, match="starts with"):
        Vocab(("a", "b"))


def test_word_mask_leaves_out_cls_and_padding():
    tokens = torch.tensor([[1, 5, 6, 7, 8, 0], [1, 5, 6, 7, 8, 9]])
    assert word_mask(tokens).tolist() == [[False, True, True, True, True, False], [False] + [True] * 5]


def test_split_and_subset_keep_examples_aligned():
    data = make_rationale_task(20, seed=0)
    train, test = data.split(15)
    assert len(train) == 15 and len(test) == 5
    assert torch.equal(test.labels, data.labels[15:]) and torch.equal(test.rationale, data.rationale[15:])
    with pytest.raises(ValueError, match="n_train"):
        data.split(20)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        make_rationale_task(0)
    with pytest.raises(ValueError, match="at least 1"):
        make_toy_language(0)
