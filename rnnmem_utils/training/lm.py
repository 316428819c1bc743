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
        logits, state = model(x, _detach(state))  # (T, B, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
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
