"""Benchmark: training words/s of E4's baseline LM against the plain PyTorch
step and a per-step cell loop, and against the arithmetic limit measured in the
same run.

The model is the paper's baseline (embedding 64, LSTM 256, 10k vocabulary,
batch 20 x 200 steps, SGD with clipping). Five numbers:

- training: what E4 trains with, ``training.lm.step_loss``: ``nn.LSTM`` over
  the whole (T, B) block, then ``linear_cross_entropy`` (decoder and loss
  chunked over rows, never holding the (T*B, V) logits);
- plain: ``nn.LSTM``, ``nn.Linear`` and ``F.cross_entropy`` (the fastest naive
  step, and what E4 trained with before);
- cell loop: the same weights stepped by the cell library's ``LSTMCell`` in a
  Python loop over ``unbind``-ed steps (the path a cell without a fused kernel,
  such as the TF-form GRU, takes), with ``linear_cross_entropy``;
- ceiling: the step's unavoidable parts alone (the decoder's three GEMMs, the
  fused LSTM layer, one exp per logit), timed at the step's shapes: what no
  step can beat on this CPU even if everything else (the softmax's other
  passes, dropout, the optimizer) were free;
- limit: the model's FLOP per word (forward + backward = 3 x forward; the
  10k-way output layer is ~88% of it) at the peak float32 GEMM rate of a large
  square matmul in this process.

    .venv/bin/python benchmarks/lm_training.py [--threads N] [--batches K] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from rnnmem_utils.models import cells
from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.timing import interleaved, peak_gemm_gflops
from rnnmem_utils.training.lm import CHUNK_FLOATS, step_loss

VOCAB, EMB, HIDDEN, BATCH, STEPS = 10_000, 64, 256, 20, 200


def flop_per_word_by_part(hidden=HIDDEN, emb=EMB, vocab=VOCAB, gates=4) -> dict:
    """Forward multiply-adds x 2, times 3 for forward + backward, of the LSTM
    layer and of the decoder."""
    return {
        "LSTM layer": 3 * 2 * gates * hidden * (emb + hidden),
        "decoder GEMMs": 3 * 2 * hidden * vocab,
    }


def flop_per_word() -> float:
    return sum(flop_per_word_by_part().values())


class LoopLM(RecurrentLM):
    """The baseline with its LSTM stepped by the cell library (same weights)."""

    def __init__(self, fused: RecurrentLM):
        super().__init__("lstm", VOCAB, HIDDEN, EMB, dropout=0.5)
        self.load_state_dict(fused.state_dict())
        self.cell = cells.LSTMCell(EMB, HIDDEN).load_torch(fused.rnn, "_l0")

    def hidden(self, tokens, state=None):
        outs = []
        for gx in self.cell.project(self.embed(tokens)).unbind(0):
            state = self.cell.step(gx, state)
            outs.append(state[0])
        return self.drop(torch.stack(outs)), state


def plain_loss(model, x, y, state):
    logits, state = model(x, state)  # nn.Linear: the (T, B, V) logits
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state


def batch_seconds(model, init_state, batches: int, clock=time.perf_counter,
                  loss_fn=step_loss) -> list[float]:  # fmt: skip
    """Seconds of each of ``batches`` training steps (after one warm-up step)."""
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    data = torch.randint(0, VOCAB, (batches + 1, STEPS + 1, BATCH))
    state, times = init_state, []
    for k in range(batches + 1):
        start = clock()
        x, y = data[k, :-1], data[k, 1:]
        loss, state = loss_fn(model, x, y, tuple(s.detach() for s in state))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        times.append(clock() - start)
    return times[1:]  # the first batch warms up the allocator


def essential_seconds(model, clock) -> dict[str, float]:
    """Best seconds of the step's unavoidable parts at the step's own shapes:
    the decoder's three GEMMs (chunked as ``linear_cross_entropy`` chunks them),
    the fused LSTM's forward + backward, and one exp per logit (the softmax
    cannot do with less). Their sum bounds what any step of this model can
    reach on this CPU with everything else free."""
    n, dec = STEPS * BATCH, model.decoder
    w, b = dec.weight.detach(), dec.bias.detach()
    h = torch.randn(n, HIDDEN)
    rows = max(1, CHUNK_FLOATS // VOCAB)
    z, gh, gw = torch.empty(rows, VOCAB), torch.empty(n, HIDDEN), torch.zeros_like(w)

    def gemms():
        for s in range(0, n, rows):
            hc = h[s : s + rows]
            zc = z[: len(hc)]
            torch.addmm(b, hc, w.t(), out=zc)
            torch.mm(zc, w, out=gh[s : s + rows])
            gw.addmm_(zc.t(), hc)

    logits = torch.randn(rows, VOCAB)

    def exps():  # the softmax's one transcendental per logit
        for s in range(0, n, rows):
            torch.exp(logits[: min(rows, n - s)], out=z[: min(rows, n - s)])

    x = torch.randint(0, VOCAB, (STEPS, BATCH))
    zeros = tuple(t.unsqueeze(0) for t in model.init_state(BATCH))

    def recurrent():
        out, _ = model.rnn(model.embed(x), zeros)
        out.backward(torch.ones_like(out))

    fns = {"decoder GEMMs": gemms, "LSTM layer": recurrent, "softmax exp": exps}
    seconds = interleaved(fns, rounds=3, clock=clock)
    return {name: float(s.min()) for name, s in seconds.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", type=int, default=3, help="per path and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fused = RecurrentLM("lstm", VOCAB, HIDDEN, EMB, dropout=0.5)
    zeros = fused.init_state(BATCH)
    paths = {
        "training (E4)": (fused, step_loss),
        "plain": (fused, plain_loss),
        "cell loop": (LoopLM(fused), step_loss),
    }
    # One thread: time it on the thread's CPU clock, which other processes on a
    # shared machine do not stretch. Rounds interleave the peak and the paths,
    # so a slow spell of a shared machine falls on all of them; each number is
    # the best over the rounds (the peak: its best matmul; a path: its best
    # step), and the median is printed beside it.
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    peaks, steps = [], {name: [] for name in paths}
    for _ in range(args.rounds):
        peaks.append(peak_gemm_gflops(clock=clock))
        for name, (model, loss_fn) in paths.items():
            steps[name] += batch_seconds(model, zeros, args.batches, clock, loss_fn)
    peaks.append(peak_gemm_gflops(clock=clock))
    parts = essential_seconds(fused, clock)
    words = STEPS * BATCH
    limit = max(peaks) * 1e9 / flop_per_word()
    limit_median = statistics.median(peaks) * 1e9 / flop_per_word()
    print(f"threads {args.threads} ({clock.__name__}); {flop_per_word() / 1e6:.1f} "
          f"MFLOP per word; peak GEMM {max(peaks):.1f} GFLOP/s (median "
          f"{statistics.median(peaks):.1f}) -> limit {limit:,.0f} words/s; "
          f"{args.rounds} rounds x {args.batches} steps per path")  # fmt: skip
    plain = words / min(steps["plain"])
    for name, times in steps.items():
        best, median = words / min(times), words / statistics.median(times)
        print(f"{name:14} {best:8,.0f} words/s  {best / limit:6.1%} of the limit  "
              f"{best / plain:5.2f}x plain   (median step: {median:,.0f} words/s, "
              f"{median / limit_median:.1%} of the median limit)")  # fmt: skip
    # The ceiling: the step's unavoidable parts at the rates they reach here,
    # everything else free.
    at_peak = {name: f * words for name, f in flop_per_word_by_part().items()}
    for name, sec in parts.items():
        if name not in at_peak:
            print(f"  {name:14} {sec * 1e3:6.0f} ms per step")
            continue
        rate = at_peak[name] / sec / 1e9
        print(f"  {name:14} {sec * 1e3:6.0f} ms per step, {rate:5.1f} GFLOP/s "
              f"({rate / max(peaks):.0%} of peak)")  # fmt: skip
    ceiling = words / sum(parts.values())
    print(f"ceiling (those parts alone, the rest free): {ceiling:,.0f} words/s, "
          f"{ceiling / limit:.1%} of the limit")  # fmt: skip


if __name__ == "__main__":
    main()
