"""The synthetic cycles generator (Verwimp et al. 2018, section 4.2, appendix 8)."""

import math

import numpy as np
import pytest
from scipy import stats

from rnnmem_utils.data import cycles

N_TOKENS = 600_000


@pytest.fixture(scope="module")
def stream():
    return cycles.generate(N_TOKENS, np.random.default_rng(123))


def _lines(tokens):
    """Split a token stream at <eos>: complete lines only."""
    ends = np.flatnonzero(tokens == cycles.EOS)
    starts = np.r_[0, ends[:-1] + 1]
    return [tokens[s:e] for s, e in zip(starts, ends, strict=True)]


def test_every_line_obeys_the_cycle_grammar(stream):
    prev_new, prev_rep = None, None
    for line in _lines(stream.tokens):
        assert len(line) % 16 == 0 and 5 <= len(line) // 16 <= 10
        for cycle in line.reshape(-1, 16):
            new, reps = int(cycle[0]), cycle[1:]
            assert np.all(reps == reps[0]) and 0 <= new < cycles.N_TOKENS
            if prev_new is not None:
                # 15 repeats of the previous new token (across line boundaries too)
                assert reps[0] == prev_new
                assert new not in (prev_new, prev_rep)  # "C cannot be A or B"
            prev_new, prev_rep = new, int(reps[0])


def test_cycles_per_line_uniform_5_to_10(stream):
    counts = np.bincount(stream.line_cycles, minlength=11)[5:11]
    assert counts.sum() > 4000 and np.bincount(stream.line_cycles)[:5].sum() == 0
    assert stats.chisquare(counts).pvalue > 1e-3


def test_new_token_uniform_over_8_choices(stream):
    new = stream.tokens[stream.count == 0]
    prev = np.r_[-1, new[:-1]]
    # given the previous new token, each of the other 9 appear (8 allowed each time)
    assert set(np.unique(new[prev == 3])) == set(range(10)) - {3}


def test_labels_align_with_tokens(stream):
    assert np.all(stream.tokens[stream.count == cycles.COUNT_EOS] == cycles.EOS)
    assert np.all((stream.new == 1) == (stream.count == 0))
    assert stream.tokens.dtype == np.int64 and len(stream.tokens) == N_TOKENS


def test_same_seed_same_stream_and_different_seed_differs():
    a = cycles.generate(5000, np.random.default_rng(7)).tokens
    b = cycles.generate(5000, np.random.default_rng(7)).tokens
    c = cycles.generate(5000, np.random.default_rng(8)).tokens
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_min_perplexity_is_the_papers_value():
    assert cycles.min_perplexity() == pytest.approx(1.1375, abs=5e-5)
    assert cycles.line_perplexity(5) == pytest.approx(1.1369, abs=1e-4)  # eq. 25


def _oracle_nll(tokens):
    """Per-token NLL (nats) of the optimal predictor, read from the tokens alone:
    a new token has p = 1/8, a repeat p = 1, and after k >= 5 cycles <eos> has
    p = 1/(11 - k) (the line length is uniform on 5..10). Starts at the first
    <eos>; returns (nll per line, tokens per line, new tokens per line)."""
    i = int(np.flatnonzero(tokens == cycles.EOS)[0]) + 1
    lines = []
    while True:
        nll, n, k = 0.0, 0, 0
        while True:
            if i + 16 > len(tokens):
                return lines
            nll += math.log(8)  # the new token
            assert np.all(tokens[i + 1 : i + 16] == tokens[i + 1])
            i, n, k = i + 16, n + 16, k + 1
            p_eos = 1 / (11 - k) if k >= 5 else 0.0
            if i < len(tokens) and tokens[i] == cycles.EOS:
                nll -= math.log(p_eos)
                lines.append((nll, n + 1, k))
                i += 1
                break
            nll -= math.log(1 - p_eos) if p_eos < 1 else -math.inf


def test_min_perplexity_against_empirical_entropy(stream):
    lines = np.array(_oracle_nll(stream.tokens))
    nll, n, k = lines.T
    # entropy rate of the stream (independent of the closed form)
    assert math.exp(nll.sum() / n.sum()) == pytest.approx(
        cycles.entropy_rate_perplexity(), rel=2e-3
    )
    # the appendix's convention: line perplexities (eos certain) averaged over lines
    per_line = np.exp(k * math.log(8) / n)
    assert per_line.mean() == pytest.approx(cycles.min_perplexity(), rel=2e-3)
