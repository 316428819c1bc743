"""The run of E2 bit relay (see the package's docstring)."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from ... import io
from ...training.multiseed import TrainSpec
from ..harness import Results, results
from ..latching import _unit, summarise, train_part
from . import claims as bc

RELAY_PARTS = {"keras2018": "relay", "torch": "relay_torch"}


def run(
    cfg, out_dir, *, preset: str = "default", needs=None, progress: bool = True
) -> Results:
    """E2: the bit-relay grid, per style in ``cfg.styles`` (parts ``relay`` for
    the Keras 2018 cells, ``relay_torch`` for the modern ones). ``needs["latching"]``
    holds E1's ``summary.csv`` for the task-specific claim (the runner passes
    E1's published result; default ``results/<preset>/latching``)."""
    out_dir = Path(out_dir)
    frames = [
        _relay_part(cfg, out_dir, cell, style, progress)
        for style in cfg.styles
        for cell in cfg.cells
    ]
    long = [L for L in cfg.gru_long_lengths if L not in cfg.lengths]
    if long and "gru" in cfg.cells and "keras2018" in cfg.styles:
        frames.append(_relay_part(cfg, out_dir, "gru", "keras2018", progress, long))
    runs = pd.concat(frames, ignore_index=True)
    summary = summarise(runs, cfg.success_threshold)
    io.write_csv(out_dir / "runs.csv", runs)
    io.write_csv(out_dir / "summary.csv", summary)
    latching_dir = Path(
        (needs or {}).get("latching") or io.results_root() / preset / "latching"
    )
    e1 = latching_dir / "summary.csv"
    e1_summary = pd.read_csv(e1) if e1.exists() else None
    claims = bc.bit_relay_claims(cfg, preset, summary, e1_summary, runs)
    claims.write(out_dir)
    return results(
        "bit_relay", preset, claims, runs=runs, summary=summary, latching=e1_summary
    )


def _relay_part(cfg, out_dir, cell, style, progress, long=None) -> pd.DataFrame:
    """One (style, cell) of the relay grid; with ``long`` lengths, the part
    ``relay_long`` at those lengths instead (same data seeds, own part)."""
    eps = 1e-7 if style == "keras2018" else 1e-8  # each library's Adam default
    spec = TrainSpec(
        cell, style, cfg.hidden_size, cfg.epochs, cfg.batch_size, cfg.lr, eps=eps
    )
    compute = functools.partial(
        train_part,
        cfg,
        task="bit_relay",
        part="relay_long" if long else RELAY_PARTS[style],
        cell=cell,
        style=style,
        lengths=long or cfg.lengths,
        repeats=cfg.repeats,
        spec=spec,
        progress=progress,
    )
    name = f"relay_{'long_' if long else ''}{style}_{cell}"
    return _unit(out_dir, name, cfg, compute)
