"""Figures of E1 (information latching) and E2 (bit relay). Each returns a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import CELL_COLORS

LABELS = {"rnn": "simple RNN", "lstm": "LSTM", "gru": "GRU"}


def _part(df: pd.DataFrame, part: str, shuffled: bool = True) -> pd.DataFrame:
    return df[(df.part == part) & (df.shuffled.astype(bool) == shuffled)]


def _jitter(n: int, width: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-width, width, n)


def accuracy_vs_length(runs, summary, part: str = "grid", title: str = "", ax=None):
    """Final validation accuracy per cell: the mean over repeats, and every run."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 4))
    s, r = _part(summary, part), _part(runs, part)
    for k, (cell, g) in enumerate(s.groupby("cell", sort=False)):
        color, off = CELL_COLORS[cell], (k - 1) * 0.6
        pts = r[r.cell == cell]
        ax.scatter(
            pts.seq_len + off + _jitter(len(pts), 0.3, k),
            pts.val_acc,
            s=6,
            alpha=0.3,
            color=color,
        )
        # no +- std bars: runs are bimodal (latch or chance), so the dots and
        # the success curve's Wilson band carry the spread
        ax.plot(
            g.seq_len + off,
            g.mean_acc,
            marker="o",
            ms=4,
            color=color,
            label=LABELS[cell],
        )
    ax.axhline(0.5, ls=":", color="grey", lw=1)
    ax.set(
        xlabel="sequence length L",
        ylabel="final validation accuracy",
        ylim=(-0.03, 1.03),
        title=title,
    )
    ax.legend(loc="lower left")
    return fig


def success_vs_length(
    summary, part: str = "grid", title: str = "", ax=None, by: str = "cell"
):
    """Success frequency (fraction of repeats that learn), Bengio 1994 Fig. 2
    style, with its 95% Wilson interval as a band (with 10 runs a frequency of
    0.5 is anywhere in 0.24-0.76). ``by="style"`` draws one curve per style
    (the initialisation variants of part ``init``)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 3.5))
    groups = _part(summary, part).groupby(by, sort=False)
    for k, (name, g) in enumerate(groups):
        color = CELL_COLORS[name] if by == "cell" else f"C{k}"
        ax.fill_between(g.seq_len, g.success_lo, g.success_hi, color=color, alpha=0.15)
        ax.plot(
            g.seq_len,
            g.success_freq,
            marker="o",
            ms=4,
            color=color,
            label=LABELS.get(name, name),
        )
    ax.set(
        xlabel="sequence length L",
        ylabel="success frequency\n(band: 95% Wilson)",
        ylim=(-0.03, 1.03),
        title=title,
    )
    ax.legend()
    return fig


def split_bug(summary):
    """The question's bug beside its fix: mean accuracy per (cell, length)."""
    s = summary[summary.part == "bug"].copy()
    s["split"] = np.where(s.shuffled.astype(bool), "shuffled (fix)", "unshuffled (bug)")
    cols = sorted(s.seq_len.unique())
    fig, axes = plt.subplots(
        1, len(cols), figsize=(4 * len(cols), 3.5), sharey=True, squeeze=False
    )
    for ax, seq_len in zip(axes[0], cols, strict=True):
        g = s[s.seq_len == seq_len].pivot(
            index="cell", columns="split", values="mean_acc"
        )
        g.plot.bar(ax=ax, rot=0, color=["#55A868", "#C44E52"])
        ax.axhline(0.5, ls=":", color="grey", lw=1)
        ax.set(title=f"L = {seq_len}", xlabel="", ylabel="validation accuracy")
    return fig


def tuned_runs(runs):
    """Every run of the tuned training, per cell (labelled with the setting its
    own search chose), at each tuned length."""
    r = runs[runs.part == "tuned"]
    lengths = sorted(r.seq_len.unique())
    fig, axes = plt.subplots(
        1, len(lengths), figsize=(4 * len(lengths), 3.5), sharey=True, squeeze=False
    )
    for ax, seq_len in zip(axes[0], lengths, strict=True):
        for k, (cell, g) in enumerate(
            r[r.seq_len == seq_len].groupby("cell", sort=False)
        ):
            ax.scatter(
                k + _jitter(len(g), 0.15, k), g.val_acc, color=CELL_COLORS[cell], s=14
            )
            ax.hlines(g.val_acc.mean(), k - 0.3, k + 0.3, color=CELL_COLORS[cell])
        at = r[r.seq_len == seq_len].drop_duplicates("cell")
        labels = [_setting(row) for row in at.itertuples()]
        ax.set_xticks(range(len(at)), labels, fontsize=8)
        ax.set(title=f"L = {seq_len}", ylabel="validation accuracy", ylim=(-0.03, 1.03))
    return fig


def _setting(run) -> str:
    """A cell's name and the tuned setting it trained with (its own)."""
    if not hasattr(run, "lr") or pd.isna(run.lr):
        return LABELS[run.cell]
    return (
        f"{LABELS[run.cell]}\nlr {run.lr:g}\nbatch {int(run.batch_size)}"
        f"\n{int(run.epochs)} epochs"
    )


def styles_side_by_side(summary):
    """Keras 2018 cells vs modern PyTorch cells, one panel per cell."""
    cells = list(summary[summary.part == "torch"].cell.drop_duplicates())
    fig, axes = plt.subplots(
        1, len(cells), figsize=(4 * len(cells), 3.5), sharey=True, squeeze=False
    )
    for ax, cell in zip(axes[0], cells, strict=True):
        for part, ls in (("grid", "-"), ("torch", "--")):
            g = _part(summary, part)
            g = g[g.cell == cell]
            label = "Keras 2018 defaults" if part == "grid" else "modern PyTorch"
            ax.plot(
                g.seq_len,
                g.mean_acc,
                ls=ls,
                marker="o",
                ms=3,
                color=CELL_COLORS[cell],
                label=label,
            )
        ax.set(title=LABELS[cell], xlabel="sequence length L", ylim=(-0.03, 1.03))
        ax.legend(loc="lower left", fontsize=8)
    axes[0][0].set_ylabel("final validation accuracy")
    return fig


def landscape(df):
    """Loss over the recurrent weight (Pascanu et al. 2013, Fig. 6) and its slope."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    cmap = plt.get_cmap("viridis")
    lengths = sorted(df.seq_len.unique())
    for k, seq_len in enumerate(lengths):
        g = df[df.seq_len == seq_len]
        color = cmap(k / max(1, len(lengths) - 1))
        a.plot(g.w, g.loss, color=color, label=f"L = {seq_len}")
        b.semilogy(g.w, g.slope + 1e-12, color=color)
    a.set(xlabel="recurrent weight w", ylabel="cross-entropy loss", title="loss")
    b.set(xlabel="recurrent weight w", ylabel="|dL/dw|", title="slope (log scale)")
    a.legend(fontsize=8)
    return fig


def task_comparison(e1_summary, e2_summary):
    """Mean accuracy per cell on latching (E1 grid) vs bit relay (E2)."""
    rows = []
    for name, s, part in (
        ("latching (1 unit)", e1_summary, "grid"),
        ("bit relay (8 units)", e2_summary, "relay"),
    ):
        if s is not None:
            avg = s[s.part == part].groupby("cell").mean_acc.mean()
            rows += [
                {"task": name, "cell": LABELS[c], "mean accuracy": v}
                for c, v in avg.items()
            ]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    pd.DataFrame(rows).pivot(
        index="task", columns="cell", values="mean accuracy"
    ).plot.bar(ax=ax, rot=0, color=[CELL_COLORS[k] for k in ("gru", "lstm", "rnn")])
    ax.set(
        ylabel="mean validation accuracy\n(averaged over lengths)",
        ylim=(0, 1.05),
        xlabel="",
    )
    return fig
