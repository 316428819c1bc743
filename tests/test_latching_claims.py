"""E1/E2 claims: ties are ties, rankings carry their interval, Wilson bands."""

import math

import numpy as np
import pandas as pd
import pytest

import rnnmem_utils as rm
from rnnmem_utils.experiments import latching as ex
from rnnmem_utils.experiments.bit_relay import claims as bc
from rnnmem_utils.experiments.latching import claims as lc


def _runs(acc: dict, part="relay", style="keras2018") -> pd.DataFrame:
    """Runs from {cell: {seq_len: [val_acc per repeat]}}."""
    rows = [
        dict(
            part=part,
            cell=cell,
            style=style,
            seq_len=L,
            shuffled=True,
            repeat=r,
            seed=0,
            val_acc=a,
        )
        for cell, by_len in acc.items()
        for L, accs in by_len.items()
        for r, a in enumerate(accs)
    ]
    return pd.DataFrame(rows)


def _relay(acc: dict):
    cfg = rm.config.resolve("bit_relay", "smoke", {"styles": ["keras2018"]})
    runs = _runs(acc)
    summary = ex.summarise(runs, 0.9)
    cs = bc.bit_relay_claims(cfg, "smoke", summary, None, runs)
    return {c.id: c for c in cs.claims}, summary


def test_a_tie_is_not_a_win():
    ones = [1.0] * 5
    _, summary = _relay(
        {
            "gru": {4: ones, 10: [0.5] * 5},
            "lstm": {4: ones, 10: [0.6] * 5},
            "rnn": {4: ones, 10: [0.7] * 5},
        }
    )
    # idxmax would call L = 4 a GRU win (alphabetically first of three 1.0s)
    assert lc.per_length_wins(summary, "relay", "gru") == (0, 1, 2)
    assert lc.per_length_wins(summary, "relay", "rnn") == (1, 1, 2)
    tied = summary.assign(mean_acc=1.0)
    assert lc._winner(tied, "relay")[0] == "tie"


def test_a_lead_inside_the_noise_is_within_noise_not_a_win():
    rng = np.random.default_rng(0)
    noisy = {
        c: {L: list(rng.choice([0.5, 1.0], 10)) for L in (4, 10, 20, 40)}
        for c in ("gru", "lstm", "rnn")
    }
    noisy["gru"][4][0] = 1.0  # make sure the GRU leads the means a little
    claims, _ = _relay(noisy)
    c = claims["relay_gru_best"]
    lo, hi = c.interval
    assert lo < 0 < hi
    assert c.verdict == rm.claims.PARTLY and "within noise" in c.difference
    assert c.holds_across_interval is False
    # a clear lead is a win, a clear deficit a loss
    clear = {k: {L: [0.5] * 10 for L in (4, 10)} for k in ("lstm", "rnn")}
    claims, _ = _relay({**clear, "gru": {L: [1.0] * 10 for L in (4, 10)}})
    assert claims["relay_gru_best"].verdict == rm.claims.REPRODUCED
    claims, _ = _relay({**clear, "gru": {L: [0.3] * 10 for L in (4, 10)}})
    assert claims["relay_gru_best"].verdict == rm.claims.NOT_REPRODUCED


def test_an_lstm_clearly_worse_than_the_rnn_contradicts_both_sources():
    assert bc.lstm_marginal_verdict(-0.119) == rm.claims.NOT_REPRODUCED
    assert bc.lstm_marginal_verdict(-0.008) == rm.claims.REPRODUCED
    assert bc.lstm_marginal_verdict(0.08) == rm.claims.REPRODUCED
    assert bc.lstm_marginal_verdict(0.3) == rm.claims.PARTLY


def test_difference_interval_against_a_naive_paired_bootstrap():
    rng = np.random.default_rng(1)
    a = pd.Series(rng.choice([0.5, 1.0], 40, p=[0.3, 0.7]))
    b = pd.Series(rng.choice([0.5, 1.0], 40, p=[0.6, 0.4]))
    lo, hi = lc._diff_interval(a, b)
    # independent: resample index pairs with numpy, percentile interval
    idx = rng.integers(0, 40, (20_000, 40))
    d = a.to_numpy()[idx].mean(1) - b.to_numpy()[idx].mean(1)
    assert lo == pytest.approx(np.quantile(d, 0.025), abs=0.02)
    assert hi == pytest.approx(np.quantile(d, 0.975), abs=0.02)
    assert lo < a.mean() - b.mean() < hi


def _wilson(k, n, z=1.959963984540054):
    """The Wilson score interval, closed form."""
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return mid - half, mid + half


def test_summary_carries_wilson_intervals_of_the_success_frequency():
    runs = _runs({"rnn": {5: [1.0] * 5 + [0.5] * 5, 30: [1.0] * 7 + [0.5] * 3}})
    s = ex.summarise(runs, 0.9).set_index("seq_len")
    for L, k in ((5, 5), (30, 7)):
        lo, hi = _wilson(k, 10)
        assert s.loc[L, "success_lo"] == pytest.approx(lo, abs=1e-9)
        assert s.loc[L, "success_hi"] == pytest.approx(hi, abs=1e-9)
    assert s.loc[5, "success_lo"] == pytest.approx(0.2366, abs=1e-4)


def test_success_curve_draws_the_wilson_band():
    from rnnmem_utils.plotting import latching as pl

    runs = _runs({"rnn": {5: [1.0] * 5 + [0.5] * 5, 30: [1.0] * 7 + [0.5] * 3}}, "grid")
    fig = pl.success_vs_length(ex.summarise(runs, 0.9), "grid")
    bands = fig.axes[0].collections
    assert len(bands) == 1
    verts = np.concatenate([p.vertices for p in bands[0].get_paths()])
    assert verts[:, 1].min() == pytest.approx(_wilson(5, 10)[0], abs=1e-9)
    assert verts[:, 1].max() == pytest.approx(_wilson(7, 10)[1], abs=1e-9)


def test_margin_claims_carry_a_bootstrap_interval():
    cfg = rm.config.resolve("latching", "smoke", {"cells": ["rnn"]})
    grid = {"rnn": {L: [1.0] * 8 + [0.5] * 2 for L in (2, 5, 8)}}
    grid["rnn"].update({L: [1.0] * 4 + [0.5] * 6 for L in (100, 150, 200)})
    runs = _runs(grid, "grid")
    summary = ex.summarise(runs, 0.9)
    cs = rm.claims.ClaimSet("latching", cfg, "smoke")
    lc._grid_claims(cs, summary, runs, cfg)
    c = cs.claims[0]
    assert c.id == "grid_rnn_falls" and c.reproduced == pytest.approx(0.4)
    lo, hi = c.interval
    assert lo < 0.3 < hi and c.holds_across_interval is False
