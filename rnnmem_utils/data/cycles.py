"""The synthetic cycles data set of Verwimp et al. (2018), section 4.2.

A *cycle* is one new random token followed by 15 repeats of the previous
cycle's new token; a line holds 5 to 10 cycles (uniform), then end-of-sentence::

    A B*15 C A*15 D C*15 E D*15 ... <eos> Z Y*15 ...

The new token differs from both tokens of the previous cycle ("C cannot be
equal to A or to B", appendix 8), so it has 8 choices among the 10 tokens.
Dependencies cross line boundaries: the last new token of a line is repeated
in the first cycle of the next. Generated from a seed, never stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_TOKENS = 10  # vocabulary of 10 tokens ...
EOS = N_TOKENS  # ... plus end-of-sentence
VOCAB_SIZE = N_TOKENS + 1
REPEATS = 15  # each new token is repeated 15 times in the next cycle
CYCLE_LEN = REPEATS + 1
MIN_CYCLES, MAX_CYCLES = 5, 10  # cycles per line, uniform
COUNT_EOS = CYCLE_LEN  # counting label of <eos> (new token: 0, repeats: 1..15)


@dataclass(frozen=True)
class CycleStream:
    """Tokens and their labels (all ``(n,)`` int64 arrays, stream order).

    ``count``: 0 at a new random token (token-<x>-1), 1..15 along the repeats,
    16 (:data:`COUNT_EOS`) at <eos>. ``new``: 1 at a new token, 0 elsewhere,
    2 at <eos> (the paper's 'New token' classes). ``line_cycles``: cycles of
    each complete line.
    """

    tokens: np.ndarray
    count: np.ndarray
    new: np.ndarray
    line_cycles: np.ndarray


def _new_token(rng: np.random.Generator, forbidden: tuple[int, int]) -> int:
    """A token uniform over the 8 not in ``forbidden`` (the previous cycle's two)."""
    allowed = [t for t in range(N_TOKENS) if t not in forbidden]
    return int(allowed[rng.integers(len(allowed))])


def generate(n_tokens: int, rng: np.random.Generator) -> CycleStream:
    """Generate ``n_tokens`` tokens of the cycles data (section 4.2.1)."""
    tokens, counts, lines = [], [], []
    first, repeated = (int(t) for t in rng.choice(N_TOKENS, 2, replace=False))
    while len(tokens) < n_tokens:
        n_cycles = int(rng.integers(MIN_CYCLES, MAX_CYCLES + 1))
        for _ in range(n_cycles):
            tokens += [first] + [repeated] * REPEATS
            counts += list(range(CYCLE_LEN))
            first, repeated = _new_token(rng, (first, repeated)), first
        tokens.append(EOS)
        counts.append(COUNT_EOS)
        lines.append(n_cycles)
    tokens = np.asarray(tokens[:n_tokens], dtype=np.int64)
    count = np.asarray(counts[:n_tokens], dtype=np.int64)
    new = np.where(count == 0, 1, np.where(count == COUNT_EOS, 2, 0))
    complete = int((count == COUNT_EOS).sum())
    return CycleStream(tokens, count, new, np.asarray(lines[:complete], dtype=np.int64))


def line_perplexity(n_cycles: int) -> float:
    """Appendix 8, eq. 25: PPL of a line of ``n_cycles`` cycles, (1/8)^(-l/(16l+1)).

    Only the new tokens are uncertain (p = 1/8); the repeats and <eos> are
    taken as certain, as the paper does.
    """
    choices = N_TOKENS - 2
    return choices ** (n_cycles / (CYCLE_LEN * n_cycles + 1))


def min_perplexity() -> float:
    """Appendix 8, eq. 26: the mean of the line perplexities over l = 5..10 (1.1375)."""
    lengths = range(MIN_CYCLES, MAX_CYCLES + 1)
    return float(np.mean([line_perplexity(n) for n in lengths]))


def entropy_rate_perplexity() -> float:
    """The true per-token minimum perplexity of the stream, exp(H / N).

    Differs from :func:`min_perplexity` in two ways the appendix glosses over:
    it averages log-probabilities over tokens (not perplexities over lines),
    and the line length is itself random, so choosing between <eos> and
    another cycle carries log(6) nats per line in total.
    """
    lengths = np.arange(MIN_CYCLES, MAX_CYCLES + 1)
    n_lines_choice = len(lengths)
    nats = lengths.mean() * math.log(N_TOKENS - 2) + math.log(n_lines_choice)
    return math.exp(nats / (CYCLE_LEN * lengths.mean() + 1))
