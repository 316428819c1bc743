"""Benchmark: the state-gradient engine vs the naive per-unit backward loop.

The paper's baseline shape (embedding 64, LSTM 256, D = 50). The naive method
(one backward pass per target position and state unit, as the paper's public
code) runs in two forms beside the engine, in the same process: through the
model's Python cell (``model.step``) and through the fused ``nn.LSTM``. The
engine's ratio is reported against the FASTEST naive form, the other on a
second line, with the max error against each.

Then the engine against the arithmetic its method cannot avoid: per target
position, D - 1 recurrent tangent products of E tangents each (delay 0 comes
from the input weights), each tangent F H^2 multiply-adds after folding the
gate derivatives into the weights (F = 2 for the LSTM, 1 for the GRU and the
vanilla RNN). At the peak float32 GEMM rate measured in this run (a large
square matmul) that gives a limit in positions per second; the engine's share
of it says how much room is left.

    .venv/bin/python benchmarks/state_gradients.py [--threads N] [--batch B]
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models.lm import RecurrentLM

VOCAB, EMB, HIDDEN, DELAYS = 10_000, 64, 256, 50
FOLDED = {"lstm": 2, "gru": 1, "rnn": 1}  # H x H products per tangent after folding
NAIVE = {"Python cell": False, "fused nn layer": True}  # name -> fused


def peak_gemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best float32 rate of an (n, n) @ (n, n) matmul, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def least_flop(cell: str) -> float:
    """FLOP per target position the engine's method needs at the least."""
    return 2 * (DELAYS - 1) * EMB * FOLDED[cell] * HIDDEN * HIDDEN


def run_naive(model, tokens, targets, state, fused):
    start = time.perf_counter()
    out = [
        sg.naive_state_gradients(
            model, tokens, t, state=state, max_delay=DELAYS, fused=fused
        )
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
    parser.add_argument("--cell", default="lstm", choices=sorted(FOLDED))
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
    naive = {
        name: run_naive(model, tokens, targets, state, fused)
        for name, fused in NAIVE.items()
    }
    sums, engine_rate = run_engine(model, tokens, targets, state)
    errors = {
        name: max((sums.mean()[k] - g).abs().max().item() for k, g in enumerate(out))
        for name, (out, _) in naive.items()
    }
    scale = max(g.abs().max().item() for g in naive["Python cell"][0])
    rates = {name: rate for name, (_, rate) in naive.items()}
    report(args, rates, engine_rate, errors, scale, peak_gemm_gflops())


def report(args, rates, engine_rate, errors, scale, peak):
    print(
        f"shape: embedding {EMB}, {args.cell.upper()} {HIDDEN}, D = {DELAYS}; "
        f"threads {args.threads}, streams {args.batch}, steps {args.steps}"
    )
    for name, rate in rates.items():
        print(f"naive, 1 backward per unit, {name + ':':16s} {rate:8.2f} positions/s")
    print(f"engine (forward-mode, batched):             {engine_rate:8.2f} positions/s")
    ranked = sorted(rates, key=rates.get, reverse=True)
    for i, name in enumerate(ranked):
        label = "fastest naive" if i == 0 else "other naive"
        print(
            f"ratio engine / {label} ({name}): {engine_rate / rates[name]:.1f}x; "
            f"max abs error {errors[name]:.3g} (max |G| {scale:.3g})"
        )
    flop = least_flop(args.cell)
    limit = peak * 1e9 / flop
    print(
        f"least arithmetic: (D-1) E {FOLDED[args.cell]} H^2 multiply-adds = "
        f"{flop / 1e9:.3f} GFLOP per position; at the peak GEMM rate measured now "
        f"({peak:.1f} GFLOP/s, 1024^2 float32 matmul) -> {limit:.2f} positions/s; "
        f"engine reaches {engine_rate / limit:.0%}"
    )


if __name__ == "__main__":
    main()
