"""Benchmark: training steps of the cell library's Python cells against torch's
fused ``nn.GRU`` / ``nn.LSTM`` of the same size, in the same run.

One training step = forward and backward through a 2-layer stack (1 layer for
the Nested LSTM, as the post) over the autocomplete batch, 64 sequences of 200
characters, embedding = hidden size. Heads and optimiser are left out: they
are the same for every cell.

- ``GRU (TF form)``: the post's GRU; torch has no fused kernel for it, so its
  reference is ``nn.GRU`` (torch form: the same size and arithmetic);
- ``GRU (torch form)`` and ``LSTM``: the very function of the fused layer,
  the max error against it printed beside the time;
- ``Nested LSTM``: no fused kernel exists; against ``nn.LSTM`` of the same
  size (it does twice the recurrent matmuls, so about 2x is its arithmetic).

The arithmetic limit: each step's recurrent and input matmuls (x3 for forward
plus backward) at the peak float32 GEMM rate measured in this run. Goal: no
custom cell more than 2x slower than the fused cell of the same size.

    .venv/bin/python benchmarks/cells.py [--hidden 64 128] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from rnnmem_utils.models import cells
from rnnmem_utils.timing import peak_gemm_gflops

T, B = 200, 64
GATES = {"gru": 3, "lstm": 4, "nlstm": 4}


def flop_per_step(kind: str, h: int, layers: int) -> float:
    """Matmul FLOP of one forward + backward (3x forward) over (T, B)."""
    per_layer = 2 * T * B * (h + h) * GATES[kind] * h  # input and recurrent
    if kind == "nlstm":
        per_layer *= 2  # the inner LSTM: another [x~, h~] kernel of 4H
    return 3 * per_layer * layers


def time_step(fn, x, repeats) -> float:
    fn(x).sum().backward()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        x.grad = None
        start = time.perf_counter()
        fn(x).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def custom(kind: str, h: int, layers: int, ref: nn.Module | None):
    make = {
        "gru_tf": lambda: cells.GRUCell(h, h, form="tf"),
        "gru_torch": lambda: cells.GRUCell(h, h, form="torch"),
        "lstm": lambda: cells.LSTMCell(h, h),
        "nlstm": lambda: cells.NestedLSTMCell(h, h),
    }[kind]
    stack = [make() for _ in range(layers)]
    if ref is not None:  # the same weights as the fused layer: compare outputs
        stack = [c.load_torch(ref, f"_l{i}") for i, c in enumerate(stack)]
    return lambda x: cells.run_layers(stack, x)[0]


def row(name, seconds, fused_seconds, limit_seconds, err=None):
    extra = f"  max err {err:.1e}" if err is not None else ""
    print(
        f"  {name:<18} {1 / seconds:7.2f} steps/s  {seconds / fused_seconds:5.2f}x "
        f"the fused time  {limit_seconds / seconds:6.1%} of the arithmetic limit{extra}"
    )


def bench(h: int, repeats: int, gflops: float) -> dict:
    torch.manual_seed(0)
    x = torch.randn(T, B, h, requires_grad=True)
    fused = {"gru": nn.GRU(h, h, 2), "lstm": nn.LSTM(h, h, 2)}
    t_fused = {
        k: time_step(lambda v, m=m: m(v)[0], x, repeats) for k, m in fused.items()
    }
    out = {}
    print(f"hidden {h}, batch {B} x {T} characters (forward + backward):")
    for k in fused:
        row(f"fused nn.{k.upper()}", t_fused[k], t_fused[k],
            flop_per_step(k, h, 2) / gflops / 1e9)  # fmt: skip
    cases = [("GRU (TF form)", "gru_tf", "gru", 2, False),
             ("GRU (torch form)", "gru_torch", "gru", 2, True),
             ("LSTM", "lstm", "lstm", 2, True),
             ("Nested LSTM", "nlstm", "lstm", 1, False)]  # fmt: skip
    for name, kind, ref, layers, same in cases:
        fn = custom(kind, h, layers, fused[ref] if same else None)
        t = time_step(fn, x, repeats)
        err = (fn(x) - fused[ref](x)[0]).abs().max().item() if same else None
        flop = flop_per_step(kind.split("_")[0], h, layers)
        row(name, t, t_fused[ref], flop / gflops / 1e9, err)
        out[name] = t / t_fused[ref]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    gflops = peak_gemm_gflops()
    print(f"peak float32 GEMM {gflops:.1f} GFLOP/s ({args.threads} thread(s))")
    worst = {}
    for h in args.hidden:
        for name, r in bench(h, args.repeats, gflops).items():
            worst[name] = max(worst.get(name, 0.0), r)
    print("slowest custom / fused ratio over the sizes (goal <= 2x):")
    for name, r in worst.items():
        print(f"  {name:<18} {r:5.2f}x {'ok' if r <= 2 else 'ABOVE GOAL'}")


if __name__ == "__main__":
    main()
