"""Timings that survive a shared, loaded CPU.

A timing on a machine where other processes run drifts with their load. Three
habits keep a comparison honest (the standard library's ``timeit`` notes and
pyperf's "rigs" say the same):

- **interleave**: every round runs each variant once (A B A B ..., not
  A A A B B B), its order rotated round by round, so a burst of load hits all
  variants alike instead of one of them;
- **CPU time of this thread** (``time.thread_time``) by default, not wall
  time: time while the scheduler runs other processes is not counted (torch
  must run single-threaded for this to cover all its work: see
  :func:`rnnmem_utils.experiments.harness.single_thread`);
- **medians** over rounds, and ratios paired within a round, with a bootstrap
  interval (:func:`rnnmem_utils.claims.bootstrap_interval`) over the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import numpy as np


def interleaved(
    fns: dict[Hashable, Callable[[], object]],
    *,
    rounds: int,
    warmup: int = 1,
    number: int = 1,
    clock: Callable[[], float] = time.thread_time,
    trace: list | None = None,
) -> dict[Hashable, np.ndarray]:
    """Seconds per call of each ``fns[key]()``, measured in interleaved rounds.

    ``warmup`` untimed rounds first (allocator, caches); then ``rounds`` rounds,
    each calling every function ``number`` times in a row, the order rotated by
    one each round. Returns ``{key: (rounds,) array}``: round ``i`` of every key
    comes from the same stretch of time, so ``a[i] / b[i]`` is a paired ratio.
    ``trace``, if given, receives the keys in the order they were timed.
    """
    if rounds < 1 or number < 1:
        raise ValueError(f"rounds ({rounds}) and number ({number}) must be >= 1")
    keys = list(fns)
    for _ in range(warmup):
        for key in keys:
            fns[key]()
    out = {key: np.empty(rounds) for key in keys}
    for r in range(rounds):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            t0 = clock()
            for _ in range(number):
                fns[key]()
            out[key][r] = (clock() - t0) / number
            if trace is not None:
                trace.append(key)
    return out


def median_ratio(a, b) -> float:
    """Median over rounds of the paired ratio ``a[i] / b[i]``."""
    return float(np.median(np.asarray(a, float) / np.asarray(b, float)))


def peak_gemm_gflops(n: int = 1024, repeats: int = 5, clock=time.perf_counter) -> float:
    """Best float32 rate of an (n, n) @ (n, n) matmul in GFLOP/s: the peak the
    benchmarks hold their arithmetic limits to, measured in the same run.

    ``clock``: the clock the compared methods are timed on; a benchmark that
    times one thread's CPU time (``time.thread_time``, which other processes
    on a shared machine do not stretch) measures its peak on it too."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        a @ b
        best = min(best, clock() - start)
    return 2 * n**3 / best / 1e9
