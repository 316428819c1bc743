"""Language-model training: batchify, truncated BPTT with carried state, evaluation.

The layout is pytorch/examples ``word_language_model``'s. ``batchify`` cuts a
token stream into ``batch_size`` columns; each column is one contiguous piece
of the stream, read top to bottom::

    stream a b c d e f g h i j k l m n o p q r s t u v w x    batch_size = 4

    ┌ a g m s ┐   rows: time steps t (T = 6)
    │ b h n t │   columns: independent streams b (B = 4)
    │ c i o u │
    │ d j p v │   truncated BPTT reads seq_len rows at a time; the state
    │ e k q w │   at the end of one chunk is the start of the next
    └ f l r x ┘   (detached: gradients stop at the chunk boundary)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import io
from ..models.lm import RecurrentLM

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
}


def batchify(tokens, batch_size: int) -> torch.Tensor:
    """Cut a 1-D stream into ``batch_size`` contiguous columns: ``(N // B, B)``.

    ┌ a g m s ┐   stream "abcdefghijklmnopqrstuvwx", batch_size 4: each column
    │ b h n t │   is a contiguous piece, so a batch's rows continue the previous
    │ c i o u │   batch's rows and the hidden state can be carried over. The
    │ d j p v │   remainder (here none) is dropped. The one batchify of the
    │ e k q w │   library: every LM and the foundations' character LM use it.
    └ f l r x ┘
    """
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    n_rows = tokens.numel() // batch_size
    return tokens[: n_rows * batch_size].view(batch_size, n_rows).t().contiguous()


def chunks(data: torch.Tensor, seq_len: int):
    """Yield ``(inputs, targets)`` pairs ``(<=seq_len, B)`` along ``data``'s rows."""
    for start in range(0, data.shape[0] - 1, seq_len):
        n = min(seq_len, data.shape[0] - 1 - start)
        yield data[start : start + n], data[start + 1 : start + 1 + n]


# Rows of logits a chunk of linear_cross_entropy holds: about 10 MB of float32
# at any vocabulary, so a chunk's softmax passes stay in the last-level cache
# (measured at V = 10k on 1 thread: 64 rows 0.89 s, 256 rows 0.81 s, the whole
# 4,000-row batch 0.90 s, F.cross_entropy on nn.Linear 1.18 s).
CHUNK_FLOATS = 2_500_000


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``h @ W.T + b`` against ``target``, chunked over rows.

    The loss is the last node of a training step, so its gradients are known in
    the forward pass: for each chunk of rows, the logits z, then
    p = softmax(z) in place, then dz = p - onehot(target) in place, and at once
    dh = dz W, dW += dz^T h, db += sum dz. The (N, V) logits, their
    log-softmax and its gradient (three N x V arrays, 160 MB each for a batch of
    4,000 words over 10k classes) never exist; the elementwise passes run on a
    chunk in cache. The three GEMMs are the ones autograd would run.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, target):
        n, vocab = h.shape[0], weight.shape[0]
        rows = max(1, CHUNK_FLOATS // vocab)
        grad_h, grad_w = torch.empty_like(h), torch.zeros_like(weight)
        grad_b = None if bias is None else torch.zeros_like(bias)
        buf, total = h.new_empty(min(rows, n), vocab), h.new_zeros(())
        for start in range(0, n, rows):
            hc, tc = h[start : start + rows], target[start : start + rows, None]
            z = buf[: hc.shape[0]]
            if bias is None:
                torch.mm(hc, weight.t(), out=z)
            else:
                torch.addmm(bias, hc, weight.t(), out=z)
            z.sub_(z.amax(1, keepdim=True))  # z - max: exp cannot overflow
            z_target = z.gather(1, tc)
            norm = z.exp_().sum(1, keepdim=True)
            total += (norm.log() - z_target).sum()  # -log softmax(z)[target]
            z.div_(norm).scatter_add_(1, tc, torch.full_like(z_target, -1.0))
            torch.mm(z, weight, out=grad_h[start : start + rows])
            grad_w.addmm_(z.t(), hc)
            if grad_b is not None:
                grad_b += z.sum(0)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.n = n
        return total / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        scale = grad_loss / ctx.n
        need = ctx.needs_input_grad
        return (
            grad_h * scale if need[0] else None,
            grad_w * scale if need[1] else None,
            grad_b * scale if grad_b is not None and need[2] else None,
            None,
        )


def linear_cross_entropy(h, weight, bias, target) -> torch.Tensor:
    """``F.cross_entropy(F.linear(h, weight, bias), target)`` (mean over the rows
    of ``h`` ``(N, H)``) without the ``(N, V)`` logits: the training loss of an
    LM's decoder. Same value and gradients up to rounding
    (tests/test_training_lm.py checks both against autograd); measured on E4's
    baseline step, 1.5x faster than nn.Linear + F.cross_entropy
    (benchmarks/lm_training.py). For training only: its forward pass also
    computes the gradients."""
    return _LinearCrossEntropy.apply(h, weight, bias, target)


def step_loss(model, x, y, state):
    """Mean next-token cross-entropy of one batch and the last state. A
    :class:`RecurrentLM` goes through :func:`linear_cross_entropy`; any other
    model returns its ``(T, B, V)`` logits."""
    if isinstance(model, RecurrentLM):
        out, state = model.hidden(x, state)
        dec = model.decoder
        loss = linear_cross_entropy(
            out.flatten(0, 1), dec.weight, dec.bias, y.flatten()
        )
        return loss, state
    logits, state = model(x, state)  # (T, B, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state


@dataclass(frozen=True)
class TrainSettings:
    """What the training loop needs (taken from an experiment's config)."""

    epochs: int
    batch_size: int
    seq_len: int
    lr: float
    optimizer: str = "adagrad"
    clip: float = 0.0  # gradient-norm clip; 0 = none
    checkpoint_every: int = 500  # batches between checkpoints
    # learning-rate schedule: lr for the first ``decay_after`` epochs, then
    # multiplied by ``lr_decay`` every epoch (Zaremba et al.'s PTB schedule,
    # used by Verwimp et al.); the default keeps lr constant
    lr_decay: float = 1.0
    decay_after: int = 0

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``."""
        return self.lr * self.lr_decay ** max(0, epoch + 1 - self.decay_after)


def _detach(state):
    return tuple(s.detach() for s in state)


@dataclass
class _Position:
    """Where training stands: what a checkpoint holds besides the weights."""

    epoch: int = 0
    batch: int = 0  # batches of ``epoch`` already done
    state: tuple | None = None  # the recurrent state carried into the next batch
    log: list = field(default_factory=list)


def _checkpoint(path, model, opt, pos: _Position):
    """Everything a resumed run needs, including torch's RNG (dropout masks)."""
    io.save_torch(
        path,
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            **vars(pos),
            "rng": torch.get_rng_state(),
        },
    )


def train(
    model,
    train_tokens,
    settings: TrainSettings,
    checkpoint: Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train ``model`` in place with truncated BPTT; resumes from ``checkpoint``.

    Returns the log: one record per epoch (train loss, tokens/s). A checkpoint
    (model, optimizer, epoch, batch, carried state) is written atomically every
    ``checkpoint_every`` batches; a resumed run continues where it stopped and
    gives the same model as an uninterrupted one.
    """
    data = batchify(train_tokens, settings.batch_size)
    opt = OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.lr)
    pos = _Position()
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, weights_only=True)  # tensors and numbers only
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        pos = _Position(ck["epoch"], ck["batch"], ck["state"], ck["log"])
        torch.set_rng_state(ck["rng"])
    while pos.epoch < settings.epochs:
        _train_epoch(model, opt, data, settings, pos, checkpoint, progress)
    return pos.log


def _train_epoch(model, opt, data, settings, pos: _Position, checkpoint, progress):
    """Finish epoch ``pos.epoch`` from batch ``pos.batch``; advance ``pos``."""
    model.train()
    for group in opt.param_groups:
        group["lr"] = settings.lr_at(pos.epoch)
    state = model.init_state(data.shape[1]) if pos.state is None else pos.state
    total, count, clock = 0.0, 0, time.perf_counter()
    bar = tqdm(
        total=math.ceil((data.shape[0] - 1) / settings.seq_len),
        initial=pos.batch,
        disable=not progress,
        desc=f"epoch {pos.epoch + 1}/{settings.epochs}",
    )
    for batch, (x, y) in enumerate(chunks(data, settings.seq_len)):
        if batch < pos.batch:
            continue
        loss, state = step_loss(model, x, y, _detach(state))
        opt.zero_grad()
        loss.backward()
        if settings.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
        opt.step()
        total, count = total + loss.item() * y.numel(), count + y.numel()
        bar.update()
        if progress and batch % 10 == 0:
            elapsed = time.perf_counter() - clock
            bar.set_postfix(ppl=f"{math.exp(total / count):.1f}",
                            words_per_s=f"{count / elapsed:.0f}")  # fmt: skip
        if checkpoint is not None and (batch + 1) % settings.checkpoint_every == 0:
            here = replace(pos, batch=batch + 1, state=_detach(state))
            _checkpoint(checkpoint, model, opt, here)
    bar.close()
    pos.log = [
        *pos.log,
        {
            "epoch": pos.epoch + 1,
            "train_loss": total / max(count, 1),
            "lr": settings.lr_at(pos.epoch),
            "tokens_per_s": count / (time.perf_counter() - clock),
        },
    ]
    pos.epoch, pos.batch, pos.state = pos.epoch + 1, 0, None
    if checkpoint is not None:
        _checkpoint(checkpoint, model, opt, pos)


@torch.no_grad()
def log_probs(model, tokens, seq_len: int = 200) -> torch.Tensor:
    """Log-probabilities (T-1, V) of each next token of a single ``(T,)`` stream."""
    model.eval()
    data = torch.as_tensor(tokens, dtype=torch.long).view(-1, 1)
    state, out = None, []
    for x, _ in chunks(data, seq_len):
        logits, state = model(x, state)
        out.append(F.log_softmax(logits[:, 0], dim=-1))
    return torch.cat(out)


def perplexity(logp: torch.Tensor, tokens) -> float:
    """exp of the mean negative log-likelihood of ``tokens[1:]`` under ``logp``."""
    targets = torch.as_tensor(tokens, dtype=torch.long)[1:]
    return math.exp(-logp.gather(1, targets[:, None]).mean().item())
