"""Figures of the lesson "memory analysis of your own RNN" (and of the public
API's tables: any ``rm.state_gradients`` / ``rm.probe`` / ``rm.memory_capacity``
result plots with these)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def memory_curves(grads: pd.DataFrame, statistic: str = "sigma_1"):
    """``statistic`` per delay, one line per group (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=grads, x="delay", y=statistic, hue="group", ax=ax, marker=".")
    ax.set_yscale("log")
    ax.set_xlabel("delay tau (steps between the input and the state)")
    ax.set_ylabel(statistic.replace("_", " "))
    ax.legend(title="words (frequency bin: training counts)", fontsize=8)
    return fig


def probe_curves(probes: pd.DataFrame):
    """Held-out accuracy of the delay probes per state, with chance."""
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=probes, x="delay", y="accuracy", hue="state", marker="o", ax=ax)
    chance = probes.groupby("delay").chance.first()
    ax.plot(chance.index, chance.values, "k--", lw=1, label="majority class")
    ax.set_xlabel("k (decode the word k steps back)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    return fig


def capacity_curves(mc: pd.DataFrame):
    """Jaeger's MC_k per delay, one line per network, with each total."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, frame in mc.groupby("network", sort=False):
        total = frame.mc_k.sum()
        ax.plot(frame.delay, frame.mc_k, label=f"{name}: MC = {total:.1f}")
    ax.set_xlabel("delay k")
    ax.set_ylabel("MC_k (held-out r^2 of u(t-k))")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    return fig


def connectivity_map(conn: pd.DataFrame, words=None):
    """The (output x input) connectivity of one sequence; ``words`` label the
    inputs."""
    grid = conn.pivot(index="output", columns="input", values="connectivity")
    n = len(grid)
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(grid, cmap="viridis", square=True, cbar_kws={"shrink": 0.7}, ax=ax)
    if words is not None and n <= 60:
        ax.set_xticks(
            [i + 0.5 for i in range(n)], list(words)[:n], rotation=90, fontsize=7
        )
        ax.set_yticks(
            [i + 0.5 for i in range(n)], list(words)[:n], rotation=0, fontsize=7
        )
    ax.set_xlabel("input position")
    ax.set_ylabel("output position (predicting the next word)")
    return fig
