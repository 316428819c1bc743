"""Figures of E5, autocomplete connectivity (Madsen 2019, Distill)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from . import CELL_COLORS

NAMES = {"gru": "GRU", "lstm": "LSTM", "nlstm": "Nested LSTM"}


def accuracy_by_chars(df: pd.DataFrame, min_positions: int = 50):
    """Top-1/2/3 accuracy against the characters of the word already typed:
    ours (lines, 95% bootstrap band) beside the post's (dashed). Bins with
    fewer than ``min_positions`` test positions are not drawn."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for k, ax in zip((1, 2, 3), axes, strict=True):
        for model, t in df[df.top_k == k].groupby("model", sort=False):
            t = t.sort_values("chars_seen")
            ok = t.positions >= min_positions
            color = CELL_COLORS[model]
            ax.plot(t.chars_seen[ok], t.accuracy[ok], color=color, label=NAMES[model])
            ax.fill_between(t.chars_seen[ok], t.lo[ok], t.hi[ok], color=color,
                            alpha=0.2, linewidth=0)  # fmt: skip
            ax.plot(t.chars_seen, t.published, color=color, linestyle="--",
                    linewidth=1, label=f"{NAMES[model]}, the post")  # fmt: skip
        ax.set(title=f"top-{k} accuracy", xlabel="characters of the word seen",
               xticks=range(0, 22, 3))  # fmt: skip
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig


def training_curves(log: pd.DataFrame):
    """Masked cross entropy during training (train: mean over the last steps;
    validation: a fixed set of validation sequences)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for model, t in log.groupby("model", sort=False):
        color = CELL_COLORS[model]
        ax.plot(t.step, t.train_loss, color=color, label=f"{NAMES[model]} train")
        if t.valid_loss.notna().any():
            ax.plot(t.step, t.valid_loss, color=color, linestyle=":",
                    label=f"{NAMES[model]} validation")  # fmt: skip
    ax.set(xlabel="Adam step", ylabel="cross entropy (nats)", title="Training")
    ax.legend(fontsize=8)
    return fig


def reach(df: pd.DataFrame):
    """Share of connectivity from inputs before the word being typed."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    x = np.arange(len(df))
    err = np.vstack([df.earlier_word_share - df.lo, df.hi - df.earlier_word_share])
    ax.bar(x, df.earlier_word_share, yerr=err, capsize=4,
           color=[CELL_COLORS[m] for m in df.model])  # fmt: skip
    ax.set_xticks(x, [NAMES[m] for m in df.model])
    ax.set(ylabel="share before the current word", ylim=(0, 1),
           title="Reach into earlier words")  # fmt: skip
    return fig


MONO_ADVANCE = 0.6  # DejaVu Sans Mono's advance width in em (matplotlib's monospace)


def draw_text(ax, chars, values, target: int, width: int = 66, cmap="Blues"):
    """A text with each character's background coloured by ``values`` (0..1),
    the output position ``target`` framed and later characters greyed,
    wrapped every ``width`` characters (the post's connectivity figure).

    The backgrounds are one image; each line is one monospace string whose
    font size makes a character exactly one cell wide (thousands of single
    characters would take seconds to lay out)."""
    n_lines = (len(chars) + width - 1) // width
    grid = np.full(n_lines * width, np.nan)
    grid[: target + 1] = np.asarray(values, float)[: target + 1]
    ax.imshow(grid.reshape(n_lines, width), cmap=cmap, vmin=0, vmax=1.6,
              extent=(0, width, -n_lines + 0.5, 0.5), aspect="auto",
              interpolation="nearest")  # fmt: skip
    ax.set(xlim=(0, width), ylim=(-n_lines + 0.5, 0.5))
    ax.axis("off")
    cell_pt = ax.get_window_extent().width * 72 / ax.figure.dpi / width
    size = cell_pt / MONO_ADVANCE
    for line in range(n_lines):
        a, b = line * width, min((line + 1) * width, len(chars))
        cut = min(max(target + 1, a), b)  # typed so far | still to come
        for lo, hi, ink in ((a, cut, "black"), (cut, b, "0.6")):
            if hi > lo:
                ax.text(lo - a, -line, chars[lo:hi], ha="left", va="center",
                        family="DejaVu Sans Mono", fontsize=size, color=ink)  # fmt: skip
    tx, ty = target % width, -(target // width)
    ax.add_patch(Rectangle((tx, ty - 0.5), 1, 1, fill=False, edgecolor="#C44E52",
                           linewidth=1.5))  # fmt: skip


def connectivity_rows(df: pd.DataFrame, text: str, title: str = ""):
    """One panel per (output position, model): the connectivity of that output
    to every earlier character (each row divided by its maximum)."""
    positions = list(dict.fromkeys(df.position))
    models = list(dict.fromkeys(df.model))
    shown = " " + " ".join(text.split())
    n_lines = (len(shown) + 65) // 66
    n = len(positions) * len(models)
    fig, axes = plt.subplots(n, 1, figsize=(10, 0.3 * n * (n_lines + 1.2)),
                             squeeze=False)  # fmt: skip
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.02, hspace=0.6)
    i = 0
    for t in positions:
        for m in models:
            sel = df[(df.position == t) & (df.model == m)].sort_values("source")
            ax = axes[i, 0]
            draw_text(ax, shown, sel.value.to_numpy(), t)
            word = sel.target.iloc[0] if len(sel) else ""
            what = "target" if sel.target_is.iloc[0] == "target" else "top suggestion"
            ax.set_title(f"{NAMES[m]}, output {t} ({what} '{word}')", fontsize=9,
                         loc="left")  # fmt: skip
            i += 1
    if title:
        fig.suptitle(title)
    return fig
