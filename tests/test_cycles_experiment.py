"""E3 helpers: the column layout of the analysis, the perplexity table."""

import dataclasses

import numpy as np
import torch

from rnnmem_utils import config
from rnnmem_utils.data import cycles as data
from rnnmem_utils.experiments import cycles as e3


def test_columns_cover_each_analysed_position_once():
    idx, analysed, real = e3.columns(1000, 7, burn=30)
    assert sorted(idx[analysed].tolist()) == list(range(30, 1000))
    # each column starts with its own 30 tokens of history, contiguous
    assert np.all(np.diff(idx[:, :-1], axis=0) == 1)
    assert real.sum() >= analysed.sum()


def test_column_states_match_one_sequential_pass():
    """With a burn-in, states computed in parallel columns equal those of one
    pass over the whole stream (the model forgets what lies beyond the burn-in)."""
    cfg = config.resolve("cycles", "smoke")
    model = e3.build_model(cfg)
    with torch.no_grad():  # a strongly forgetting model: forget gate ~ 0.5
        model.rnn.weight_hh_l0.mul_(0.5)
    valid = data.generate(3000, np.random.default_rng(0))
    states, labels = e3.valid_states(model, valid, burn=100, n_columns=8)
    whole = model.states(torch.as_tensor(valid.tokens)[:, None])["c"][:, 0].numpy()
    assert np.allclose(states["c"], whole[100:], atol=1e-5)
    assert np.array_equal(labels["token ID"], valid.tokens[100:])


def test_perplexity_table_lists_paper_and_minima():
    table = e3.perplexity_table(
        {"valid": 1.2, "test": 1.19, "min_paper": 1.1375, "min_entropy_rate": 1.1545}
    )
    assert table.published.tolist()[:3] == [1.2906, 1.1932, 1.1375]


def _forgetful_model(cfg):
    model = e3.build_model(cfg)
    with torch.no_grad():  # a strongly forgetting model: forget gate ~ 0.5
        model.rnn.weight_hh_l0.mul_(0.5)
    return model


def test_gradient_sums_count_each_source_and_target_once():
    """Counts per delay against a direct count on the stream: every new token
    at positions burn..n-1 is a source once, for each delay whose target
    lies inside the stream (no burn-in copy, no padded target)."""
    cfg = config.resolve(
        "cycles",
        "smoke",
        {"max_delay": 8, "gradient_tokens": 700, "gradient_streams": 5},
    )
    valid = data.generate(3000, np.random.default_rng(1))
    burn = 2 * cfg.max_delay
    n = burn + cfg.gradient_tokens
    sums = e3.gradient_sums(cfg, _forgetful_model(cfg), valid, burn)
    pos = np.arange(burn, n)
    sources = pos[valid.new[pos] == 1]
    taus = range(cfg.max_delay)
    expected_new = [int((sources + tau < n).sum()) for tau in taus]
    assert sums["new"].counts[0].tolist() == expected_new
    assert sums["all"].counts[0].tolist() == [n - burn] * cfg.max_delay


def test_gradient_sums_equal_one_sequential_pass():
    """Columns with burn-in and lookahead give the sums of one pass over the
    whole stream (a forgetting model loses what lies beyond the burn-in)."""
    cfg = config.resolve(
        "cycles",
        "smoke",
        {"max_delay": 8, "gradient_tokens": 700, "gradient_streams": 5},
    )
    valid = data.generate(3000, np.random.default_rng(2))
    model, burn = _forgetful_model(cfg), 2 * cfg.max_delay
    cols = e3.gradient_sums(cfg, model, valid, burn)
    one = e3.gradient_sums(
        dataclasses.replace(cfg, gradient_streams=1), model, valid, burn
    )
    for key in ("all", "new"):
        assert torch.equal(cols[key].counts, one[key].counts)
        assert torch.allclose(cols[key].mean(), one[key].mean(), atol=1e-5)
