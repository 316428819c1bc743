"""Gold POS tags in the language model's own vocabulary.

The NLTK Penn Treebank sample (WSJ files 0001-0199, 3,914 sentences) is the
source of lines 2-3911 of ``ptb.train.txt`` after PTB's normalisation
(Mikolov's preprocessing; the REFERENCE summary of Verwimp et al. 2018, E4):

- ``-NONE-`` traces (``*T*-1``, ``0``, ``*U*``) and punctuation tags
  (``, . : `` '' -LRB- -RRB-``) are dropped; ``$`` and ``#`` are words;
- words are lowercased; a number (a digit followed by digits and ``, . / : -``
  or the treebank's escaped ``\\/``) and ``%`` become ``N``;
- a word outside the 10k vocabulary becomes ``<unk>``.

:func:`align` normalises every treebank sentence and aligns the sequence of
sentences with the training lines (:class:`difflib.SequenceMatcher`: a
sentence PTB dropped shifts the rest), so the result says which sentences
align exactly and which do not, instead of assuming a line-by-line match.
The aligned lines are E4's analysis set: held out of training, each token
with its gold tag.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from . import corpora

DROPPED_TAGS = frozenset({",", ".", ":", "``", "''", "-LRB-", "-RRB-", "-NONE-"})
_NUMBER = re.compile(r"^[+-]?\d[\d,./:\\-]*$")
FIRST_LINE, LAST_LINE = 1, 3910  # 0-based: ptb.train.txt lines 2-3911
SENTENCES = 3_914  # sentences in the NLTK sample


def normalise_word(word: str, vocab) -> str:
    """One treebank word in PTB's form (the tag is checked by the caller)."""
    w = word.lower()
    if w == "%" or _NUMBER.match(w):
        return "N"
    return w if w in vocab else "<unk>"


def normalise(tagged: list[tuple[str, str]], vocab) -> list[tuple[str, str]]:
    """A tagged treebank sentence -> ``[(ptb_word, tag), ...]`` in PTB's form."""
    return [(normalise_word(w, vocab), t) for w, t in tagged if t not in DROPPED_TAGS]


def tagged_sentences() -> list[list[tuple[str, str]]]:
    """The NLTK treebank sample from the verified ``treebank.zip`` in the data
    directory (nltk reads it there; nothing is downloaded)."""
    import nltk
    from nltk.corpus.reader import BracketParseCorpusReader

    path = corpora.locate("treebank", download=False)  # verified, else DataError
    root = str(path.parents[1])  # <data>/nltk_data: nltk only opens files under
    if root not in nltk.data.path:  # a directory on its search path
        nltk.data.path.insert(0, root)
    zip_root = nltk.data.ZipFilePathPointer(str(path), "treebank/combined/")
    reader = BracketParseCorpusReader(zip_root, r"wsj_.*\.mrg")
    return [list(s) for s in reader.tagged_sents()]


@dataclass(frozen=True)
class Alignment:
    """Treebank sentences matched to training lines.

    ``pairs``: (sentence index, 0-based line of ptb.train.txt, [(word, tag)])
    for every sentence whose normalised words equal its line exactly;
    ``unmatched``: sentence indices with no exactly equal line;
    ``lines_unmatched``: lines of the window with no exactly equal sentence.
    """

    pairs: tuple[tuple[int, int, tuple[tuple[str, str], ...]], ...]
    unmatched: tuple[int, ...]
    lines_unmatched: tuple[int, ...]
    n_sentences: int

    @property
    def lines(self) -> tuple[int, ...]:
        return tuple(line for _, line, _ in self.pairs)


def align(
    sentences, train_lines: list[list[str]], vocab, first=FIRST_LINE, last=LAST_LINE
) -> Alignment:
    """Align normalised ``sentences`` with ``train_lines[first..last]`` (inclusive)."""
    norm = [normalise(s, vocab) for s in sentences]
    keys = [" ".join(w for w, _ in s) for s in norm]
    window = [" ".join(line) for line in train_lines[first : last + 1]]
    matcher = difflib.SequenceMatcher(None, keys, window, autojunk=False)
    pairs, seen_s, seen_l = [], set(), set()
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            pairs.append((i, first + j, tuple(norm[i])))
            seen_s.add(i)
            seen_l.add(first + j)
    return Alignment(
        tuple(pairs),
        tuple(i for i in range(len(norm)) if i not in seen_s),
        tuple(j for j in range(first, last + 1) if j not in seen_l),
        len(norm),
    )
