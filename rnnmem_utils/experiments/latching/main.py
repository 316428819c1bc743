"""The run of E1 information latching (and the fields E2 shares with it) (see the package's docstring)."""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import io, store
from ...analysis.landscape import loss_landscape
from ...claims import wilson_interval
from ...data.latching import make_split
from ...models import keras_cells as kc
from ...runner.units import map_units
from ...training.multiseed import TrainSpec, train_multiseed
from ..harness import Results, results
from . import claims as lc


def _code(*parts) -> int:
    """A stable integer for a tuple of names/numbers (seeds must not depend on
    Python's salted ``hash``)."""
    return zlib.crc32(repr(parts).encode())


def model_seed(base: int, part: str, cell: str, style: str, seq_len: int, repeat: int):
    """Each run's own seed: init and data order depend on nothing else."""
    ss = np.random.SeedSequence([base, _code(part, cell, style), seq_len, repeat])
    return int(ss.generate_state(1)[0])


def data_seed(base: int, task: str, seq_len: int, variant: str = "") -> int:
    """One data set per (task, length), shared by all cells and repeats, as in
    the question (its repeats reuse the data of a length)."""
    return int(
        np.random.SeedSequence([base, _code(task, variant), seq_len]).generate_state(1)[
            0
        ]
    )


def train_part(
    cfg,
    *,
    task,
    part,
    cell,
    style,
    lengths,
    repeats,
    spec,
    split_kinds=(True,),
    noise_on_first=True,
    progress=True,
) -> pd.DataFrame:
    """Train every (split kind, length, repeat) of one cell as one model; one row
    per run: ``part, cell, style, seq_len, shuffled, repeat, seed, val_acc, ...``."""
    keys = [(sh, L) for sh in split_kinds for L in lengths]
    variant = "" if noise_on_first else "bengio"  # all reported parts share the data
    splits = [
        make_split(
            task,
            cfg.n_sequences,
            L,
            data_seed(cfg.seed, task, L, variant),
            val_fraction=cfg.val_fraction,
            shuffle=sh,
            noise_std=cfg.noise_std,
            noise_on_first=noise_on_first,
        )
        for sh, L in keys
    ]
    runs = [(d, r) for d in range(len(keys)) for r in range(repeats)]
    seeds = [model_seed(cfg.seed, part, cell, style, keys[d][1], r) for d, r in runs]
    res = train_multiseed(spec, splits, [d for d, _ in runs], seeds, progress=progress)
    return pd.DataFrame(
        {
            "part": part,
            "cell": cell,
            "style": style,
            "seq_len": [keys[d][1] for d, _ in runs],
            "shuffled": [keys[d][0] for d, _ in runs],
            "repeat": [r for _, r in runs],
            "seed": seeds,
            "val_acc": res.val_acc.numpy(),
            "val_loss": res.val_loss.numpy(),
            "train_loss": res.train_loss[:, -1].numpy(),
        }
    )


def _unit(out_dir, name, cfg, compute) -> pd.DataFrame:
    """A unit of work kept in the store (see :func:`rnnmem_utils.store.cached`):
    keyed by the whole configuration (a unit reads many of its fields) and
    the code that trains it, so a killed run resumes from its finished units
    and a prose or plotting edit retrains nothing."""
    return store.cached(out_dir, f"latching/{name}", cfg, compute, code=_CODE)


# The modules a unit's numbers depend on (claims and plotting are not among them).
_CODE = (
    "rnnmem_utils.experiments.latching.main",
    "rnnmem_utils.training.multiseed",
    "rnnmem_utils.models.keras_cells",
    "rnnmem_utils.models.cells",
    "rnnmem_utils.data.latching",
)


def summarise(runs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (part, cell, style, shuffled, seq_len): mean, std, success frequency
    and its 95% Wilson interval ``success_lo``..``success_hi`` (a run either
    latches or sits at chance, so the frequency, not mean +- std, is the
    honest summary, and with 10 runs it is uncertain by about +-0.25)."""
    keys = ["part", "cell", "style", "shuffled", "seq_len"]
    g = runs.assign(success=runs.val_acc >= threshold).groupby(keys, sort=False)
    out = g.agg(
        mean_acc=("val_acc", "mean"),
        std_acc=("val_acc", "std"),
        success_freq=("success", "mean"),
        successes=("success", "sum"),
        repeats=("val_acc", "size"),
    ).reset_index()
    ci = [
        wilson_interval(k, n) for k, n in zip(out.successes, out.repeats, strict=True)
    ]
    out["success_lo"] = [lo for lo, _ in ci]
    out["success_hi"] = [hi for _, hi in ci]
    return out


def success_table(summary: pd.DataFrame, part: str, by: str = "cell") -> pd.DataFrame:
    """Successes of one part as "k/n (lo-hi)", the 95% Wilson interval, per
    length (rows) and cell (or ``by="style"``: variant) (columns)."""
    s = summary[summary.part == part]
    text = [
        f"{int(r.successes)}/{int(r.repeats)} ({r.success_lo:.2f}-{r.success_hi:.2f})"
        for r in s.itertuples()
    ]
    return s.assign(success=text).pivot_table(
        index=["shuffled", "seq_len"] if s.shuffled.nunique() > 1 else "seq_len",
        columns=by,
        values="success",
        aggfunc="first",
        sort=False,
    )


def _parts(cfg):
    """(part, style, lengths, repeats, spec kwargs, split kinds) of E1."""
    base = dict(
        hidden_size=cfg.hidden_size,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
    )
    return [
        ("grid", "keras2018", cfg.lengths, cfg.repeats, base, (True,)),
        (
            "torch",
            "torch",
            cfg.torch_lengths,
            cfg.repeats,
            dict(base, eps=1e-8),
            (True,),
        ),
        ("bug", "keras2018", cfg.bug_lengths, cfg.bug_repeats, base, (False, True)),
    ]


def run(
    cfg, out_dir, *, preset: str = "default", needs=None, progress: bool = True
) -> Results:
    """E1: every part above; writes runs.csv, summary.csv, landscape.csv, claims."""
    out_dir = Path(out_dir)
    items = []
    for part, style, lengths, repeats, kw, kinds in _parts(cfg):
        for cell in cfg.cells:
            compute = functools.partial(
                train_part, cfg, task="latching", part=part, cell=cell, style=style,
                lengths=lengths, repeats=repeats, spec=TrainSpec(cell, style, **kw),
                split_kinds=kinds, progress=progress,
            )  # fmt: skip
            items.append((out_dir, f"{part}_{style}_{cell}", cfg, compute))
    items += [
        (out_dir, "bengio_torch_rnn", cfg, functools.partial(_bengio, cfg, progress)),
        (out_dir, "init_rnn", cfg, functools.partial(_inits, cfg, progress)),
    ]
    # Independent units: tasks of the executor the run was launched on (one
    # after the other locally; on a Dask cluster, spread over its workers).
    frames = map_units(_stored, items, out_dir=out_dir, label=lambda it: it[1])
    tuned = map_units(_tuned_cell, [(cfg, out_dir, c, progress) for c in cfg.cells],
                      out_dir=out_dir, label=lambda it: f"search+tuned {it[2]}")  # fmt: skip
    search = pd.concat([t for t, _ in tuned], ignore_index=True)
    frames = frames[:-2] + [f for _, f in tuned] + frames[-2:]  # the order of old
    runs = pd.concat(frames, ignore_index=True)
    summary = summarise(runs, cfg.success_threshold)
    landscape = store.cached(
        out_dir,
        "latching/landscape",
        cfg,
        lambda: loss_landscape(
            cfg.landscape_lengths,
            np.linspace(-3.0, 3.0, cfg.landscape_points),
            noise_std=cfg.noise_std,
            seed=cfg.seed,
        ),
        fields=("landscape_lengths", "landscape_points", "noise_std", "seed"),
        code=("rnnmem_utils.analysis.landscape",),
    )
    io.write_csv(out_dir / "landscape.csv", landscape)
    io.write_csv(out_dir / "runs.csv", runs)
    io.write_csv(out_dir / "summary.csv", summary)
    io.write_csv(out_dir / "tuned_search.csv", search)
    claims = lc.latching_claims(cfg, preset, summary, landscape, runs, search)
    claims.write(out_dir)
    return results(
        "latching", preset, claims,
        runs=runs, summary=summary, landscape=landscape, search=search,
    )  # fmt: skip


def _stored(item) -> pd.DataFrame:
    """One unit of the store, ``(out_dir, name, cfg, compute)``: module-level,
    so a process pool or a Dask worker can run it."""
    return _unit(*item)


def _tuned_cell(item) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One cell's search (own seeds, own data), then its tuned part with the
    best setting on fresh seeds and the grid's data: (search table, runs)."""
    cfg, out_dir, cell, progress = item
    table = _unit(
        out_dir, f"search_keras2018_{cell}", cfg,
        functools.partial(search_tuned, cfg, cell, progress=progress),
    )  # fmt: skip
    lr, batch_size, epochs = best_setting(table)
    spec = TrainSpec(cell, "keras2018", cfg.hidden_size, epochs, batch_size, lr)
    compute = functools.partial(
        train_part, cfg, task="latching", part="tuned", cell=cell, style="keras2018",
        lengths=cfg.tuned_lengths, repeats=cfg.tuned_repeats, spec=spec,
        progress=progress,
    )  # fmt: skip
    df = _unit(out_dir, f"tuned_keras2018_{cell}", cfg, compute)
    return table, df.assign(lr=lr, batch_size=batch_size, epochs=epochs)


SEARCH_DATA = "search"  # the search's data: generated apart from every reported part


def search_seeds(cfg, cell: str, seq_len: int) -> list[int]:
    """The search's model seeds, repeat r the same for every setting (a paired
    design: settings are compared on the same inits), never a reported seed."""
    return [
        model_seed(cfg.seed, "search", cell, "keras2018", seq_len, r)
        for r in range(cfg.search_repeats)
    ]


def search_tuned(cfg, cell: str, progress: bool = False) -> pd.DataFrame:
    """The search behind the ``tuned`` part: one row per ``(lr, batch_size,
    epochs)`` of ``search_lrs x search_batch_sizes x search_epochs``, each with
    ``search_repeats`` Keras 2018 ``cell`` models at the longest tuned length on
    data and seeds of its own; its mean accuracy and success frequency.

    One vectorised training per batch size covers every learning rate (a
    per-model lr) and every epoch count (accuracy recorded after each)."""
    seq_len = max(cfg.tuned_lengths)
    split = make_split(
        "latching",
        cfg.n_sequences,
        seq_len,
        data_seed(cfg.seed, "latching", seq_len, SEARCH_DATA),
        val_fraction=cfg.val_fraction,
        noise_std=cfg.noise_std,
    )
    seeds = search_seeds(cfg, cell, seq_len)
    lrs = [lr for lr in cfg.search_lrs for _ in seeds]
    epochs = sorted(cfg.search_epochs)
    rows = []
    for batch_size in cfg.search_batch_sizes:
        spec = TrainSpec(cell, "keras2018", cfg.hidden_size, epochs[-1], batch_size)
        res = train_multiseed(
            spec,
            [split],
            [0] * len(lrs),
            seeds * len(cfg.search_lrs),
            lrs=lrs,
            eval_epochs=epochs,
            progress=progress,
        )
        acc = res.val_acc_at.numpy().reshape(len(epochs), len(cfg.search_lrs), -1)
        for e, n_epochs in enumerate(epochs):
            for k, lr in enumerate(cfg.search_lrs):
                rows.append(
                    dict(
                        cell=cell,
                        seq_len=seq_len,
                        lr=lr,
                        batch_size=batch_size,
                        epochs=n_epochs,
                        repeats=len(seeds),
                        mean_acc=float(acc[e, k].mean()),
                        success_freq=float((acc[e, k] >= cfg.success_threshold).mean()),
                    )
                )
    return pd.DataFrame(rows)


def best_setting(table: pd.DataFrame) -> tuple[float, int, int]:
    """The rule fixed before the search: highest success frequency ("training
    always converged"), then highest mean accuracy, then the cheapest (fewest
    epochs, largest batch) and the smallest lr, in that order."""
    order = table.sort_values(
        ["success_freq", "mean_acc", "epochs", "batch_size", "lr"],
        ascending=[False, False, True, False, True],
        kind="stable",
    )
    best = order.iloc[0]
    return float(best.lr), int(best.batch_size), int(best.epochs)


def _bengio_spec(cfg, style: str = "torch") -> TrainSpec:
    """Bengio 1994's task for one tanh unit read out directly against +-0.8;
    the training (Adam, batch, epochs) is the question's, not Bengio's."""
    return TrainSpec(
        "rnn",
        style,
        1,
        cfg.bengio_epochs,
        cfg.batch_size,
        cfg.lr,
        eps=1e-8,
        head="unit_mse",
    )


def _bengio(cfg, progress) -> pd.DataFrame:
    """Bengio 1994's task (his: one tanh unit, targets +-0.8, no noise on the
    first element) trained with Adam from PyTorch's init U(-1, 1) (ours)."""
    return train_part(
        cfg,
        task="latching",
        part="bengio",
        cell="rnn",
        style="torch",
        lengths=cfg.bengio_lengths,
        repeats=cfg.bengio_repeats,
        spec=_bengio_spec(cfg),
        noise_on_first=False,
        progress=progress,
    )


# Initialisations of Bengio's unit besides PyTorch's U(-1, 1) (part ``init``):
# PyTorch's with zero biases; Keras 2018's (w exactly +-1, glorot input weight,
# zero bias); a unit that already latches (w = 1.25 > 1, input weight 1).
INIT_VARIANTS = ("zero_bias", "keras2018", "latching")


def initial_params(variant: str, seeds) -> dict:
    """Initial parameters (R, ...) of one-unit SRNNs (torch layout, no head)."""
    p = kc.init_params("rnn", "torch", 1, seeds, n_out=0)
    if variant == "zero_bias":
        return dict(p, b_x=torch.zeros_like(p["b_x"]), b_h=torch.zeros_like(p["b_h"]))
    if variant == "keras2018":
        k = kc.init_params("rnn", "keras2018", 1, seeds, n_out=0)
        return dict(k, b_h=torch.zeros_like(k["b_x"]))
    if variant == "latching":
        zero = {k: torch.zeros_like(v) for k, v in p.items()}
        return dict(zero, W_h=zero["W_h"] + 1.25, W_x=zero["W_x"] + 1.0)
    raise ValueError(f"init variant {variant!r}; options are {list(INIT_VARIANTS)}")


def _inits(cfg, progress) -> pd.DataFrame:
    """Every init variant x ``init_lengths`` x ``init_repeats`` as one model, on
    the ``bengio`` part's data; one row per run (``style`` = the variant)."""
    lengths = list(cfg.init_lengths)
    splits = [
        make_split(
            "latching",
            cfg.n_sequences,
            L,
            data_seed(cfg.seed, "latching", L, "bengio"),
            val_fraction=cfg.val_fraction,
            noise_std=cfg.noise_std,
            noise_on_first=False,
        )
        for L in lengths
    ]
    runs = [
        (v, d, r)
        for v in INIT_VARIANTS
        for d in range(len(lengths))
        for r in range(cfg.init_repeats)
    ]
    seeds = [model_seed(cfg.seed, "init", "rnn", v, lengths[d], r) for v, d, r in runs]
    per_variant = [
        initial_params(
            v, [s for s, run in zip(seeds, runs, strict=True) if run[0] == v]
        )
        for v in INIT_VARIANTS
    ]  # runs are ordered by variant, so concatenating keeps the model order
    init = {k: torch.cat([p[k] for p in per_variant]) for k in per_variant[0]}
    res = train_multiseed(
        _bengio_spec(cfg),
        splits,
        [d for _, d, _ in runs],
        seeds,
        progress=progress,
        init=init,
    )
    return pd.DataFrame(
        {
            "part": "init",
            "cell": "rnn",
            "style": [v for v, _, _ in runs],
            "seq_len": [lengths[d] for _, d, _ in runs],
            "shuffled": True,
            "repeat": [r for _, _, r in runs],
            "seed": seeds,
            "val_acc": res.val_acc.numpy(),
            "val_loss": res.val_loss.numpy(),
            "train_loss": res.train_loss[:, -1].numpy(),
        }
    )
