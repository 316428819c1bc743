"""Benchmark: the state-gradient engine vs the naive per-unit backward loop.

The paper's baseline shape (embedding 64, LSTM 256, D = 50). The naive method
(one backward pass per target position and state unit, as the paper's public
code) runs in two forms beside the engine, in the same process: through the
fused ``nn.LSTM`` and through the model's Python cell (``model.step``). The
engine's ratio is reported against the FASTEST naive form, the other on a
second line, with the max error against each.

Then the engine against the arithmetic its method cannot avoid: per target
position with a full history, D - 1 recurrent tangent products of E tangents
each (delay 0 comes from the input weights), each tangent F H^2
multiply-adds after folding the gate derivatives into the weights (F = 2 for
the LSTM, 1 for the GRU and the vanilla RNN). The engine only pushes the
tangents that exist, so a stream's first D - 1 positions cost less; the
least arithmetic of the run is counted exactly, and "full positions/s" is the
engine's rate in positions with a full history. At the peak float32 GEMM
rate measured in this run (a large square matmul, measured right before and
after each engine run, the higher of the two) that gives the limit; the engine's share
of it says how much room is left. Two engine paths: dense group masks
(E3's) and labels (E4's: one accumulator per label, filled by scatter).
Every rate is the best of ``--repeats`` runs (the machine is shared).

    .venv/bin/python benchmarks/state_gradients.py [--threads N] [--batch B]
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.timing import peak_gemm_gflops

VOCAB, EMB, HIDDEN, DELAYS = 10_000, 64, 256, 50
FOLDED = {"lstm": 2, "gru": 1, "rnn": 1}  # H x H products per tangent after folding
NAIVE = {"fused nn layer": True, "Python cell": False}  # name -> fused


def least_flop(cell: str, hidden: int = HIDDEN) -> float:
    """FLOP per target position with a full history, at the least."""
    return 2 * (DELAYS - 1) * EMB * FOLDED[cell] * hidden * hidden


def run_flop(cell: str, steps: int, batch: int, hidden: int = HIDDEN) -> float:
    """Least FLOP of a whole run: the tangents that exist at each step."""
    rows = sum(min(t, DELAYS - 1) for t in range(steps)) * batch
    return 2 * rows * EMB * FOLDED[cell] * hidden * hidden


def best_of(repeats, fn):
    """(result, seconds) of the fastest of ``repeats`` calls."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def beside_peak(repeats, fn, flop):
    """Run ``fn`` ``repeats`` times, each between two peak-GEMM measurements
    (the machine is shared: what a core delivers changes by the minute).
    Returns (result, seconds, peak GFLOP/s) of the run with the largest share
    ``flop / seconds / peak``, peak the higher of the two beside it."""
    best = (None, float("inf"), 1.0, -1.0)
    for _ in range(repeats):
        before = peak_gemm_gflops()
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        peak = max(before, peak_gemm_gflops())
        share = flop / seconds / (peak * 1e9)
        if share > best[3]:
            best = (out, seconds, peak, share)
    return best[:3]


def run_naive(model, tokens, targets, state, fused, repeats):
    def once():
        return [
            sg.naive_state_gradients(
                model, tokens, t, state=state, max_delay=DELAYS, fused=fused
            )
            for t in targets
        ]

    out, seconds = best_of(repeats, once)
    return out, len(targets) / seconds


def engine_masks(tokens, targets):
    """One group per naive target (stream 0) and one of every position."""
    n_steps, batch = tokens.shape
    masks = {}
    for t in targets:
        m = torch.zeros(n_steps, batch, dtype=torch.bool)
        m[t, 0] = True
        masks[f"t{t}"] = m
    masks["all"] = torch.ones(n_steps, batch, dtype=torch.bool)
    return masks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--cell", default="lstm", choices=sorted(FOLDED))
    parser.add_argument("--batch", type=int, default=4, help="parallel streams")
    parser.add_argument("--steps", type=int, default=150, help="stream length")
    parser.add_argument("--naive", type=int, default=3, help="naive target positions")
    parser.add_argument("--repeats", type=int, default=3, help="runs, best taken")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = RecurrentLM(args.cell, VOCAB, HIDDEN, embedding_size=EMB).eval()
    state = "c" if args.cell == "lstm" else "h"
    tokens = torch.randint(0, VOCAB, (args.steps, args.batch), generator=gen)
    targets = [args.steps - 1 - 7 * i for i in range(args.naive)]
    naive = {
        name: run_naive(model, tokens, targets, state, fused, 1)
        for name, fused in NAIVE.items()
    }
    masks = engine_masks(tokens, targets)
    labels = torch.zeros(args.steps, args.batch, dtype=torch.long)
    run = dict(state=state, max_delay=DELAYS)
    work = run_flop(args.cell, args.steps, args.batch)
    sums, dense_s, dense_peak = beside_peak(
        args.repeats, lambda: sg.state_gradient_sums(model, tokens, masks, **run), work
    )
    _, label_s, label_peak = beside_peak(
        args.repeats,
        lambda: sg.label_gradient_sums(
            model, tokens, labels, 1, batch=args.batch, dtype=torch.float32, **run
        ),
        work,
    )
    errors = {
        name: max((sums.mean()[k] - g).abs().max().item() for k, g in enumerate(out))
        for name, (out, _) in naive.items()
    }
    scale = max(g.abs().max().item() for g in naive["Python cell"][0])
    rates = {name: rate for name, (_, rate) in naive.items()}
    seconds = {"dense masks (E3)": dense_s, "labels (E4)": label_s}
    peaks = {"dense masks (E3)": dense_peak, "labels (E4)": label_peak}
    report(args, rates, seconds, errors, scale, peaks)


def report(args, rates, seconds, errors, scale, peaks):
    print(
        f"shape: embedding {EMB}, {args.cell.upper()} {HIDDEN}, D = {DELAYS}; "
        f"threads {args.threads}, streams {args.batch}, steps {args.steps}"
    )
    for name, rate in rates.items():
        print(f"naive, 1 backward per unit, {name + ':':16s} {rate:8.2f} positions/s")
    per_position = least_flop(args.cell)
    work = run_flop(args.cell, args.steps, args.batch)
    full = work / per_position  # the run's work in full-history positions
    positions = args.steps * args.batch
    fastest = max(rates, key=rates.get)
    for name, s in seconds.items():
        print(
            f"engine, {name + ':':18s} {positions / s:8.2f} positions/s "
            f"({full / s:.2f} full positions/s)"
        )
    engine = full / min(seconds.values())
    for i, name in enumerate(sorted(rates, key=rates.get, reverse=True)):
        label = "fastest naive" if i == 0 else "other naive"
        print(
            f"ratio engine (full positions) / {label} ({name}): "
            f"{engine / rates[name]:.1f}x; max abs error {errors[name]:.3g} "
            f"(max |G| {scale:.3g})"
        )
    assert fastest in rates
    print(
        f"least arithmetic: (D-1) E {FOLDED[args.cell]} H^2 multiply-adds = "
        f"{per_position / 1e9:.3f} GFLOP per full position"
    )
    for name, s in seconds.items():
        peak = peaks[name]
        print(
            f"{name}: peak GEMM rate measured beside it {peak:.1f} GFLOP/s "
            f"(1024^2 float32 matmul) -> limit {peak * 1e9 / per_position:.2f} full "
            f"positions/s; engine share {work / s / (peak * 1e9):.0%}"
        )


if __name__ == "__main__":
    main()
