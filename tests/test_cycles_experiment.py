"""E3 helpers: the column layout of the analysis, the perplexity table."""

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
