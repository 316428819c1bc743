"""Figures of the foundations lesson (seed 003). Each takes one part's result
dict from :func:`rnnmem_utils.experiments.foundations.run` and
returns a matplotlib figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import CELL_COLORS

UNIT_LABELS = ("current", "previous", "bias")


def repeat_weights(part: dict):
    """Hand-built vs learned matrices, learned units paired with hand-built ones."""
    fig, axes = plt.subplots(
        2, 3, figsize=(10, 5.5), gridspec_kw={"width_ratios": [2, 3, 1]}
    )
    for row, key in enumerate(("hand_weights", "learned_weights")):
        w = part[key]
        mats = [np.array(w["W_xh"]), np.array(w["W_hh"]), np.array(w["w_hy"])[:, None]]
        for ax, m, name, cols in zip(
            axes[row],
            mats,
            ("W_xh", "W_hh", "w_hy"),
            (["bit", "1"], list(UNIT_LABELS), ["y"]),
            strict=True,
        ):
            _annotated(ax, m, cols)
            who = "hand-built" if row == 0 else "learned"
            ax.set_title(f"{who} {name}")
    fig.tight_layout()
    return fig


def _annotated(ax, m, cols):
    lim = max(1.0, float(np.abs(m).max()))
    ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(m.shape[0]), list(UNIT_LABELS)[: m.shape[0]])
    ax.grid(False)


def truncation(part: dict):
    """Accuracy, gradient reach and activation memory against truncation."""
    df = pd.DataFrame(part["rows"])
    d, T = part["delay"], part["seq_len"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].plot(df.truncation, df.accuracy, "o-")
    axes[0].axhline(df.chance[0], color="gray", ls=":", label="chance")
    axes[0].set(ylabel="recall accuracy", ylim=(0, 1.05))
    axes[1].plot(df.truncation, df.max_reach, "o-", label="measured")
    axes[1].plot(
        df.truncation, np.minimum(df.truncation, T), "k--", lw=1, label="min(k, T)"
    )
    axes[1].set(ylabel="gradient reach (steps)")
    axes[2].plot(df.truncation, df.activation_bytes / 1e6, "o-")
    axes[2].set(ylabel="activation memory per window (MB)")
    for ax in axes:
        ax.axvline(d, color="C3", ls="--", lw=1, label=f"delay = {d}")
        ax.set_xlabel("truncation length k")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def truncation_cost(part: dict):
    """Cost against k, relative to full BPTT (k = T): left, one gradient step
    (one window); right, a whole sequence. FLOPs counted, CPU time measured
    (median over interleaved rounds, bars from the 25th to the 75th percentile)."""
    cost = sorted(part["cost"], key=lambda c: c["truncation"])
    ks = np.array([c["truncation"] for c in cost])
    full = cost[-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, unit in zip(axes, ("step", "sequence"), strict=True):
        flops = np.array([c[f"{unit}_flops"] for c in cost]) / full[f"{unit}_flops"]
        t = np.array([c[f"{unit}_seconds"] for c in cost]) / np.median(
            full[f"{unit}_seconds"]
        )  # (k, rounds)
        q1, med, q3 = np.percentile(t, [25, 50, 75], axis=1)
        ax.plot(ks, flops, "s--", color="gray", label="FLOPs (counted)")
        ax.errorbar(
            ks, med, yerr=[med - q1, q3 - med], fmt="o-", label="CPU time (measured)"
        )
        ax.axhline(1, color="k", lw=0.8, ls=":")
        ax.set(xlabel="truncation length k")
    axes[0].set(
        title="one gradient step (one window of k steps)",
        ylabel=f"cost relative to k = {ks[-1]}",
    )
    axes[1].set(title=f"a whole sequence ({part['seq_len']} steps, T/k gradient steps)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def truncation_curves(part: dict):
    df = pd.DataFrame(part["curves"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, g in df.groupby("truncation"):
        ax.plot(g.step, g.loss.rolling(10, min_periods=1).mean(), label=f"k={k}")
    ax.set(xlabel="update", ylabel="training loss (nats)", yscale="log")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def jacobian_products(part: dict):
    """||P_k|| against k for every sigma, with the bound sigma^k dashed."""
    df = pd.DataFrame(part["products"])
    acts = list(df.activation.unique())
    fig, axes = plt.subplots(1, len(acts), figsize=(5.5 * len(acts), 4), sharey=True)
    colors = plt.cm.coolwarm(np.linspace(0, 1, df.sigma.nunique()))
    for ax, act in zip(np.atleast_1d(axes), acts, strict=True):
        for c, (s, g) in zip(
            colors, df[df.activation == act].groupby("sigma"), strict=True
        ):
            ax.plot(g.k, g.norm, color=c, label=f"sigma={s:g}")
            ax.plot(g.k, g.bound, color=c, ls="--", lw=0.8)
        ax.set(
            yscale="log", xlabel="steps back k", title=f"{act} RNN", ylim=(1e-20, 1e20)
        )
    np.atleast_1d(axes)[0].set_ylabel("||dh_T / dh_(T-k)||  (dashed: sigma^k)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def clipping(part: dict):
    df = pd.DataFrame(part["clipping"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for (seed, clipped), g in df.groupby(["seed", "clipped"]):
        kw = {
            "color": "C2" if clipped else "C3",
            "alpha": 0.8,
            "label": ("clipped" if clipped else "not clipped") if seed == 0 else None,
        }
        axes[0].plot(g.step, g.loss, **kw)
        axes[1].plot(g.step, g.grad_norm, **kw)
    axes[0].set(xlabel="SGD update", ylabel="training loss (nats)")
    axes[1].set(
        xlabel="SGD update", ylabel="gradient norm (before clipping)", yscale="log"
    )
    axes[0].legend()
    fig.tight_layout()
    return fig


def highway(part: dict):
    df = pd.DataFrame(part["highway"])
    fig, ax = plt.subplots(figsize=(6, 3.8))
    colors = iter([CELL_COLORS["rnn"], "gray", CELL_COLORS["lstm"]])
    for name, g in df.groupby("model", sort=False):
        ax.plot(g.k, g.ratio, label=name, color=next(colors, None))
    ax.set(
        yscale="log", xlabel="steps back k", ylabel="gradient kept (ratio to step T)"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def unit_correlations(part: dict):
    df = pd.DataFrame(part["features"])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(df))
    ax.bar(x - 0.2, df.r_trained.abs(), 0.4, label="trained (best unit)")
    ax.bar(x + 0.2, df.best_abs_r_untrained, 0.4, label="same net before training")
    ax.set_xticks(x, [f"{f}\n({u})" for f, u in zip(df.feature, df.unit, strict=True)])
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set(ylabel="|correlation| on held-out text", ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def unit_heatmap(part: dict, width: int = 60):
    """The held-out text, one panel per feature, each character coloured by the
    activation of the unit that tracks that feature best (red +, blue -)."""
    text = part["snippet"]
    rows = len(text) // width
    acts = part["snippet_activations"]
    units = {f["feature"]: f["unit"] for f in part["features"]}
    fig, axes = plt.subplots(len(acts), 1, figsize=(14, 1.7 * len(acts) * rows / 4))
    for ax, (feat, a) in zip(np.atleast_1d(axes), acts.items(), strict=True):
        a = np.array(a[: rows * width]).reshape(rows, width)
        lim = np.abs(a).max() + 1e-9
        ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        for (i, j), ch in np.ndenumerate(
            np.array(list(text[: rows * width])).reshape(rows, width)
        ):
            ax.text(
                j,
                i,
                "_" if ch == " " else ch,
                ha="center",
                va="center",
                fontsize=8,
                family="monospace",
            )
        ax.set_title(f"unit {units[feat]}: best tracker of '{feat}'", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout()
    return fig


def layer_memory(part: dict):
    df = pd.DataFrame(part["layer_memory"])
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.bar(df.layers.astype(str), df.activation_bytes / 1e6)
    ax.set(xlabel="stacked LSTM layers", ylabel="activation memory (MB)")
    fig.tight_layout()
    return fig
