"""Characters and toy sequence tasks for the foundations lesson (seed 003).

- :func:`encode` / :func:`decode`: text8's 27 characters (space, a-z) <-> ids.
- :func:`binary_sequences`: every binary sequence of a length (exhaustive checks).
- :func:`delayed_recall`: a task whose dependency length is known exactly: the
  target at step ``t`` is the input at step ``t - delay``.

All generators take an explicit ``np.random.Generator``; nothing is stored.
"""

from __future__ import annotations

import itertools

import numpy as np

ALPHABET = " abcdefghijklmnopqrstuvwxyz"  # text8's characters; id 0 is the space
VOWELS = frozenset("aeiou")
IGNORE = -100  # the target id ``torch.nn.functional.cross_entropy`` skips


def encode(text: str) -> np.ndarray:
    """Characters -> int64 ids in ``0..26`` (space is 0)."""
    table = np.full(256, -1, dtype=np.int64)
    table[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))
    ids = table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if (ids < 0).any():
        raise ValueError("text holds characters outside text8's alphabet (a-z, space)")
    return ids


def decode(ids) -> str:
    return "".join(ALPHABET[i] for i in np.asarray(ids).ravel())


def binary_sequences(seq_len: int) -> np.ndarray:
    """All ``2**seq_len`` binary sequences, time-major: ``(seq_len, 2**seq_len)``."""
    rows = list(itertools.product((0, 1), repeat=seq_len))
    return np.array(rows, dtype=np.int64).T


def repeat_targets(x: np.ndarray) -> np.ndarray:
    """The brute-force definition of the lecture's repeat detector: ``y_t = 1``
    exactly when ``x_t`` and ``x_{t-1}`` are both 1 (``x_{-1}`` counts as 0).

    Written as a plain loop on purpose: it is the independent reference the
    hand-built RNN is checked against. ``x``: ``(T, B)`` of 0/1.
    """
    y = np.zeros_like(x)
    for b in range(x.shape[1]):
        for t in range(1, x.shape[0]):
            y[t, b] = int(x[t, b] == 1 and x[t - 1, b] == 1)
    return y


def random_binary(
    seq_len: int, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Random 0/1 sequences, ``(seq_len, batch_size)``."""
    return rng.integers(0, 2, size=(seq_len, batch_size), dtype=np.int64)


def delayed_recall(
    seq_len: int, batch_size: int, delay: int, n_symbols: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Delayed recall: output at step ``t`` the symbol seen at step ``t - delay``.

    Returns ``x`` and ``y``, both ``(seq_len, batch_size)`` int64; the first
    ``delay`` targets are :data:`IGNORE` (nothing to recall yet). Solving it
    needs a gradient path of exactly ``delay`` steps from each target to its
    input, which is what truncated BPTT cuts.
    """
    if not 0 < delay < seq_len:
        raise ValueError(f"delay must be in 1..{seq_len - 1}, got {delay}")
    x = rng.integers(0, n_symbols, size=(seq_len, batch_size), dtype=np.int64)
    y = np.full_like(x, IGNORE)
    y[delay:] = x[:-delay]
    return x, y


def char_features(ids: np.ndarray, word: str = "the") -> dict[str, np.ndarray]:
    """Nameable per-character features a unit might track (lecture: 'interpretable
    units'), each a float array aligned with ``ids`` (1-D):

    - ``position_in_word``: characters since the last space (0 on a space);
    - ``word_boundary``: 1 on a space;
    - ``vowel_after_consonant``: 1 on a vowel whose previous character is a consonant;
    - ``in_<word>``: 1 on every character of an occurrence of ``word``.
    """
    text = decode(ids)
    pos = np.zeros(len(text))
    for i, ch in enumerate(text):
        pos[i] = 0 if ch == " " else (pos[i - 1] + 1 if i else 1)
    vowel = np.array([ch in VOWELS for ch in text])
    consonant = np.array([ch != " " and ch not in VOWELS for ch in text])
    vac = vowel & np.concatenate([[False], consonant[:-1]])
    return {
        "position_in_word": pos,
        "word_boundary": (ids == 0).astype(float),
        "vowel_after_consonant": vac.astype(float),
        f"in_{word}": _word_mask(text, word),
    }


def _word_mask(text: str, word: str) -> np.ndarray:
    mask = np.zeros(len(text))
    padded = f" {word} "
    start = text.find(padded)
    while start >= 0:
        mask[start + 1 : start + 1 + len(word)] = 1
        start = text.find(padded, start + len(word) + 1)
    return mask
