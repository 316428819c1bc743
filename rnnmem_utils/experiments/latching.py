"""E1 information latching and E2 bit relay (seed 002; Bengio et al. 1994).

``run_latching(cfg, out_dir)`` runs, each part vectorised over all its repeats
and lengths (:mod:`rnnmem_utils.training.multiseed`) and stored as one chunk
per (part, cell, style) with :func:`rnnmem_utils.io.load_or_compute`, so an
interrupted run resumes where it stopped:

- ``grid``: the question's grid with the Keras 2018 cells (shuffled split);
- ``torch``: the same cells in their modern PyTorch form (``torch_lengths``);
- ``bug``: the question's unshuffled split beside the shuffled fix;
- ``tuned``: the answer's "training tuned to converge" at lengths 5 and 100;
- ``bengio``: Bengio 1994's own setting (one tanh unit, targets +-0.8);
- the loss landscape of Pascanu et al. 2013, Fig. 6.

``run_bit_relay(cfg, out_dir)`` runs the bit-relay grid (8 units).
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..analysis.landscape import loss_landscape
from ..config import config_hash
from ..data.latching import make_split
from ..training.multiseed import TrainSpec, train_multiseed
from . import latching_claims as lc

CHUNKS = "chunks"


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


def train_chunk(
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
    variant = "" if noise_on_first else "bengio"  # all parts share the data
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


def _chunk(out_dir, name, cfg, compute) -> pd.DataFrame:
    """A stored unit of work in the output's ``cache/`` (which the runner empties
    when the code or configuration changes); its name also carries the
    configuration's hash, so a direct call never reuses a stale chunk."""
    path = io.cache_dir(out_dir) / CHUNKS / f"{name}_{config_hash(cfg)}.csv"
    return io.load_or_compute(path, compute)


def summarise(runs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (part, cell, style, shuffled, seq_len): mean, std, success frequency."""
    keys = ["part", "cell", "style", "shuffled", "seq_len"]
    g = runs.assign(success=runs.val_acc >= threshold).groupby(keys, sort=False)
    out = g.agg(
        mean_acc=("val_acc", "mean"),
        std_acc=("val_acc", "std"),
        success_freq=("success", "mean"),
        repeats=("val_acc", "size"),
    )
    return out.reset_index()


def _parts(cfg):
    """(part, style, lengths, repeats, spec kwargs, split kinds) of E1."""
    base = dict(
        hidden_size=cfg.hidden_size,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
    )
    tuned = dict(
        base, epochs=cfg.tuned_epochs, batch_size=cfg.tuned_batch_size, lr=cfg.tuned_lr
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
        ("tuned", "keras2018", cfg.tuned_lengths, cfg.tuned_repeats, tuned, (True,)),
    ]


def run_latching(cfg, out_dir, preset: str = "default", progress: bool = True) -> dict:
    """E1: every part above; writes runs.csv, summary.csv, landscape.csv, claims."""
    out_dir = Path(out_dir)
    frames = []
    for part, style, lengths, repeats, kw, kinds in _parts(cfg):
        for cell in cfg.cells:
            spec = TrainSpec(cell, style, **kw)
            frames.append(
                _chunk(
                    out_dir,
                    f"{part}_{style}_{cell}",
                    cfg,
                    functools.partial(
                        train_chunk,
                        cfg,
                        task="latching",
                        part=part,
                        cell=cell,
                        style=style,
                        lengths=lengths,
                        repeats=repeats,
                        spec=spec,
                        split_kinds=kinds,
                        progress=progress,
                    ),
                )
            )
    frames.append(
        _chunk(
            out_dir, "bengio_torch_srnn", cfg, functools.partial(_bengio, cfg, progress)
        )
    )
    runs = pd.concat(frames, ignore_index=True)
    summary = summarise(runs, cfg.success_threshold)
    landscape = io.load_or_compute(
        out_dir / "landscape.csv",
        lambda: loss_landscape(
            cfg.landscape_lengths,
            np.linspace(-3.0, 3.0, cfg.landscape_points),
            noise_std=cfg.noise_std,
            seed=cfg.seed,
        ),
    )
    io.write_csv(out_dir / "runs.csv", runs)
    io.write_csv(out_dir / "summary.csv", summary)
    claims = lc.latching_claims(cfg, preset, summary, landscape)
    claims.write(out_dir)
    return {"runs": runs, "summary": summary, "landscape": landscape, "claims": claims}


def search_tuned(
    cfg, settings, seq_len: int = 100, cell: str = "srnn", progress: bool = False
) -> pd.DataFrame:
    """The search behind the ``tuned_*`` presets: one row per ``(lr, batch_size,
    epochs)`` in ``settings``, training ``cfg.tuned_repeats`` Keras 2018 ``cell``
    models at ``seq_len`` exactly as the ``tuned`` part does (same data, same
    seeds), with their mean accuracy and success frequency."""
    rows = []
    for lr, batch_size, epochs in settings:
        spec = TrainSpec(cell, "keras2018", cfg.hidden_size, epochs, batch_size, lr)
        df = train_chunk(
            cfg,
            task="latching",
            part="tuned",
            cell=cell,
            style="keras2018",
            lengths=(seq_len,),
            repeats=cfg.tuned_repeats,
            spec=spec,
            progress=progress,
        )
        rows.append(
            dict(
                cell=cell,
                seq_len=seq_len,
                lr=lr,
                batch_size=batch_size,
                epochs=epochs,
                repeats=len(df),
                mean_acc=df.val_acc.mean(),
                success_freq=(df.val_acc >= cfg.success_threshold).mean(),
            )
        )
    return pd.DataFrame(rows)


def _bengio(cfg, progress) -> pd.DataFrame:
    """Bengio 1994's setting: one tanh unit read out directly against +-0.8,
    no noise on the first element; modern (torch) init U(-1, 1)."""
    spec = TrainSpec(
        "srnn",
        "torch",
        1,
        cfg.bengio_epochs,
        cfg.batch_size,
        cfg.lr,
        eps=1e-8,
        head="unit_mse",
    )
    return train_chunk(
        cfg,
        task="latching",
        part="bengio",
        cell="srnn",
        style="torch",
        lengths=cfg.bengio_lengths,
        repeats=cfg.bengio_repeats,
        spec=spec,
        noise_on_first=False,
        progress=progress,
    )


RELAY_PARTS = {"keras2018": "relay", "torch": "relay_torch"}


def run_bit_relay(
    cfg, out_dir, preset: str = "default", progress: bool = True, latching_dir=None
) -> dict:
    """E2: the bit-relay grid, per style in ``cfg.styles`` (parts ``relay`` for
    the Keras 2018 cells, ``relay_torch`` for the modern ones). ``latching_dir``
    holds E1's ``summary.csv`` for the task-specific claim (default: the
    sibling ``latching`` directory of ``out_dir``)."""
    out_dir = Path(out_dir)
    frames = [
        _relay_chunk(cfg, out_dir, cell, style, progress)
        for style in cfg.styles
        for cell in cfg.cells
    ]
    runs = pd.concat(frames, ignore_index=True)
    summary = summarise(runs, cfg.success_threshold)
    io.write_csv(out_dir / "runs.csv", runs)
    io.write_csv(out_dir / "summary.csv", summary)
    latching_dir = Path(latching_dir) if latching_dir else out_dir.parent / "latching"
    e1 = latching_dir / "summary.csv"
    e1_summary = pd.read_csv(e1) if e1.exists() else None
    claims = lc.bit_relay_claims(cfg, preset, summary, e1_summary)
    claims.write(out_dir)
    return {"runs": runs, "summary": summary, "claims": claims, "latching": e1_summary}


def _relay_chunk(cfg, out_dir, cell, style, progress) -> pd.DataFrame:
    eps = 1e-7 if style == "keras2018" else 1e-8  # each library's Adam default
    spec = TrainSpec(
        cell, style, cfg.hidden_size, cfg.epochs, cfg.batch_size, cfg.lr, eps=eps
    )
    compute = functools.partial(
        train_chunk,
        cfg,
        task="bit_relay",
        part=RELAY_PARTS[style],
        cell=cell,
        style=style,
        lengths=cfg.lengths,
        repeats=cfg.repeats,
        spec=spec,
        progress=progress,
    )
    return _chunk(out_dir, f"relay_{style}_{cell}", cfg, compute)
