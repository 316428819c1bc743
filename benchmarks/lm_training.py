"""Benchmark: training words/s of E4's baseline LM against the plain PyTorch
step and a per-step cell loop, and against the arithmetic limit measured in the
same run.

The model is the paper's baseline (embedding 64, LSTM 256, 10k vocabulary,
batch 20 x 200 steps, SGD with clipping). Four numbers:

- training: what E4 trains with, ``training.lm.step_loss``: ``nn.LSTM`` over
  the whole (T, B) block, then ``linear_cross_entropy`` (decoder and loss
  chunked over rows, never holding the (T*B, V) logits);
- plain: ``nn.LSTM``, ``nn.Linear`` and ``F.cross_entropy`` (the fastest naive
  step, and what E4 trained with before);
- cell loop: the same weights stepped by the cell library's ``LSTMCell`` in a
  Python loop over ``unbind``-ed steps (the path a cell without a fused kernel,
  such as the TF-form GRU, takes), with ``linear_cross_entropy``;
- limit: the model's FLOP per word (forward + backward = 3 x forward; the
  10k-way output layer is ~88% of it) at the peak float32 GEMM rate of a large
  square matmul in this process.

    .venv/bin/python benchmarks/lm_training.py [--threads N] [--batches K]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from rnnmem_utils.models import cells
from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.timing import peak_gemm_gflops
from rnnmem_utils.training.lm import step_loss

VOCAB, EMB, HIDDEN, BATCH, STEPS = 10_000, 64, 256, 20, 200


def flop_per_word(hidden=HIDDEN, emb=EMB, vocab=VOCAB, gates=4) -> float:
    """Forward multiply-adds x 2, times 3 for forward + backward."""
    forward = 2 * gates * hidden * (emb + hidden) + 2 * hidden * vocab
    return 3 * forward


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


def words_per_s(model, init_state, batches: int, clock=time.perf_counter,
                loss_fn=step_loss) -> float:  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    data = torch.randint(0, VOCAB, (batches + 1, STEPS + 1, BATCH))
    state = init_state
    for k in range(batches + 1):
        if k == 1:  # the first batch warms up the allocator
            start = clock()
        x, y = data[k, :-1], data[k, 1:]
        loss, state = loss_fn(model, x, y, tuple(s.detach() for s in state))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    return batches * STEPS * BATCH / (clock() - start)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", type=int, default=4)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fused = RecurrentLM("lstm", VOCAB, HIDDEN, EMB, dropout=0.5)
    zeros = fused.init_state(BATCH)
    # One thread: time it on the thread's CPU clock, which other processes on a
    # shared machine do not stretch; the peak is read on the same clock, and
    # the higher of two readings (before and after) is taken.
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    before = peak_gemm_gflops(clock=clock)
    rate = words_per_s(fused, zeros, args.batches, clock)
    rate_plain = words_per_s(fused, zeros, args.batches, clock, plain_loss)
    rate_loop = words_per_s(LoopLM(fused), zeros, args.batches, clock)
    peak = max(before, peak_gemm_gflops(clock=clock))
    limit = peak * 1e9 / flop_per_word()
    print(f"threads {args.threads} ({clock.__name__}); {flop_per_word() / 1e6:.1f} "
          f"MFLOP per word; peak GEMM {peak:.1f} GFLOP/s -> limit {limit:,.0f} "
          "words/s")  # fmt: skip
    for name, r in (
        ("training (E4)", rate),
        ("plain", rate_plain),
        ("cell loop", rate_loop),
    ):
        print(f"{name:14} {r:8,.0f} words/s  {r / limit:6.1%} of the limit  "
              f"{r / rate_plain:5.2f}x plain")  # fmt: skip


if __name__ == "__main__":
    main()
