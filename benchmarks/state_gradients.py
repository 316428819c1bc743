"""Benchmark: the state-gradient engine vs the naive per-unit backward loop.

The paper's baseline shape (embedding 64, LSTM 256, D = 50). The naive method
(one backward pass per target position and state unit, as the paper's public
code) runs beside the engine in the same process; prints target positions per
second for both, the ratio, the max error between them, and the engine's rate
against the arithmetic lower bound (D * E * H * 4H multiply-adds per target
position, at this machine's matmul rate measured here).

    .venv/bin/python benchmarks/state_gradients.py [--threads N] [--batch B]
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models.lm import RecurrentLM

VOCAB, EMB, HIDDEN, DELAYS = 10_000, 64, 256, 50


def matmul_gflops(rows: int, cols: int, repeats: int = 20) -> float:
    """The machine's float32 matmul rate on a (rows, H) @ (H, cols) product."""
    a, b = torch.randn(rows, HIDDEN), torch.randn(HIDDEN, cols)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * rows * HIDDEN * cols * repeats / (time.perf_counter() - start) / 1e9


GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # gate blocks in W_hh (G H x H)
FOLDED = {"lstm": 2, "gru": 1, "rnn": 1}  # H x H matmuls per tangent after folding


def run_naive(model, tokens, targets, state):
    start = time.perf_counter()
    out = [
        sg.naive_state_gradients(model, tokens, t, state=state, max_delay=DELAYS)
        for t in targets
    ]
    return out, len(targets) / (time.perf_counter() - start)


def run_engine(model, tokens, targets, state):
    """Every position of ``tokens`` (T, B) is a target; one group per naive target."""
    n_steps, batch = tokens.shape
    masks = {}
    for t in targets:
        m = torch.zeros(n_steps, batch, dtype=torch.bool)
        m[t, 0] = True
        masks[f"t{t}"] = m
    masks["all"] = torch.ones(n_steps, batch, dtype=torch.bool)
    start = time.perf_counter()
    sums = sg.state_gradient_sums(model, tokens, masks, state=state, max_delay=DELAYS)
    return sums, n_steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--cell", default="lstm", choices=sorted(GATES))
    parser.add_argument("--batch", type=int, default=4, help="parallel streams")
    parser.add_argument("--steps", type=int, default=100, help="stream length")
    parser.add_argument("--naive", type=int, default=3, help="naive target positions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = RecurrentLM(args.cell, VOCAB, HIDDEN, embedding_size=EMB).eval()
    state = "c" if args.cell == "lstm" else "h"
    tokens = torch.randint(0, VOCAB, (args.steps, args.batch), generator=gen)
    targets = [args.steps - 1 - 7 * i for i in range(args.naive)]
    naive, naive_rate = run_naive(model, tokens, targets, state)
    sums, engine_rate = run_engine(model, tokens, targets, state)
    err = max((sums.mean()[k] - n).abs().max().item() for k, n in enumerate(naive))
    scale = max(n.abs().max().item() for n in naive)
    report(args, naive_rate, engine_rate, err, scale)


def report(args, naive_rate, engine_rate, err, scale):
    gates, folded = GATES[args.cell], FOLDED[args.cell]
    # the D Jacobians of one target through W_hh (G H x H), as E tangents
    macs = DELAYS * EMB * HIDDEN * gates * HIDDEN
    gflops = matmul_gflops(DELAYS * EMB * args.batch, gates * HIDDEN)
    bound_rate = gflops * 1e9 / (2 * macs)
    folded_macs = DELAYS * EMB * HIDDEN * folded * HIDDEN
    folded_gflops = matmul_gflops(DELAYS * EMB, HIDDEN)  # the engine's per-stream shape
    folded_rate = folded_gflops * 1e9 / (2 * folded_macs)
    print(
        f"shape: embedding {EMB}, {args.cell.upper()} {HIDDEN}, D = {DELAYS}; "
        f"threads {args.threads}, streams {args.batch}, steps {args.steps}"
    )
    print(f"naive  (1 backward per unit):   {naive_rate:8.2f} target positions/s")
    print(f"engine (forward-mode, batched): {engine_rate:8.2f} target positions/s")
    print(f"ratio engine/naive: {engine_rate / naive_rate:.1f}x")
    print(f"max abs error engine vs naive: {err:.3g} (max |G| {scale:.3g})")
    print(
        f"bound: {2 * macs / 1e9:.2f} GFLOP per position at {gflops:.1f} GFLOP/s "
        f"-> {bound_rate:.2f} positions/s; "
        f"engine reaches {engine_rate / bound_rate:.0%}"
    )
    print(
        f"folded ({folded} H^2 per tangent): {2 * folded_macs / 1e9:.2f} GFLOP per "
        f"position at {folded_gflops:.1f} GFLOP/s -> {folded_rate:.2f} positions/s; "
        f"engine reaches {engine_rate / folded_rate:.0%}"
    )


if __name__ == "__main__":
    main()
