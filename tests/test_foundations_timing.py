"""Timing helper: interleaved rounds, thread CPU time, medians of paired ratios."""

import time

import numpy as np
import pytest

from rnnmem_utils import timing


def test_rounds_are_interleaved_and_rotated():
    order = []
    fns = {k: (lambda k=k: None) for k in "ABC"}
    timing.interleaved(fns, rounds=4, warmup=0, trace=order)
    rounds = [order[i : i + 3] for i in range(0, 12, 3)]
    assert all(sorted(r) == ["A", "B", "C"] for r in rounds)  # ABC ABC, not AAA
    assert [r[0] for r in rounds] == ["A", "B", "C", "A"]  # nobody always first


def test_seconds_per_call_with_a_known_clock():
    now = [0.0]
    cost = {"fast": 1.0, "slow": 3.0}

    def fn(key):
        now[0] += cost[key]

    out = timing.interleaved(
        {k: (lambda k=k: fn(k)) for k in cost},
        rounds=5,
        warmup=2,
        number=4,
        clock=lambda: now[0],
    )
    np.testing.assert_array_equal(out["fast"], np.ones(5))
    np.testing.assert_array_equal(out["slow"], 3 * np.ones(5))
    assert timing.median_ratio(out["fast"], out["slow"]) == pytest.approx(1 / 3)


def test_median_of_paired_ratios_ignores_a_burst_of_load():
    a = np.array([1.0, 1.0, 1.0, 9.0, 1.0])  # round 3: both slowed by a burst
    b = np.array([2.0, 2.0, 2.0, 18.0, 2.0])
    assert timing.median_ratio(a, b) == 0.5
    a[1] = 50.0  # one variant alone hit: the median does not move
    assert timing.median_ratio(a, b) == 0.5


def test_thread_time_does_not_count_time_off_the_cpu():
    # Time spent not running (sleeping here; descheduled by other processes'
    # load alike) is not counted by the default clock.
    out = timing.interleaved({"sleep": lambda: time.sleep(0.02)}, rounds=3, warmup=0)
    assert out["sleep"].max() < 0.01


def test_bad_rounds_refused():
    with pytest.raises(ValueError, match="rounds"):
        timing.interleaved({"a": lambda: None}, rounds=0)


def test_peak_gemm_rate_on_the_clock_asked_for():
    """The peak is read on the clock the benchmark times its methods on: a
    clock that stands still while the matmul runs gives an infinite rate, one
    that advances a known second per call gives 2 n^3 FLOP per second."""
    ticks = iter(range(100))
    rate = timing.peak_gemm_gflops(n=64, repeats=3, clock=lambda: next(ticks))
    assert rate == pytest.approx(2 * 64**3 / 1e9)
    assert 0 < timing.peak_gemm_gflops(n=64, repeats=2, clock=time.thread_time)
