"""Benchmark: a whole sequence's connectivity map, batched vs per position.

The post's code (distillpub/post--memorization-in-rnns) computes each output
position on its own: a forward pass over the sequence and one backward pass
(``tf.gradients``) per position. In the same process, interleaved
(``rnnmem_utils.timing``), on thread CPU time:

- "per-position backward": one shared forward, then one backward pass per
  position (:func:`connectivity.connectivity_per_position`, the FASTEST naive
  form: the ratios are reported against it);
- "post's method": a forward pass (all logits, as the post's graph) and a
  backward pass per position; timed on ``--post-positions`` evenly spaced
  positions and scaled to all T;
- "sweep" (:func:`connectivity.connectivity`'s default where it applies):
  one reverse sweep through the cells with the output positions as the batch
  (:mod:`rnnmem_utils.analysis.connectivity_sweep`);
- "vjp": per chunk of output positions one forward pass at batch one and one
  autograd backward batched over the chunk's cotangents (vmap).

Models (random weights: the cost does not depend on their values), on the
post's 198-character probe sentence:

- ``paper``: embedding 600, 2 x 600 GRU, 28 input symbols, dense to 16,386
  classes (the post's GRU shape; goal: batched >= 20x per position);
- ``small``: embedding 128, 2 x 128 GRU, 4,098 classes;

each as torch.nn.GRU (fused) and as the cell library's TF-form GRU (the
post's variant, stepped in Python by ``cells.run_layers``).

Each method is held against the arithmetic it cannot avoid at the peak
float32 GEMM rate measured in this run in thread time (:func:`sweep_flop`,
:func:`least_flop`); "ratio bound" is the per-position time over that least
time: the most any method doing that arithmetic can gain on this machine.
The sweep's arithmetic equals the per-position loop's (every pair s <= t
once); it gains only by running it as matrix-MATRIX products.

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
from rnnmem_utils.models import cells
from rnnmem_utils.timing import peak_gemm_gflops

PROBE = (
    " context the formal study of grammar is an important part of education from"
    " a young age through advanced learning though the rules taught in schools"
    " are not a grammar in the sense most linguists use"
)
ALPHABET = ["<eos>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
SIZES = {"paper": (600, 600, 16_386), "small": (128, 128, 4_098)}  # D, H, classes


class CharGRU(nn.Module):
    """Embedding -> 2-layer GRU -> dense, with the interface connectivity uses;
    ``kind`` "fused" (torch.nn.GRU) or "cells" (TF-form GRU, cell library)."""

    def __init__(self, emb: int, hidden: int, classes: int, kind: str = "fused"):
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(len(ALPHABET), emb)
        if kind == "fused":
            self.rnn = nn.GRU(emb, hidden, num_layers=2)
        else:
            self.rnn = nn.ModuleList(
                [
                    cells.GRUCell(emb, hidden, form="tf"),
                    cells.GRUCell(hidden, hidden, form="tf"),
                ]
            )
        self.decoder = nn.Linear(hidden, classes)

    def features(self, x):
        if self.kind == "fused":
            return self.rnn(x)[0]
        return cells.run_layers(self.rnn, x)[0]


def posts_method(model, tokens, targets, positions) -> None:
    """The post's loop on ``positions``: a forward pass (every logit) and one
    backward pass for each."""
    ad = conn.adapt(model)
    for t in positions:
        x = ad.embed(tokens).detach()[:, None].requires_grad_()
        z = ad.all_logits(x)[:, 0]
        (g,) = torch.autograd.grad(z[t, targets[t]], x)
        conn.reduce(g[:, 0], ad.weight)


def least_flop(emb: int, hidden: int, T: int, chunk: int) -> float:
    """FLOP of the backward passes the vjp method runs: chunk [a, b) carries
    b - a cotangents over b steps; per cotangent-step a GRU layer costs
    (in + H) 3H multiply-adds (input and recurrent gradients)."""
    steps = sum((min(a + chunk, T) - a) * min(a + chunk, T) for a in range(0, T, chunk))
    per_step = (emb + hidden) * 3 * hidden + (hidden + hidden) * 3 * hidden
    return 2 * steps * per_step


def sweep_flop(hidden: int, T: int, symbols: int = len(ALPHABET)) -> float:
    """FLOP the sweep cannot avoid: each of the T (T + 1) / 2 pairs s <= t
    crosses both layers once: per layer the recurrent product 3H x H, the top
    layer's input product 3H x H (into the layer below) and the bottom one's
    3H x V_in (the embedding folded in: one-hot gradients directly)."""
    pairs = T * (T + 1) // 2
    per_pair = 3 * hidden * (hidden + hidden + hidden + symbols)
    return 2 * pairs * per_pair


def bench(name, kind, tokens, targets, args, peak):
    emb, hidden, classes = SIZES[name]
    torch.manual_seed(0)
    model = CharGRU(emb, hidden, classes, kind).eval()
    T, chunk, P = len(tokens), args.chunk, args.post_positions
    spots = np.linspace(0, T - 1, P).round().astype(int).tolist()
    out = {}

    def keep(key, method, **kw):
        return lambda: out.__setitem__(
            key, conn.connectivity(model, tokens, targets, method=method, **kw)
        )

    fns = {
        "per-position backward": lambda: out.__setitem__(
            "naive", conn.connectivity_per_position(model, tokens, targets)
        ),
        "post's method": lambda: posts_method(model, tokens, targets, spots),
        "vjp": keep("vjp", "vjp", chunk=chunk),
        "sweep": keep("sweep", "sweep"),
    }
    secs = timing.interleaved(fns, rounds=args.rounds, warmup=0)
    secs["post's method"] = secs["post's method"] * T / P
    med = {k: float(np.median(v)) for k, v in secs.items()}
    naive, post = med["per-position backward"], med["post's method"]
    label = "torch.nn.GRU (fused)" if kind == "fused" else "cell library TF-form GRU"
    print(
        f"{name}: embedding {emb}, {label} 2 x {hidden}, {classes:,} classes, T = {T}"
    )
    print(f"  per-position backward (fastest naive): {naive:7.2f} s")
    print(
        f"  post's method (forward + backward per position; {P} positions "
        f"timed, x {T}/{P}): {post:7.2f} s"
    )
    for method, flop in (
        ("sweep", sweep_flop(hidden, T)),
        ("vjp", least_flop(emb, hidden, T, chunk)),
    ):
        ratios = secs["per-position backward"] / secs[method]
        err = np.abs(out["naive"] - out[method]).max()
        limit = flop / (peak * 1e9)
        print(
            f"  {method:5s} {med[method]:6.2f} s  RATIO vs fastest naive: median "
            f"{np.median(ratios):.1f}x (rounds {', '.join(f'{r:.1f}' for r in ratios)})"
            f"; vs the post's method {post / med[method]:.1f}x; "
            f"max abs difference of the normalised maps {err:.2g}"
        )
        print(
            f"        least arithmetic {flop / 1e9:.1f} GFLOP -> {limit:.2f} s at the "
            f"peak GEMM rate: reaches {limit / med[method]:.0%} of it; ratio bound "
            f"{naive / limit:.1f}x"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--post-positions", type=int, default=16)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    parser.add_argument("--kinds", nargs="+", default=["fused", "cells"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokens = torch.tensor([ALPHABET.index(c) for c in PROBE])
    # the class of each position: any fixed ids will do for timing
    targets = torch.arange(len(PROBE)) % 1000 + 2
    peak = peak_gemm_gflops(clock=time.thread_time)  # the clock of every method here
    wall_peak = peak_gemm_gflops()
    print(
        f"threads {args.threads}; thread CPU time, {args.rounds} interleaved rounds; "
        f"peak GEMM {peak:.1f} GFLOP/s in thread time ({wall_peak:.1f} by the wall "
        "clock; 1024^2 float32)"
    )
    for name in args.sizes:
        for kind in args.kinds:
            bench(name, kind, tokens, targets, args, peak)


if __name__ == "__main__":
    main()
