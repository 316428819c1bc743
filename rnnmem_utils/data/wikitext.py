"""WikiText-2 (v1, tokenized) for E4's ``wiki2_*`` language models (Table 2).

The files are ``wiki.train.tokens``, ``wiki.valid.tokens`` and
``wiki.test.tokens`` in ``<data dir>/wikitext-2/``. The text is already
tokenized, rare words already ``<unk>``; as pytorch/examples'
``word_language_model`` (and the TF PTB reader the paper's code follows),
every line, empty ones included, becomes its words followed by ``<eos>``.
The vocabulary is the training split's own (about 33k types with
``<eos>``; the paper: "a vocabulary of 33k words"), most frequent first as
:mod:`.ptb`'s, so the same training loop and perplexity code apply
(:class:`rnnmem_utils.data.ptb.Corpus`).

Verification. Each split is checked against the git blob id (SHA-1) of the
pytorch/examples copy (commit 77f55b91, ``word_language_model/data/
wikitext-2/{train,valid,test}.txt``), the only identity known for the train
split, which the public data mirror lacks; a missing or different file is a
:class:`~rnnmem_utils.data.corpora.DataError` saying where to put which file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from . import corpora
from .ptb import EOS, Corpus, Vocabulary

UNK = "<unk>"
SPLITS = ("train", "valid", "test")
# git blob ids (sha1 of "blob <size>\0" + content) of pytorch/examples' copies
BLOBS = {
    "train": "2d84b35af79e411d73ea7cae83c73964c6ac83b4",
    "valid": "eec944eb2d9e46061cd34a6913528797db6842fc",
    "test": "6f3fc88e4cd88456ea892971f9f12243e8428624",
}
SOURCE = (
    "https://github.com/pytorch/examples/raw/77f55b912142e11fcfdf5b530231fb9c52f181e8"
    "/word_language_model/data/wikitext-2/{split}.txt"
)


def path(split: str, root: Path | None = None) -> Path:
    if split not in SPLITS:
        raise ValueError(f"split {split!r}; options are {list(SPLITS)}")
    root = Path(corpora.data_dir()) if root is None else Path(root)
    return root / "wikitext-2" / f"wiki.{split}.tokens"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read(split: str, *, root: Path | None = None, verify: bool = True) -> str:
    """The text of one split, verified against its blob id (``verify``)."""
    p = path(split, root)
    fetch = (
        f"download {SOURCE.format(split=split)} and save it as {p} (WikiText-2 "
        "v1, tokenized: the same file as wiki.{split}.tokens of the official "
        "wikitext-2-v1.zip)"
    ).replace("{split}", split)
    if not p.exists():
        raise corpora.DataError(
            f"WikiText-2 {split} split not found at {p}.\nTo fix it, {fetch}."
        )
    raw = p.read_bytes()
    if verify and git_blob_sha1(raw) != BLOBS[split]:
        raise corpora.DataError(
            f"{p} is not the WikiText-2 {split} split: git blob "
            f"{git_blob_sha1(raw)}, expected {BLOBS[split]}.\nTo fix it, {fetch}."
        )
    return raw.decode("utf-8")


def lines(text: str) -> list[list[str]]:
    """One list of words per line (empty lines kept: each gives an <eos>)."""
    parts = text.split("\n")  # "\n" only, as reading the file line by line
    if parts[-1] == "":
        parts.pop()  # the final newline ends the last line, it starts none
    return [line.split() for line in parts]


def build_vocabulary(train: list[list[str]]) -> Vocabulary:
    """The training split's word types plus <eos>, most frequent first (ties:
    first seen), as :func:`rnnmem_utils.data.ptb.build_vocabulary`."""
    counts = Counter(w for line in train for w in [*line, EOS])
    order = sorted(counts, key=lambda w: -counts[w])
    return Vocabulary(tuple(order), tuple(counts[w] for w in order))


def encode(split_lines: list[list[str]], vocab: Vocabulary) -> np.ndarray:
    """Ids of every line's words and its <eos>; a word outside the training
    vocabulary (none in the official files) becomes <unk>."""
    unk = vocab.index.get(UNK)
    out = []
    for line in split_lines:
        for w in [*line, EOS]:
            i = vocab.index.get(w, unk)
            if i is None:
                raise corpora.DataError(
                    f"word {w!r} is not in the training vocabulary and there is no {UNK}"
                )
            out.append(i)
    return np.asarray(out, dtype=np.int64)


def load(
    train_tokens: int | None = None, *, root: Path | None = None, verify: bool = True
) -> Corpus:
    """WikiText-2 as a :class:`~rnnmem_utils.data.ptb.Corpus` (nothing held
    out); ``train_tokens`` keeps the first that many training tokens."""
    text = {s: read(s, root=root, verify=verify) for s in SPLITS}
    split_lines = {s: lines(t) for s, t in text.items()}
    vocab = build_vocabulary(split_lines["train"])
    train = encode(split_lines["train"], vocab)
    if train_tokens:
        train = train[:train_tokens]
    return Corpus(vocab, train, encode(split_lines["valid"], vocab),
                  encode(split_lines["test"], vocab), ())  # fmt: skip
