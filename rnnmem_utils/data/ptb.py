"""The Penn Treebank language-modelling corpus (Mikolov's 10k-word version).

``ptb.train/valid/test.txt`` (verified by :mod:`corpora`) hold one sentence per
line, already normalised: lowercase, numbers as ``N``, rare words as
``<unk>``. The vocabulary is the 9,999 word types of the training file plus
``<eos>``, the end-of-sentence token appended to every line: 10,000 types.

Ids are ordered by training frequency (most frequent first, ties by first
appearance), so an id is also a frequency rank -- the frequency analyses
(Figure 8b, 9) read it directly. Streams are token ids of whole lines, each
followed by ``<eos>``; training cuts them with
:func:`rnnmem_utils.training.lm.batchify` (the one batchify of LM training).

The first line of ``ptb.train.txt`` is not WSJ text; lines 2-3911 are the
sentences of the NLTK treebank sample (:mod:`rnnmem_utils.data.treebank`),
which E4 holds out of training as its gold-tagged analysis set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import corpora

EOS = "<eos>"
UNK = "<unk>"
VOCAB_SIZE = 10_000
SPLITS = ("train", "valid", "test")
# Golden sizes (tokens including one <eos> per line), pinned against silent change
SIZES = {"train": 929_589, "valid": 73_760, "test": 82_430}
LINES = {"train": 42_068, "valid": 3_370, "test": 3_761}


@dataclass(frozen=True)
class Vocabulary:
    """Words by id (most frequent first) and their training counts."""

    words: tuple[str, ...]
    counts: tuple[int, ...]
    index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, words) -> np.ndarray:
        """Ids of ``words``; an unknown word is refused (PTB has no OOV by design)."""
        try:
            return np.array([self.index[w] for w in words], dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"word {e.args[0]!r} is not in the PTB vocabulary") from None

    def id(self, word: str) -> int:
        return int(self.ids([word])[0])


def read_lines(split: str) -> list[list[str]]:
    """The verified ``ptb.<split>.txt`` as a list of lines of words."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}; options are {list(SPLITS)}")
    text = corpora.read_text(f"ptb.{split}")
    return [line.split() for line in text.splitlines()]


def build_vocabulary(lines: list[list[str]]) -> Vocabulary:
    """Word types of ``lines`` plus <eos>, ordered by count (ties: first seen)."""
    counts = Counter(w for line in lines for w in [*line, EOS])
    order = sorted(counts, key=lambda w: -counts[w])  # stable: ties keep first seen
    return Vocabulary(tuple(order), tuple(counts[w] for w in order))


def encode(lines: list[list[str]], vocab: Vocabulary) -> np.ndarray:
    """One id stream: every line's words followed by <eos>."""
    return vocab.ids([w for line in lines for w in [*line, EOS]])


@dataclass(frozen=True)
class Corpus:
    """Token streams of PTB; ``held_out`` lines of the training file are left
    out of ``train`` and returned as their own lines (the analysis set)."""

    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    held_out: tuple[int, ...]  # 0-based line numbers of ptb.train.txt left out


def load(held_out=(), train_tokens: int | None = None) -> Corpus:
    """PTB with the given training lines (0-based) held out of ``train``.

    ``train_tokens``: keep only the first that many training tokens (smoke
    runs); None keeps them all. The vocabulary is always the whole training
    file's, so held-out lines and every split stay in vocabulary.
    """
    lines = {s: read_lines(s) for s in SPLITS}
    vocab = build_vocabulary(lines["train"])
    if len(vocab) != VOCAB_SIZE:
        raise corpora.DataError(
            f"ptb.train.txt gives {len(vocab)} word types, expected {VOCAB_SIZE}"
        )
    skip = set(held_out)
    kept = [line for i, line in enumerate(lines["train"]) if i not in skip]
    train = encode(kept, vocab)
    if train_tokens is not None:
        train = train[:train_tokens]
    return Corpus(
        vocab,
        train,
        encode(lines["valid"], vocab),
        encode(lines["test"], vocab),
        tuple(sorted(skip)),
    )
