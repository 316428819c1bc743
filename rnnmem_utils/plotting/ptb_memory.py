"""Figures of E4, PTB language models (Verwimp et al. 2018, Figures 4-10).

Every curve is drawn with its 95% bootstrap band (the ``lo``/``hi`` columns
of the tables of :mod:`rnnmem_utils.experiments.ptb_memory`): sigma_1 on a
log axis (left), selectiveness sigma_1 / sum sigma on a linear one (right).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

LABELS = {
    ("lstm256", "c"): "LSTM 256, cell c (baseline)",
    ("lstm256", "h"): "LSTM 256, hidden h",
    ("gru256", "h"): "GRU 256 (TF form)",
    ("rnn256", "h"): "vanilla RNN 256",
    ("lstm128", "c"): "LSTM 128, cell c",
    ("lstm512", "c"): "LSTM 512, cell c",
    ("untrained", "c"): "LSTM 256, random weights",
    ("lstm256_seed1", "c"): "LSTM 256, seed 1",
    ("lstm256_seed2", "c"): "LSTM 256, seed 2",
    ("wiki2_256", "c"): "Wiki-2 LSTM 256, cell c",
    ("wiki2_512", "c"): "Wiki-2 LSTM 512, cell c",
}


def _band(ax, df, label, color, style="-"):
    ax.plot(df.delay, df.value, style, color=color, label=label)
    ax.fill_between(df.delay, df.lo, df.hi, color=color, alpha=0.25, linewidth=0)


def memory(curves: pd.DataFrame, which, *, normalisation="norm", title="", labels=None):
    """sigma_1 (left, log) and selectiveness (right) vs delay for the
    (model, state) pairs in ``which`` that the run has (``labels``: legend
    entries over :data:`LABELS`)."""
    labels = {**LABELS, **(labels or {})}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colors = sns.color_palette("tab10")
    for k, key in enumerate(which):
        sel = curves[(curves.model == key[0]) & (curves.state == key[1])
                     & (curves.normalisation == normalisation)]  # fmt: skip
        if sel.empty:
            continue
        label = labels.get(tuple(key), " ".join(key))
        _band(left, sel[sel.statistic == "sigma_1"], label, colors[k])
        _band(right, sel[sel.statistic == "selectiveness"], label, colors[k])
    left.set(yscale="log", xlabel="delay τ", ylabel="σ1 (memory)")
    right.set(xlabel="delay τ", ylabel="σ1 / Σσ (selectiveness)")
    left.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def wikitext(curves: pd.DataFrame, wiki_curves: pd.DataFrame) -> dict:
    """Figure 7 as ``{name: figure}``, each only when its WikiText-2 curves
    exist: 7a the PTB and Wiki-2 512 models (PTB's on the held-out treebank
    lines, Wiki-2's on the WikiText-2 test split),
    7b Wiki-2 256 and 512 (on the WikiText-2 test split)."""
    if wiki_curves.empty:
        return {}
    both = pd.concat([curves, wiki_curves.drop(columns="text")], ignore_index=True)
    have = set(wiki_curves.model)
    figs = {}
    if "wiki2_512" in have:
        figs["fig7a_wikitext"] = memory(
            both, [("lstm512", "c"), ("wiki2_512", "c")],
            title="Figure 7a: PTB vs WikiText-2, 512 units (each on held-out text)",
            labels={("lstm512", "c"): "PTB LSTM 512, cell c"},
        )  # fmt: skip
    if have:
        figs["fig7b_wikitext_sizes"] = memory(
            both, [("wiki2_256", "c"), ("wiki2_512", "c")],
            title="Figure 7b: WikiText-2, 256 vs 512 units",
        )  # fmt: skip
    return figs


def normalisation(curves: pd.DataFrame):
    """Figure 4a: the baseline's cell state, raw vs normalised G."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    base = curves[(curves.model == "lstm256") & (curves.state == "c")]
    for color, (norm, label) in zip(
        sns.color_palette("tab10"),
        [("raw", "G (raw)"), ("norm", "G D (normalised)")],
        strict=False,
    ):
        part = base[base.normalisation == norm]
        _band(left, part[part.statistic == "sigma_1"], label, color)
        _band(right, part[part.statistic == "selectiveness"], "σ1/Σσ " + label, color)
        _band(
            right, part[part.statistic == "share_top5"], "Σ5σ/Σσ " + label, color, "--"
        )
    left.set(yscale="log", xlabel="delay τ", ylabel="σ1")
    right.set(xlabel="delay τ", ylabel="ratio of singular values")
    left.legend(fontsize=8)
    right.legend(fontsize=7)
    fig.suptitle("Figure 4a: normalisation of the baseline's cell-state gradients")
    fig.tight_layout()
    return fig


def pos_classes(pos_curves: pd.DataFrame):
    """Figure 8a: sigma_1 at delay 0 and sum sigma at the last delay per class."""
    last = pos_curves.delay.max()
    rows = []
    for stat, delay in (("sigma_1", 0), ("sum_sigma", last)):
        part = pos_curves[(pos_curves.statistic == stat) & (pos_curves.delay == delay)]
        rows.append(part.assign(what=f"{stat} at delay {delay}"))
    df = pd.concat(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (what, part) in zip(axes, df.groupby("what", sort=False), strict=True):
        part = part.sort_values("value", ascending=False)
        ax.bar(part.group, part.value, color="tab:blue", alpha=0.8)
        # a class whose draws are all alike (one word type, say) has lo = value
        # up to float32 rounding, which may put lo just above it (1e-7 of it,
        # seen at smoke): matplotlib refuses a negative error bar
        err = np.clip([part.value - part.lo, part.hi - part.value], 0, None)
        ax.errorbar(part.group, part.value, yerr=err, fmt="none", color="k",
                    capsize=3)  # fmt: skip
        ax.set(title=what, ylabel=what.split(" at")[0])
    fig.suptitle("Figure 8a: memory per POS class (baseline, cell state)")
    fig.tight_layout()
    return fig


def frequency(words: pd.DataFrame, order):
    """Figure 8b: share of each frequency bin's words per binned sigma_1."""
    edges = pd.Series(words.sigma_1).quantile([0, 0.2, 0.4, 0.6, 0.8, 1]).to_numpy()
    binned = pd.cut(words.sigma_1, sorted(set(edges)), include_lowest=True)
    share = pd.crosstab(binned, words.freq_bin, normalize="columns") * 100
    share = share[[b for b in order if b in share.columns]]
    fig, ax = plt.subplots(figsize=(8, 4))
    share.plot.bar(ax=ax, width=0.8)
    ax.set(xlabel="σ1 at delay 0 (quintile bins)",
           ylabel="% of the bin's words", title="Figure 8b: σ1 by word frequency")  # fmt: skip
    ax.legend(title="training count")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return fig


def decay(
    word_curves: pd.DataFrame, fits: pd.DataFrame, words=("the", "congressional")
):
    """Figure 9: sigma_1 of two words with their fits (left); fitted b against
    training frequency (right)."""
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colors = sns.color_palette("tab10")
    for color, word in zip(colors, words, strict=False):
        curve = word_curves[(word_curves.group == word)
                            & (word_curves.statistic == "sigma_1")]  # fmt: skip
        fit = fits[fits.word == word]
        if curve.empty or fit.empty:
            continue
        a, b = fit.a.iloc[0], fit.b.iloc[0]
        left.plot(curve.delay, curve.value, "o", ms=3, color=color, label=word)
        tau = np.arange(curve.delay.max() + 1)
        left.plot(tau, a * np.exp(-b * tau), "-", color=color,
                  label=f"fit b = {b:.2f}")  # fmt: skip
    left.set(yscale="log", xlabel="delay τ", ylabel="σ1", title="Figure 9a")
    left.legend(fontsize=8)
    ok = fits[fits.ok]
    right.errorbar(ok.train_count, ok.b, yerr=ok.b_se.clip(upper=1), fmt="o", ms=3,
                   alpha=0.6)  # fmt: skip
    right.set(xscale="log", xlabel="training count of the word",
              ylabel="fitted b (decay rate)", title="Figure 9b: b by frequency")  # fmt: skip
    fig.tight_layout()
    return fig


def properties(props: pd.DataFrame):
    """Figures 10-11: relative memory and top-1/top-5 cosines of property
    directions vs delay, with bands."""
    measures = ["relative_memory", "cosine_top1", "cosine_top5"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    colors = sns.color_palette("tab10")
    for ax, measure in zip(axes, measures, strict=True):
        part = props[props.measure == measure]
        for color, (prop, df) in zip(colors, part.groupby("property", sort=False),
                                     strict=False):  # fmt: skip
            _band(ax, df.sort_values("delay"), prop, color)
        ax.set(xlabel="delay τ", title=measure.replace("_", " "))
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=8)
    fig.suptitle("Figures 10-11: how well property directions are remembered")
    fig.tight_layout()
    return fig
