"""Benchmark: the public API's state gradients on a user-shaped model.

PyTorch's word-language-model example shape (``encoder`` embedding 64,
``rnn`` one nn.LSTM layer of 256, ``decoder``), analysed through
``rm.state_gradients`` (adapt -> the engine, D = 50) against the naive
per-unit method (one backward pass per state unit and target position,
through the fused ``nn.LSTM``: the fastest naive form), in the same run, and
against the least arithmetic of the engine's method at the peak GEMM rate
measured here (see ``benchmarks/state_gradients.py`` for the count).

    .venv/bin/python benchmarks/api_state_gradients.py [--positions N]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import rnnmem_utils as rm
from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.timing import peak_gemm_gflops

VOCAB, EMB, HIDDEN, DELAYS = 10_000, 64, 256, 50


class UserModel(nn.Module):  # the example's RNNModel, one LSTM layer
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HIDDEN)
        self.decoder = nn.Linear(HIDDEN, VOCAB)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positions", type=int, default=2048)
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--naive-targets", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = UserModel().eval()
    ids = torch.randint(0, VOCAB, (args.positions,))
    # every position a target after the burn-in of D steps per stream
    targets = args.positions - args.streams * DELAYS
    api_s = _timed(lambda: rm.state_gradients(
        model, ids, state="c", max_delay=DELAYS, streams=args.streams,
        normalise=False, progress=False))  # fmt: skip
    twin = RecurrentLM("lstm", VOCAB, HIDDEN, EMB).eval()
    twin.embedding.load_state_dict(model.encoder.state_dict())
    twin.rnn.load_state_dict(model.rnn.state_dict())
    stream = ids[:200, None]
    naive_s = _timed(lambda: [
        sg.naive_state_gradients(twin, stream, 100 + k, state="c",
                                 max_delay=DELAYS, fused=True)
        for k in range(args.naive_targets)])  # fmt: skip
    api_rate, naive_rate = targets / api_s, args.naive_targets / naive_s
    peak = peak_gemm_gflops()
    least = 2 * (DELAYS - 1) * EMB * 2 * HIDDEN * HIDDEN  # folded LSTM: 2 H^2 each
    limit = peak * 1e9 / least
    print(f"user-shaped model: Embedding({VOCAB}, {EMB}) -> LSTM({HIDDEN}), D={DELAYS}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"rm.state_gradients : {api_rate:9.1f} target positions/s")
    print(f"naive (fused, per unit): {naive_rate:9.2f} target positions/s")
    print(f"ratio vs the fastest naive method: {api_rate / naive_rate:.0f}x")
    print(f"least arithmetic at the peak GEMM rate ({peak:.0f} GFLOP/s): "
          f"{limit:.0f} positions/s; the API reaches {api_rate / limit:.0%} of it")  # fmt: skip


if __name__ == "__main__":
    main()
