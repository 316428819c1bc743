"""Figures of E3, synthetic cycles (Verwimp et al. 2018, Figures 2 and 3)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

CYCLE = 16  # one new token + 15 repeats


def counting_projection(df: pd.DataFrame):
    """Figure 2: cell states on the counting LDA's first two directions, by count."""
    order = [str(i) for i in range(CYCLE)] + ["EOS"]
    palette = sns.color_palette("husl", CYCLE) + [(0.1, 0.1, 0.1)]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sns.scatterplot(
        data=df,
        x="lda_1",
        y="lda_2",
        hue="count",
        hue_order=order,
        palette=palette,
        s=8,
        linewidth=0,
        alpha=0.6,
        rasterized=True,  # 4000 points: keeps the SVG small
        ax=ax,
    )
    centres = df.groupby("count")[["lda_1", "lda_2"]].mean()
    for label, (x, y) in centres.iterrows():
        ax.annotate(label, (x, y), fontsize=9, weight="bold", ha="center", va="center")
    ax.set(
        xlabel="LDA direction 1",
        ylabel="LDA direction 2",
        title="Cell states projected by the counting LDA",
    )
    ax.legend(
        title="count",
        ncol=2,
        fontsize=7,
        markerscale=2,
        bbox_to_anchor=(1.02, 1),
        loc="upper left",
    )
    return fig


_SPLITS = {"sum_sigma_subspace": "counting", "sum_sigma_complement": "ID"}


def memory_curves(
    curves: pd.DataFrame, delay_accuracy: pd.DataFrame, log_y: bool = True
):
    """Figure 3: sum of singular values vs delay (left), delay-0 LDA accuracy (right).

    Left: cell-state gradients averaged over all targets and over new-token
    sources, split into the counting subspace and the ID subspace (the
    complement consistent with LDA, as in Table 1).
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    styles = {"all": "-", "new token": "--"}
    colors = {"counting": "C0", "ID": "C1"}
    for stat, split in _SPLITS.items():
        for group, ls in styles.items():
            sel = curves[(curves.statistic == stat) & (curves.group == group)]
            ax.plot(
                sel.delay, sel.value, ls, color=colors[split], label=f"{group}: {split}"
            )
    ax.set(xlabel="delay (steps)", ylabel=r"$\sum \sigma$ of the cell-state gradient")
    if log_y:
        ax.set_yscale("log")
    for k in range(CYCLE, int(curves.delay.max()) + 1, CYCLE):
        ax.axvline(k, color="grey", lw=0.8, ls=":")
    right = ax.twinx()
    for state, color in (("c", "C2"), ("h", "C3")):
        sel = delay_accuracy[delay_accuracy.state == state]
        right.plot(
            sel.delay,
            sel.accuracy,
            ":",
            marker=".",
            color=color,
            label=f"LDA accuracy, {'cell' if state == 'c' else 'hidden'} state",
        )
    right.axhline(
        delay_accuracy.chance.iloc[0], color="grey", lw=0.8, ls="-.", label="chance"
    )
    right.set(ylabel="LDA accuracy (delay-0 input)", ylim=(0, 1.02))
    right.grid(False)
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower left")
    return fig


def table1_side_by_side(table1: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as the paper prints it, with ours beside the published numbers."""
    wide = table1.pivot(
        index="representation", columns="task", values=["published", "ours"]
    )
    wide = wide.swaplevel(axis=1).sort_index(axis=1, level=0)
    rows = list(dict.fromkeys(table1.representation))  # the table's own order
    return wide.loc[rows].round(0)


def error_shares(errors: pd.DataFrame) -> pd.DataFrame:
    """Errors by kind of target position, with their share of all predictions."""
    out = errors.copy()
    out["share_of_predictions"] = out["errors"] / out["positions"].sum()
    return out.sort_values("errors", ascending=False).reset_index(drop=True)
