"""The autocomplete data set of Madsen (2019), "Visualizing memorization in
RNNs" (Distill): text8 as characters in, the word being typed out.

Built exactly as the post's ``python/download/preprocess/autocomplete.py``:

- words: the ``vocab_size`` most frequent words of the text (16,384 in the
  post), their order shuffled with ``RandomState(450849059)``, after
  ``<eos>`` (id 0, also padding) and ``<unknown>`` (id 1);
- characters: 28 input symbols, ``<eos>`` (0, padding), space (1), a-z (2-27);
- each word becomes a space plus its characters, and every one of those
  positions targets the word; the space already predicts the coming word
  ("0 characters seen")::

      source   ␣  t  h  e  ␣  c  a  t
      target   the the the the cat cat cat cat
      seen     0  1  2  3  0  1  2  3

- whole words are packed greedily into sequences of at most ``max_length``
  characters (200), a word that would overflow starts the next sequence;
- the sequences are shuffled with ``RandomState(450849059).permutation`` and
  split 90 / 5 / 5 (train, valid, test; ``floor`` of each share, the rest to
  test).

The sequences are kept flat (CSR layout: one character array, one target
array and the offsets where each sequence starts), so the full text8's 17 M
words take two arrays, not half a million small ones.
"""

from __future__ import annotations

import math
import string
import warnings
from dataclasses import dataclass

import numpy as np

SEED = 450849059  # the post's random_seed ("From random.org")
EOS, UNKNOWN = 0, 1  # word ids; EOS is also the padding of both inputs and targets
CHARS = ("<eos>", " ", *string.ascii_lowercase)  # the 28 input symbols
SPACE = 1
N_CHARS = len(CHARS)
SPLITS = ("train", "valid", "test")


class PartialText8Warning(UserWarning):
    """The data set is built from a prefix of text8, not the whole corpus."""


def word_vocabulary(words: np.ndarray, vocab_size: int, seed: int = SEED) -> list[str]:
    """Index -> word: ``<eos>``, ``<unknown>``, then the ``vocab_size`` most
    frequent words in the post's shuffled order.

    The ranking is the post's: ``np.unique`` (alphabetical) reordered by
    ``argsort(counts)[::-1]``, numpy's default sort, so ties at the cut fall as
    they fell there."""
    unique, counts = np.unique(words, return_counts=True)
    ranked = unique[np.argsort(counts)[::-1]]
    top = ranked[:vocab_size].copy()
    np.random.RandomState(seed).shuffle(top)
    return ["<eos>", "<unknown>", *top.tolist()]


def frequency_order(words: np.ndarray, vocab: list[str]) -> np.ndarray:
    """Word ids sorted from the most to the least frequent (``<eos>`` and
    ``<unknown>`` last): the order an adaptive softmax wants its classes in."""
    index = {w: i for i, w in enumerate(vocab)}
    unique, counts = np.unique(words, return_counts=True)
    count = np.zeros(len(vocab), np.int64)
    for w, n in zip(unique, counts, strict=True):
        if w in index:
            count[index[w]] = n
    count[[EOS, UNKNOWN]] = -1
    return np.argsort(-count, kind="stable")


def pack(lengths: np.ndarray, max_length: int) -> np.ndarray:
    """Greedy packing of words (``lengths``: characters, without the space) into
    sequences of at most ``max_length`` characters (the space included).

    Returns the index of the first word of each sequence, plus the number of
    words at the end (CSR offsets over words)."""
    if len(lengths) and int(np.max(lengths)) + 1 > max_length:
        raise ValueError(
            f"a word of {int(np.max(lengths))} characters does not fit a sequence "
            f"of max_length {max_length} (space included)"
        )
    starts, used = [0], 0
    for i, n in enumerate((np.asarray(lengths) + 1).tolist()):
        if used + n > max_length:  # the post: flush, then start with this word
            starts.append(i)
            used = 0
        used += n
    starts.append(len(lengths))
    return np.asarray(starts, np.int64)


@dataclass
class AutocompleteData:
    """The sequences of one corpus and their split.

    ``chars`` (int8) and ``targets`` (int32) are flat; sequence ``s`` is
    ``chars[offsets[s]:offsets[s + 1]]``. ``splits`` maps train/valid/test to
    sequence indices (the post's permutation order)."""

    vocab: list[str]
    chars: np.ndarray
    targets: np.ndarray
    offsets: np.ndarray
    splits: dict[str, np.ndarray]
    word_frequency_order: np.ndarray

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_words(self) -> int:
        """Output classes: the vocabulary plus <eos> and <unknown>."""
        return len(self.vocab)

    def lengths(self, index) -> np.ndarray:
        index = np.asarray(index)
        return self.offsets[index + 1] - self.offsets[index]

    def sequence(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[s], self.offsets[s + 1]
        return self.chars[a:b], self.targets[a:b]

    def text(self, s: int) -> str:
        return decode_chars(self.sequence(s)[0])

    def batch(self, index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sequences ``index`` padded with 0 (<eos>) to the longest:
        ``source (B, T)`` int64, ``target (B, T)`` int64, ``lengths (B,)``."""
        index = np.asarray(index)
        lengths = self.lengths(index)
        width = int(lengths.max()) if len(index) else 0
        source = np.zeros((len(index), width), np.int64)
        target = np.zeros((len(index), width), np.int64)
        for row, s in enumerate(index):
            a, b = self.offsets[s], self.offsets[s + 1]
            source[row, : b - a] = self.chars[a:b]
            target[row, : b - a] = self.targets[a:b]
        return source, target, lengths


def encode_chars(text: str) -> np.ndarray:
    """Characters (space and a-z) -> input symbols (1-27)."""
    raw = np.frombuffer(text.encode("ascii"), np.uint8)
    table = np.full(256, -1, np.int16)
    table[ord(" ")] = SPACE
    table[ord("a") : ord("z") + 1] = np.arange(2, N_CHARS)
    out = table[raw]
    if (out < 0).any():
        bad = sorted({chr(c) for c in raw[out < 0]})[:5]
        raise ValueError(f"only space and a-z can be encoded, got {bad}")
    return out.astype(np.int8)


def decode_chars(ids) -> str:
    """Input symbols -> text; padding (<eos>) is dropped."""
    return "".join(CHARS[int(i)] for i in ids if int(i) != EOS)


def encode_text(text: str, vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A text as the model reads it: ``" " + words`` joined by single spaces,
    and the word each character targets (<unknown> outside ``vocab``)."""
    words = text.split()
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.array([index.get(w, UNKNOWN) for w in words], np.int32)
    lengths = np.array([len(w) for w in words], np.int64)
    return encode_chars(" " + " ".join(words)), np.repeat(ids, lengths + 1)


def chars_seen(source: np.ndarray) -> np.ndarray:
    """How many characters of the current word are typed at each position
    (0 at the space), as the post's ``ContextAccuracy`` counts them."""
    source = np.asarray(source)
    pos = np.arange(source.shape[-1])
    last_space = np.where(source == SPACE, pos, -1)
    last_space = np.maximum.accumulate(last_space, axis=-1)
    return pos - last_space


def build(
    text: str, vocab_size: int, max_length: int = 200, seed: int = SEED
) -> AutocompleteData:
    """The post's data set from ``text`` (text8 or a part of it)."""
    words = np.array(text.strip().split(" "))
    if words.size == 0 or words[0] == "":
        raise ValueError("the text holds no words")
    vocab = word_vocabulary(words, vocab_size, seed)
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.array([index.get(w, UNKNOWN) for w in words.tolist()], np.int32)
    lengths = np.char.str_len(words).astype(np.int64)
    word_starts = pack(lengths, max_length)
    # a word's characters start after the spaces and characters before it
    char_start = np.concatenate([[0], np.cumsum(lengths + 1)])
    chars = encode_chars(" " + " ".join(words.tolist()))
    targets = np.repeat(ids, lengths + 1)
    offsets = char_start[word_starts]
    return AutocompleteData(
        vocab,
        chars,
        targets,
        offsets,
        split(len(offsets) - 1, seed),
        frequency_order(words, vocab),
    )


def split(n: int, seed: int = SEED, train=0.9, valid=0.05) -> dict[str, np.ndarray]:
    """The post's split: one permutation, ``floor`` of each share, the rest test."""
    perm = np.random.RandomState(seed).permutation(n)
    n_train, n_valid = math.floor(n * train), math.floor(n * valid)
    return {
        "train": perm[:n_train],
        "valid": perm[n_train : n_train + n_valid],
        "test": perm[n_train + n_valid :],
    }


def load_text8(n_chars: int) -> str:
    """The first ``n_chars`` of text8 (:func:`corpora.read_text8`, refused when
    the file is shorter), cut back to the last whole word.

    Warns (:class:`PartialText8Warning`) when that is less than the whole
    corpus: the post counts its vocabulary over all of text8, so a prefix
    gives another vocabulary, other sequences and another split."""
    from . import corpora

    whole = corpora.FILES["text8"].size
    text = corpora.read_text8(min(n_chars, whole))
    if len(text) < whole:
        cut = text.rfind(" ")
        text = text[:cut] if cut > 0 else text
        warnings.warn(
            f"the autocomplete data is built from the first {len(text):,} characters "
            f"of text8 ({len(text) / whole:.1%} of it): its vocabulary, sequences "
            "and split differ from the post's, which used all 100,000,000. The "
            "paper preset needs the whole file (see rnnmem_utils.data.corpora).",
            PartialText8Warning,
            stacklevel=2,
        )
    return text
