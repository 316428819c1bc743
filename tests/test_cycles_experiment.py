"""E3 helpers: the column layout of the analysis, the perplexity table."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from rnnmem_utils import claims as cl
from rnnmem_utils import config
from rnnmem_utils.data import cycles as data
from rnnmem_utils.experiments import cycles as e3
from rnnmem_utils.experiments.cycles import claims as e3c


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
    with e3.single_thread():  # tiny ops: threads only contend on a shared CPU
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
    with e3.single_thread():
        cols = e3.gradient_sums(cfg, model, valid, burn)
        one_column = dataclasses.replace(cfg, gradient_streams=1)
        one = e3.gradient_sums(one_column, model, valid, burn)
    for key in ("all", "new"):
        assert torch.equal(cols[key].counts, one[key].counts)
        assert torch.allclose(cols[key].mean(), one[key].mean(), atol=1e-5)


def test_drops_are_labelled_by_the_delay_they_arrive_at():
    y = np.full(40, 10.0)
    y[9:], y[23:], y[24:] = 8.0, 6.0, 3.0  # drops arriving at 9, 23 and 24
    drops = e3c.one_step_drops(y)
    assert np.isnan(drops[0]) and drops[9] == pytest.approx(np.log(10 / 8))
    assert e3c.drop_at(y, 9, 23) == 23  # both window ends included
    assert e3c.drop_at(y, 9, 22) == 9
    assert e3c.drop_at(y, 24, 30) == 24
    assert e3c.largest_drops(y, 2) == [23, 24]


def _curve_table(drops_at, max_delay=50):
    y = np.exp(-0.01 * np.arange(max_delay))
    for tau in drops_at:
        y[tau:] *= 0.5
    return pd.DataFrame(
        {"delay": np.arange(max_delay), "value": y, "group": "new token"}
    ).assign(statistic="sum_sigma")


@pytest.mark.parametrize(
    "drops_at,verdict",
    [
        ((18, 34), cl.REPRODUCED),
        ((14, 30), cl.REPRODUCED),
        ((17, 37), cl.PARTLY),
        ((11, 40), cl.NOT_REPRODUCED),
    ],
)
def test_drop_claim_judges_the_two_largest_drops_near_16_and_32(drops_at, verdict):
    cfg = config.resolve("cycles", "smoke")
    ideal = pd.DataFrame(
        [("first repeat", 17, 0.87), ("first repeat", 18, 0.13)]
        + [("next new token", 32, 0.73), ("next new token", 33, 0.27)],
        columns=["event", "delay", "share"],
    )
    claims = cl.ClaimSet("cycles", cfg, "smoke")
    e3c._curve_claims(claims, _curve_table(drops_at), 50, ideal)
    claim = next(c for c in claims.claims if c.id == "new_token_drops_16")
    assert claim.verdict == verdict
    assert claim.details["largest_drops"] == list(drops_at)
    assert "17 and 32" in claim.difference


def test_ideal_drops_against_a_direct_scan_of_the_stream():
    """First repeat of each new token (its next occurrence: the tokens between
    differ from it) and the next new token after those repeats."""
    stream = data.generate(20_000, np.random.default_rng(3))
    news = np.flatnonzero(stream.count == 0)
    first, second = [], []
    for p in news[:-2]:
        q = p + 1 + int(np.argmax(stream.tokens[p + 1 :] == stream.tokens[p]))
        r = q + int(np.argmax(stream.count[q:] == 0))
        first.append(q - p)
        second.append(r - p)
    ideal = e3.ideal_drops(stream)
    for event, delays in (("first repeat", first), ("next new token", second)):
        sel = ideal[ideal.event == event]
        counts = pd.Series(delays).value_counts(normalize=True).sort_index()
        assert sel.delay.tolist() == counts.index.tolist()
        assert np.allclose(sel.share, counts.to_numpy())
    # 7.5 cycles per line on average: the last cycle of a line is followed by
    # <eos> (first repeat one later); the last two are for the next new token
    shares = ideal.set_index(["event", "delay"]).share
    assert shares["first repeat", 17] == pytest.approx(1 - 1 / 7.5, abs=0.02)
    assert shares["next new token", 33] == pytest.approx(2 / 7.5, abs=0.03)


def test_every_claim_says_it_rests_on_one_seed():
    cfg = config.resolve("cycles", "smoke")
    ppl = {"valid": 1.2, "test": 1.19, "min_paper": 1.1375, "min_entropy_rate": 1.15}
    errors = pd.DataFrame(
        {"kind": [e3.ERROR_KIND[0]], "positions": [1000], "errors": [120]}
    )
    table1 = pd.DataFrame(
        [
            (rep, task, 90.0, np.nan)
            for rep in [*e3.PUBLISHED_TABLE1, e3.EUCLIDEAN_ID]
            for task in e3.TASKS
        ],
        columns=["representation", "task", "ours", "published"],
    )
    delay_acc = pd.DataFrame(
        {"delay": np.arange(40), "state": "c", "accuracy": 0.9, "chance": 0.12}
    )
    ideal = pd.DataFrame(
        [("first repeat", 17, 1.0), ("next new token", 32, 1.0)],
        columns=["event", "delay", "share"],
    )
    claims = e3.make_claims(
        cfg, "smoke", ppl, errors, table1, _curve_table((18, 34), 40), delay_acc, ideal
    )
    assert len(claims.claims) == 14
    for claim in claims.claims:
        assert "one seed" in claim.criterion and "one seed" in claim.interval_kind
