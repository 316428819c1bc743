"""Training of the autocomplete models: Adam with its defaults, batches of 64
whole sequences, no dropout, no clipping (the post's ``*_train.py``).

Batch ``k`` of epoch ``e`` is a fixed function of (seed, e, k): the training
sequences in the order of ``default_rng([seed, e]).permutation``, 64 at a time
(the post streams them through a shuffle buffer of 10,000, which cannot be
replayed outside TensorFlow). So a run resumed from a checkpoint sees the
batches an uninterrupted run would have seen, and gives the same model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import store


@dataclass(frozen=True)
class Schedule:
    """What the loop needs from the configuration."""

    steps: int
    batch_size: int
    lr: float
    seed: int
    checkpoint_every: int
    log_every: int


def batch_indices(train_index: np.ndarray, batch_size: int, seed: int, step: int):
    """Sequence indices of training step ``step`` (see the module docstring)."""
    per_epoch = len(train_index) // batch_size  # the last partial batch is dropped
    if per_epoch == 0:
        raise ValueError(
            f"{len(train_index)} training sequences make no batch of {batch_size}"
        )
    epoch, k = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(len(train_index))
    return train_index[perm[k * batch_size : (k + 1) * batch_size]]


def as_tensors(dataset, index):
    source, target, _ = dataset.batch(index)
    return torch.from_numpy(source), torch.from_numpy(target)


@torch.no_grad()
def mean_loss(model, dataset, index, batch_size: int = 64) -> float:
    """Masked cross entropy over sequences ``index`` (position-weighted)."""
    model.eval()
    total, count = 0.0, 0
    for a in range(0, len(index), batch_size):
        chars, targets = as_tensors(dataset, index[a : a + batch_size])
        n = int((targets > 1).sum())
        if n:
            total += float(model.loss(chars, targets)) * n
            count += n
    model.train()
    return total / max(count, 1)


def train(
    model,
    dataset,
    schedule: Schedule,
    *,
    checkpoint: tuple | None = None,
    valid_index=None,
    progress: bool = True,
    desc: str = "",
) -> list[dict]:
    """Train ``model`` in place; returns the log (train loss averaged over the
    last ``log_every`` steps, validation loss on ``valid_index``).

    ``checkpoint``: ``(store, key)``; progress (model, optimizer, step, log) is
    saved there every ``checkpoint_every`` steps and resumed from."""
    torch.set_flush_denormal(True)  # subnormal floats slowed steps up to 3x here
    opt = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=schedule.lr
    )
    step, log = _resume(model, opt, checkpoint)
    train_index = dataset.splits["train"]
    recent, clock = [], time.perf_counter()
    model.train()
    bar = tqdm(total=schedule.steps, initial=step, disable=not progress, desc=desc)
    while step < schedule.steps:
        index = batch_indices(train_index, schedule.batch_size, schedule.seed, step)
        loss = model.loss(*as_tensors(dataset, index))
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent.append(loss.item())
        step += 1
        bar.update()
        if step % schedule.log_every == 0 or step == schedule.steps:
            log.append(_record(model, dataset, step, recent, clock, valid_index))
            bar.set_postfix(loss=f"{log[-1]['train_loss']:.3f}")
            recent, clock = [], time.perf_counter()
        if checkpoint and (step % schedule.checkpoint_every == 0):
            _save(checkpoint, model, opt, step, log)
    bar.close()
    model.eval()
    return log


def _record(model, dataset, step, recent, clock, valid_index) -> dict:
    seconds = time.perf_counter() - clock
    valid = (
        mean_loss(model, dataset, valid_index)
        if valid_index is not None and len(valid_index)
        else math.nan
    )
    return {
        "step": step,
        "train_loss": float(np.mean(recent)) if recent else math.nan,
        "valid_loss": valid,
        "seconds_per_step": seconds / max(len(recent), 1),
    }


def _save(checkpoint, model, opt, step, log) -> None:
    st, key = checkpoint
    st.save_checkpoint(
        key,
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "log": pd.DataFrame(log).to_dict("list") if log else {},
        },
    )


def _resume(model, opt, checkpoint) -> tuple[int, list[dict]]:
    if not checkpoint:
        return 0, []
    st, key = checkpoint
    ck = st.load_checkpoint(key)
    if ck is None:
        return 0, []
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    log = pd.DataFrame(ck["log"]).to_dict("records") if ck["log"] else []
    return int(ck["step"]), log


def trained(kind, cfg, dataset, out_dir, build, *, data_hashes, progress=True):
    """Model ``kind`` trained on ``dataset`` at ``cfg``, from the store (trained
    there once, resumable from its last checkpoint); its log and store key."""
    from . import MODEL_CODE, MODEL_FIELDS

    st = store.Store(user=out_dir)
    key = st.key(
        f"autocomplete/{kind}",
        cfg,
        MODEL_FIELDS,
        extra={"model": kind, "lr": cfg.lr_of(kind)},
        data=data_hashes,
        code=MODEL_CODE,
    )
    model = build()
    schedule = Schedule(
        cfg.steps, cfg.batch_size, cfg.lr_of(kind), cfg.seed, cfg.checkpoint_every,
        cfg.log_every,
    )  # fmt: skip
    valid = dataset.splits["valid"][: cfg.log_valid_sequences]

    def compute():
        log = train(
            model, dataset, schedule, checkpoint=(st, key), valid_index=valid,
            progress=progress, desc=kind,
        )  # fmt: skip
        return {"model": model.state_dict(), "log": pd.DataFrame(log).to_dict("list")}

    stored = st.stage(key, compute, kind="torch")
    model.load_state_dict(stored["model"])
    return model.eval(), pd.DataFrame(stored["log"]), key.digest
