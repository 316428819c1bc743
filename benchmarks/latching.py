"""Vectorised multi-seed trainer vs training the same models one at a time.

Prints, in one run: the time of R models trained as one vectorised model and
one after another (same code path, R=1 each), their ratio, the largest
parameter difference between the two, and the projected time of the full
``default`` and ``paper`` E1 grids (3 cells x 26 lengths x repeats x 5 epochs x
10,000 sequences) measured on a slice of training steps.

    python benchmarks/latching.py [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import rnnmem_utils as rm
from rnnmem_utils.data.latching import make_split
from rnnmem_utils.training import multiseed as ms


class Clock:
    """Wall and process-CPU seconds of a block (CPU time is what a loaded,
    shared machine distorts least)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def compare(cell: str, n_models: int, seq_len: int, n: int) -> None:
    """Same models, same seeds: all at once vs one at a time."""
    spec = ms.TrainSpec(cell, "keras2018", 1, epochs=1)
    splits = [make_split("latching", n, seq_len, seed=0)]
    seeds = list(range(n_models))
    ms.train_multiseed(spec, splits, [0, 0], seeds[:2])  # warm-up
    with Clock() as vec:
        together = ms.train_multiseed(spec, splits, [0] * n_models, seeds)
    with Clock() as one:
        alone = [ms.train_multiseed(spec, splits, [0], [s]) for s in seeds]
    err = max(
        float((together.params[k][r] - a.params[k][0]).abs().max())
        for r, a in enumerate(alone)
        for k in a.params
    )
    print(
        f"{cell:5s} R={n_models} L={seq_len} N={n}: vectorised {vec.wall:6.2f} s "
        f"(cpu {vec.cpu:6.2f}), one at a time {one.wall:7.2f} s (cpu {one.cpu:7.2f}), "
        f"ratio {one.wall / vec.wall:6.1f}x (cpu {one.cpu / vec.cpu:6.1f}x), "
        f"max |param diff| {err:.2e}"
    )


def grid_step_time(cell: str, cfg, steps: int = 10) -> tuple[float, float]:
    """Wall and CPU seconds per optimizer step of one whole-grid chunk."""
    runs = [d for d in range(len(cfg.lengths)) for _ in range(cfg.repeats)]
    spec = ms.TrainSpec(cell, "keras2018", 1, epochs=1, batch_size=cfg.batch_size)
    n = cfg.batch_size * steps * 10 // 8  # 80% train -> `steps` steps
    splits = [make_split("latching", n, L, seed=L) for L in cfg.lengths]
    with Clock() as c:
        ms.train_multiseed(spec, splits, runs, list(range(len(runs))))
    return c.wall / steps, c.cpu / steps


def project(preset: str) -> None:
    cfg = rm.config.resolve("latching", preset)
    n_train = int(cfg.n_sequences * (1 - cfg.val_fraction))
    steps = cfg.epochs * -(-n_train // cfg.batch_size)
    wall = cpu = 0.0
    for cell in cfg.cells:
        w, c = grid_step_time(cell, cfg)
        wall, cpu = wall + w * steps, cpu + c * steps
        print(
            f"  {preset} grid {cell:5s}: {w * 1e3:6.1f} ms/step (cpu {c * 1e3:6.1f}) "
            f"x {steps} steps = {w * steps / 60:5.1f} min (cpu {c * steps / 60:5.1f})"
        )
    limit, budget = (600, "10 min") if preset == "default" else (3600, "1 hour")
    print(
        f"  {preset} E1 grid ({len(cfg.cells)} cells x {len(cfg.lengths)} lengths x "
        f"{cfg.repeats} repeats x {cfg.epochs} epochs): projected {wall / 60:.1f} min "
        f"wall, {cpu / 60:.1f} min cpu -> {'fits' if cpu <= limit else 'MISSES'} the "
        f"{budget} target on cpu time ({'fits' if wall <= limit else 'misses'} on "
        f"wall time at this machine's current load)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    print("== vectorised vs one at a time (1 epoch, Keras 2018 cells)")
    for cell in ("rnn", "lstm", "gru"):
        compare(cell, n_models=100, seq_len=50, n=400)
    print("== projected full E1 grids (keras2018 cells; measured on 10 steps)")
    project("default")
    project("paper")


if __name__ == "__main__":
    main()
