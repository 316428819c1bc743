"""Benchmark: a whole sequence's connectivity map, batched vs the post's loop.

The post's code (distillpub/post--memorization-in-rnns) takes one backward pass
per output position; :func:`connectivity.connectivity` runs chunks of replicas
of the sequence, one forward and one backward pass per chunk. Both run in the
same process, interleaved (``rnnmem_utils.timing``), on thread CPU time, at
two sizes:

- ``paper``: the post's GRU shape, embedding 600, 2 x 600 (torch.nn.GRU, fused),
  28 input symbols, dense to 16,386 classes, on the post's 198-character probe
  sentence (goal: batched >= 20x the per-position loop);
- ``small``: embedding 128, 2 x 128, 4,096 + 2 classes, same sentence.

Then the batched method against the arithmetic it cannot avoid: the recurrent
layers' multiply-adds for every replica-step it runs (forward, and backward at
twice the forward), at the peak float32 GEMM rate measured in this run.
Weights are random: the cost does not depend on their values.

    .venv/bin/python benchmarks/connectivity.py [--threads 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from rnnmem_utils import timing
from rnnmem_utils.analysis import connectivity as conn

PROBE = (
    " context the formal study of grammar is an important part of education from"
    " a young age through advanced learning though the rules taught in schools"
    " are not a grammar in the sense most linguists use"
)
ALPHABET = ["<eos>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
SIZES = {"paper": (600, 600, 16_386), "small": (128, 128, 4_098)}  # D, H, classes


class CharGRU(nn.Module):
    """Embedding -> 2-layer torch.nn.GRU -> dense, the interface connectivity uses."""

    def __init__(self, emb: int, hidden: int, classes: int):
        super().__init__()
        self.embedding = nn.Embedding(len(ALPHABET), emb)
        self.rnn = nn.GRU(emb, hidden, num_layers=2)
        self.decoder = nn.Linear(hidden, classes)

    def features(self, x):
        return self.rnn(x)[0]


def peak_gemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best float32 rate of an (n, n) @ (n, n) matmul, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def least_flop(emb: int, hidden: int, T: int, chunk: int) -> float:
    """FLOP of the recurrent layers over the replica-steps the batched method
    runs: chunk [a, b) runs (b - a) replicas for b steps; each replica-step of
    a GRU layer costs (in + H) 3H multiply-adds forward, twice that backward."""
    steps = sum((min(a + chunk, T) - a) * min(a + chunk, T) for a in range(0, T, chunk))
    per_step = (emb + hidden) * 3 * hidden + (hidden + hidden) * 3 * hidden
    return 2 * 3 * steps * per_step


def bench(name: str, tokens, targets, rounds: int, chunk: int, peak: float):
    emb, hidden, classes = SIZES[name]
    torch.manual_seed(0)
    model = CharGRU(emb, hidden, classes).eval()
    out = {}
    fns = {
        "per-position": lambda: out.__setitem__(
            "naive", conn.connectivity_per_position(model, tokens, targets)
        ),
        "batched": lambda: out.__setitem__(
            "fast", conn.connectivity(model, tokens, targets, chunk=chunk)
        ),
    }
    secs = timing.interleaved(fns, rounds=rounds, warmup=0)
    ratios = secs["per-position"] / secs["batched"]
    err = np.abs(out["naive"] - out["fast"]).max()
    limit = least_flop(emb, hidden, len(tokens), chunk) / (peak * 1e9)
    print(
        f"{name}: embedding {emb}, GRU 2 x {hidden}, {classes:,} classes, "
        f"T = {len(tokens)}, chunk {chunk}"
    )
    print(f"  per-position (post's loop): {np.median(secs['per-position']):8.2f} s")
    print(f"  batched:                    {np.median(secs['batched']):8.2f} s")
    print(
        f"  ratio batched / per-position: median {np.median(ratios):.1f}x "
        f"(rounds: {', '.join(f'{r:.1f}' for r in ratios)}); "
        f"max abs difference of the normalised maps {err:.2g}"
    )
    print(
        f"  least arithmetic {least_flop(emb, hidden, len(tokens), chunk) / 1e9:.1f}"
        f" GFLOP -> {limit:.2f} s at the peak GEMM rate; batched reaches "
        f"{limit / np.median(secs['batched']):.0%} of it"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokens = torch.tensor([ALPHABET.index(c) for c in PROBE])
    # class of each position: any fixed ids will do for timing
    targets = torch.arange(len(PROBE)) % 1000 + 2
    peak = peak_gemm_gflops()
    print(
        f"threads {args.threads}; thread CPU time, {args.rounds} interleaved rounds; "
        f"peak GEMM {peak:.1f} GFLOP/s (1024^2 float32)"
    )
    for name in args.sizes:
        bench(name, tokens, targets, args.rounds, args.chunk, peak)


if __name__ == "__main__":
    main()
