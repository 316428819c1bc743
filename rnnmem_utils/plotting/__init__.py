"""Figures: one seaborn theme; functions that return matplotlib figures.

Experiment-specific plots live in submodules (``plotting.latching`` ...); this
module holds the theme and :func:`save_figure`, which writes PNG and SVG
atomically next to the other results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

from .. import io

CELL_COLORS = {
    "lstm": "#DD8452",
    "gru": "#55A868",
    "nlstm": "#C44E52",
    "rnn": "#4C72B0",
}


def set_theme() -> None:
    """The one theme every figure uses."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    matplotlib.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            "svg.fonttype": "none",
            "svg.hashsalt": "rnnmem",  # element ids the same on every run
        }
    )


def save_figure(fig, out_dir, name: str, formats=("png", "svg")) -> None:
    """Save ``fig`` as ``<out_dir>/figures/<name>.<fmt>`` for each format, atomically.

    Returns None: a notebook cell ending in this call prints nothing, so a
    published lesson shows no machine path (the files are
    ``figures/<name>.<fmt>`` beside the other results). The same figure gives
    the same bytes on every run (no date in the SVG, fixed element ids), so a
    rerun that changes nothing changes no committed file.
    """
    for fmt in formats:
        path = Path(out_dir) / "figures" / f"{name}.{fmt}"
        meta = {"Date": None} if fmt in ("svg", "pdf") else None
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta)
