"""Train many independent small RNNs as one vectorised model.

The question's grid (seed 002) is thousands of one-unit models; trained one at
a time, Python overhead dominates and it took its author over a day of CPU.
Here all repeats *and* all sequence lengths of one cell form one model with a
leading model axis R (see :mod:`rnnmem_utils.models.keras_cells`)::

    data sets (D, N, T_max)  --gather rows of each model's own permutation-->
    batch x (T, R, B, 1)  --one time loop to max length-->  h at each model's
    own last step (R, B, H)  -->  per-model loss (R,)  --sum-->  backward

Exactly equivalent to training each model alone: model r's loss depends only
on its own parameters and data, so the gradient of the *sum* w.r.t. model r's
parameters is the gradient of its own loss; Adam is elementwise, so stacked
parameters evolve as if each had its own optimizer; each model draws its init
and its per-epoch data order from its own generators, seeded by ``seeds[r]``.
Short models run past their last step (the wasted steps feed nothing), which
costs arithmetic but saves kernel launches, the real cost at this size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.latching import Split
from ..models import keras_cells as kc

BENGIO_TARGET = 0.8  # Bengio et al. 1994: targets +-0.8 read from the unit itself


@dataclass(frozen=True)
class TrainSpec:
    """How each model is built and trained (identical for all R models).

    ``head="softmax"``: dense layer to 2 classes, cross-entropy (the question).
    ``head="unit_mse"``: the recurrent unit's own output against +-0.8, squared
    error (Bengio et al. 1994's setting)."""

    cell: str
    style: str
    hidden_size: int
    epochs: int
    batch_size: int = 16  # keras fit() default
    lr: float = 1e-3  # keras Adam default
    eps: float = 1e-7  # keras >= 2.1.3 K.epsilon(); torch's own default is 1e-8
    head: str = "softmax"


@dataclass
class TrainResult:
    params: dict  # final parameters, (R, ...) each
    val_acc: torch.Tensor  # (R,) after the last epoch
    val_loss: torch.Tensor  # (R,)
    train_loss: torch.Tensor  # (R, epochs): mean batch loss per epoch
    # (E, R): validation accuracy after each epoch in ``eval_epochs`` (the
    # same models stopped earlier: Adam has no schedule, so training for e
    # epochs is exactly the first e epochs of a longer run with the same seed)
    val_acc_at: torch.Tensor | None = None


def order_generator(seed: int) -> torch.Generator:
    """The generator of a model's per-epoch data order (distinct from its init's)."""
    return torch.Generator().manual_seed(int(seed) + (1 << 40))


def stack_data(splits: list[Split], part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the data sets to a common length: x (D, N, T_max), y (D, N)."""
    xs = [getattr(s, f"x_{part}") for s in splits]  # each (T_d, N)
    t_max, n = max(x.shape[0] for x in xs), xs[0].shape[1]
    out = xs[0].new_zeros(len(xs), n, t_max)
    for d, x in enumerate(xs):
        out[d, :, : x.shape[0]] = x.T
    return out, torch.stack([getattr(s, f"y_{part}") for s in splits])


def model_loss(
    params, spec: TrainSpec, x, y, last
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean loss (R,) and per-model correct counts (R,) on a batch.

    ``x`` (T, R, B, 1), ``y`` (R, B), ``last`` (R,) each model's last step."""
    h = kc.last_states(params, x, last, spec.cell, spec.style)  # (R, B, H)
    if spec.head == "unit_mse":
        out = h[..., 0]  # (R, B)
        target = BENGIO_TARGET * (2.0 * y.to(out.dtype) - 1.0)
        return ((out - target) ** 2).mean(1), ((out > 0).long() == y).sum(1)
    z = kc.logits(params, h)  # (R, B, 2)
    ce = F.cross_entropy(z.flatten(0, 1), y.flatten(), reduction="none")
    return ce.view(y.shape).mean(1), (z.argmax(-1) == y).sum(1)


def _batch(x_all, y_all, data_index, rows):
    """Rows ``rows`` (R, B) of each model's data set -> x (T, R, B, 1), y (R, B)."""
    d = data_index[:, None]
    x = x_all[d, rows].permute(2, 0, 1).unsqueeze(-1)
    return x, y_all[d, rows]


@torch.no_grad()
def evaluate(params, spec, x_all, y_all, data_index, last, eval_batch: int = 128):
    """Accuracy (R,) and mean loss (R,) of each model on its own data set."""
    n = y_all.shape[1]
    loss = torch.zeros(len(data_index), dtype=torch.float64)
    correct = torch.zeros(len(data_index), dtype=torch.long)
    for start in range(0, n, eval_batch):
        rows = torch.arange(start, min(n, start + eval_batch)).expand(
            len(data_index), -1
        )
        x, y = _batch(x_all, y_all, data_index, rows)
        mean, hits = model_loss(params, spec, x[: int(last.max()) + 1], y, last)
        loss += mean.double() * rows.shape[1]
        correct += hits
    return correct.double() / n, loss / n


def train_multiseed(
    spec: TrainSpec,
    splits: list[Split],
    data_index,
    seeds,
    *,
    dtype=torch.float32,
    progress: bool = False,
    threads: int | None = 1,
    lrs=None,
    eval_epochs=(),
    init: dict | None = None,
) -> TrainResult:
    """Train ``len(seeds)`` independent models as one; model r trains on
    ``splits[data_index[r]]`` with init and data order drawn from ``seeds[r]``.

    ``lrs``: an Adam learning rate per model (default: ``spec.lr`` for all),
    so a learning-rate search trains as one model too. ``eval_epochs``:
    epochs after which every model's validation accuracy is also recorded
    (``val_acc_at``), so an epoch search costs one training to the longest.
    ``init``: initial parameters (R, ...) to start from instead of the
    cell's own initialisation (the data order still comes from ``seeds``).

    All data sets must have the same number of sequences; their lengths may
    differ (each model reads its state at its own last step). ``threads``:
    torch's intra-op threads while training (restored afterwards); the ops
    here are tiny, and a second thread only adds synchronisation and
    busy-waiting (measured: twice the CPU for no speed-up on 2 cores); None
    leaves torch's setting alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return _train(
            spec, splits, data_index, seeds, dtype, progress, lrs, eval_epochs, init
        )
    finally:
        torch.set_num_threads(before)


def _train(
    spec, splits, data_index, seeds, dtype, progress, lrs, eval_epochs, init
) -> TrainResult:
    data_index = torch.as_tensor(list(data_index), dtype=torch.long)
    x_tr, y_tr = stack_data(splits, "train")
    x_va, y_va = stack_data(splits, "val")
    x_tr, x_va = x_tr.to(dtype), x_va.to(dtype)
    last = torch.as_tensor(
        [splits[d].x_train.shape[0] - 1 for d in data_index.tolist()]
    )
    if init is None:
        params = _init(spec, seeds, dtype)
    else:
        params = {
            k: v.detach().to(dtype).clone().requires_grad_() for k, v in init.items()
        }
    # per-model lr: Adam's step is linear in lr, so run it at lr 1 and scale
    # each model's step by its own lr (see _scaled_step)
    opt = torch.optim.Adam(
        list(params.values()), lr=spec.lr if lrs is None else 1.0, eps=spec.eps
    )
    lr_r = None if lrs is None else torch.as_tensor(list(lrs), dtype=dtype)
    acc_at = []
    gens = [order_generator(s) for s in seeds]
    n, t_len = y_tr.shape[1], int(last.max()) + 1
    steps = -(-n // spec.batch_size)  # keras keeps the last, smaller batch
    train_loss = torch.zeros(len(seeds), spec.epochs, dtype=torch.float64)
    bar = tqdm(
        total=spec.epochs * steps,
        disable=not progress,
        leave=False,
        desc=f"{spec.cell}/{spec.style}",
    )
    for epoch in range(spec.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens])  # (R, N)
        for s in range(steps):
            rows = perm[:, s * spec.batch_size : (s + 1) * spec.batch_size]
            x, y = _batch(x_tr, y_tr, data_index, rows)
            loss, _ = model_loss(params, spec, x[:t_len], y, last)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()  # sum: each model gets its own loss's gradient
            _scaled_step(opt, params, lr_r)
            train_loss[:, epoch] += loss.detach().double() / steps
            bar.update()
        if epoch + 1 in eval_epochs:
            acc_at.append(evaluate(params, spec, x_va, y_va, data_index, last)[0])
    bar.close()
    acc, vloss = evaluate(params, spec, x_va, y_va, data_index, last)
    final = {k: v.detach() for k, v in params.items()}
    at = torch.stack(acc_at) if acc_at else None
    return TrainResult(final, acc, vloss, train_loss, at)


@torch.no_grad()
def _scaled_step(opt, params: dict, lr_r) -> None:
    """``opt.step()``; with per-model learning rates ``lr_r`` (R,), the step
    taken at lr 1 is scaled by each model's own lr (model axis first)."""
    if lr_r is None:
        opt.step()
        return
    before = {k: p.clone() for k, p in params.items()}
    opt.step()
    for k, p in params.items():
        scale = lr_r.view(-1, *([1] * (p.dim() - 1)))
        p.copy_(torch.addcmul(before[k], scale, p - before[k]))


def _init(spec: TrainSpec, seeds, dtype) -> dict:
    n_out = 0 if spec.head == "unit_mse" else 2
    params = kc.init_params(
        spec.cell, spec.style, spec.hidden_size, seeds, n_out=n_out, dtype=dtype
    )
    return {k: v.requires_grad_() for k, v in params.items()}
