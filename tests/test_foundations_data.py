"""Foundations lesson data: character encoding, batching, toy tasks, features."""

import numpy as np
import pytest

from rnnmem_utils.data import chars


def test_encode_decode_roundtrip():
    text = "the quick brown fox"
    ids = chars.encode(text)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 27
    assert chars.decode(ids) == text
    assert chars.encode(" a z").tolist() == [0, 1, 0, 26]
    with pytest.raises(ValueError, match="alphabet"):
        chars.encode("Hello")


def test_binary_sequences_are_all_distinct():
    x = chars.binary_sequences(5)
    assert x.shape == (5, 32)
    assert len({tuple(c) for c in x.T}) == 32


def test_delayed_recall_targets():
    x, y = chars.delayed_recall(10, 3, 4, 5, np.random.default_rng(0))
    assert x.shape == y.shape == (10, 3)
    assert (y[:4] == chars.IGNORE).all()
    assert (y[4:] == x[:-4]).all()
    x2, _ = chars.delayed_recall(10, 3, 4, 5, np.random.default_rng(0))
    assert (x == x2).all()  # seeded
    with pytest.raises(ValueError):
        chars.delayed_recall(5, 1, 5, 2, np.random.default_rng(0))


def test_char_features_by_hand():
    text = "the cat ate the"
    f = chars.char_features(chars.encode(text))
    assert f["position_in_word"].tolist() == [
        1,
        2,
        3,
        0,
        1,
        2,
        3,
        0,
        1,
        2,
        3,
        0,
        1,
        2,
        3,
    ]
    assert f["word_boundary"].tolist() == [float(c == " ") for c in text]
    # vowel after consonant: th(e) c(a)t -> e at 2, a at 5; 'ate': a follows a space
    assert np.flatnonzero(f["vowel_after_consonant"]).tolist() == [2, 5, 10, 14]
    # " the " only matches a whole word bounded by spaces (not the first, unpadded one)
    assert np.flatnonzero(f["in_the"]).tolist() == []
    g = chars.char_features(chars.encode(" the other the "))
    assert np.flatnonzero(g["in_the"]).tolist() == [1, 2, 3, 11, 12, 13]
