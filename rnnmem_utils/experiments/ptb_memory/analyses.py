"""E4's analyses on the gold-tagged held-out treebank lines (sections 4.3.2-5).

The analysis set is the treebank sentences that align exactly with
``ptb.train.txt`` (held out of training), as one token stream with a gold tag
per token (``EOS`` for ``<eos>``). Every curve goes through
:mod:`rnnmem_utils.analysis.memory`, one implementation for all of them:
the stream is cut into segments of :data:`SEGMENT` tokens, each started from
the model's true state (:func:`sample`, the same segments and bootstrap
blocks for every model, so draw r of two models' curves is a paired draw of
their difference); the engine sums G per group and block; the statistics and
their bootstrap draws come from :func:`memory.curve_draws`.

Grouping. Every group -- a POS class (Figure 8a), a word (Figure 9), the
nouns or verbs of section 5 -- collects G[t, tau] = d s_t / d e_{t-tau} by
the word at the SOURCE t - tau, whose embedding is differentiated
(:data:`GROUP_BY`): the paper averages "the gradient matrices over all
occurrences of a word" to see how that word is remembered, and its public
code files each matrix under the input word at t - tau. At delay 0 source
and target coincide (Figure 8b's per-word sigma_1, :func:`per_word_delay0`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...analysis import memory as mem
from ...analysis import state_gradients as sg

GROUP_BY = "source"  # the paper's grouping (module docstring)
SEGMENT = 200  # analysis segments start from the model's true state
BLOCKS = 8  # bootstrap units: random sets of whole segments
# Figure 8a's classes: PTB tags of each word class (the union of its tags,
# as Table 3's word classes); "Conj-P" = conjunctions and prepositions
POS_CLASSES = {
    "N": ("NN", "NNS", "NNP", "NNPS"),
    "V": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
    "Adj": ("JJ", "JJR", "JJS"),
    "Adv": ("RB", "RBR", "RBS"),
    "Pro": ("PRP", "PRP$", "WP", "WP$"),
    "Det": ("DT", "PDT", "WDT"),
    "Conj-P": ("CC", "IN"),
}
# Figure 8b: training-frequency bins; the paper names "< 10" and ">= 500"
FREQ_EDGES = (10, 100, 500)
STATISTICS = ("sigma_1", "selectiveness", "share_top5", "sum_sigma")


def freq_label(count: int) -> str:
    lo = 0
    for hi in FREQ_EDGES:
        if count < hi:
            return f"{lo}-{hi - 1}" if lo else f"<{hi}"
        lo = hi
    return f">={FREQ_EDGES[-1]}"


def freq_labels() -> list[str]:
    return [freq_label(c) for c in (0, *FREQ_EDGES)]


def analysis_stream(alignment, vocab) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and gold tags of the aligned sentences, each line + <eos>."""
    ids, tags = [], []
    for _, _, sent in alignment.pairs:
        ids.extend(vocab.index[w] for w, _ in sent)
        tags.extend(t for _, t in sent)
        ids.append(vocab.index["<eos>"])
        tags.append("EOS")
    return np.array(ids, dtype=np.int64), np.array(tags)


def sample(model, ids, cfg) -> mem.Sample:
    """``cfg.positions`` positions of the analysis stream in segments of
    :data:`SEGMENT` (refused if the stream is shorter than asked)."""
    usable = len(ids) // SEGMENT * SEGMENT
    if cfg.positions > usable:
        raise ValueError(
            f"positions={cfg.positions:,} exceeds the {usable:,} analysis tokens "
            f"in whole segments of {SEGMENT} (the held-out treebank lines hold "
            f"{len(ids):,})"
        )
    return mem.sample_segments(model, ids, length=SEGMENT, positions=cfg.positions,
                               blocks=BLOCKS, seed=cfg.seed)  # fmt: skip


def pos_grouping(tags: np.ndarray, classes=tuple(POS_CLASSES)) -> mem.Grouping:
    """Each position's Figure 8a class (-1: none of them)."""
    labels = np.full(len(tags), -1)
    for k, name in enumerate(classes):
        labels[np.isin(tags, POS_CLASSES[name])] = k
    return mem.Grouping(labels, classes)


def group_sums(model, smp, groupings, cfg, *, state="c") -> dict:
    """One sweep of the engine: sums per group and block, by :data:`GROUP_BY`."""
    return mem.block_sums(model, smp, groupings, state=state, by=GROUP_BY,
                          max_delay=cfg.max_delay,
                          batch=cfg.gradient_streams)  # fmt: skip


def draws(sums, cfg, chol=None) -> dict:
    """``{grouping: {group: packed Draws}}`` (:func:`pack`: storable)."""
    out = mem.curve_draws(sums, chol=chol, statistics=STATISTICS,
                          n_boot=cfg.bootstrap, seed=cfg.seed)  # fmt: skip
    return {
        name: {g: pack(d) for g, d in groups.items()} for name, groups in out.items()
    }


def pack(d: mem.Draws) -> dict:
    """Draws as tensors and lists: loadable from the store with weights_only."""
    return {"value": torch.as_tensor(d.value), "boot": torch.as_tensor(d.boot),
            "n": torch.as_tensor(d.n), "statistics": list(d.statistics)}  # fmt: skip


def unpack(d: dict) -> mem.Draws:
    return mem.Draws(d["value"].numpy(), d["boot"].numpy(), d["n"].numpy(),
                     tuple(d["statistics"]))  # fmt: skip


def tidy(draws: dict, level: float = 0.95, **labels) -> pd.DataFrame:
    """``{group: Draws}`` -> rows (labels..., group, delay, statistic, value,
    lo, hi, count): :func:`memory.draws_table` per group."""
    frames = [mem.draws_table(d, level).assign(group=g) for g, d in draws.items()]
    df = pd.concat(frames, ignore_index=True).rename(columns={"n": "count"})
    df = df[["group", "delay", "statistic", "value", "lo", "hi", "count"]]
    for k, v in reversed(labels.items()):
        df.insert(0, k, v)
    return df


def layout(values: np.ndarray, t: int, b: int) -> np.ndarray:
    """``(N,)`` -> ``(t, b)``: stream j is the j-th contiguous piece of the text."""
    per = len(values) // b
    return values[: per * b].reshape(b, per)[:, :t].T


@torch.no_grad()
def per_word_delay0(model, tokens, *, state="c", first_target=0):
    """Mean G[t, 0] = d s_t / d x_t per word: ``(words, sums (W, H, E), counts)``.

    Delay 0 needs no history of tangents: each step's input tangents (B, E, H)
    are added into one row per word (``index_add_``), float64, so the
    whole analysis vocabulary fits (about 6,000 words x E x H x 8 bytes,
    under 1 GB at E=64, H=256) and every position is read once. At delay 0
    the source is the target: no choice of grouping arises.
    """
    tokens = torch.as_tensor(tokens)  # (T, B)
    words, rows = torch.unique(tokens[first_target:], return_inverse=True)
    rows = torch.cat([rows.new_full((first_target, tokens.shape[1]), -1), rows])
    view = sg.analysis_view(model)  # the engine's folded tangents, not torch.func
    k = view.state_index(state)
    xs = view.embed(tokens)
    s = view.init_state(tokens.shape[1])
    sums = torch.zeros(len(words), xs.shape[-1] * s[k].shape[-1], dtype=torch.float64)
    counts = torch.zeros(len(words), dtype=torch.float64)
    empty = tuple(v.new_zeros(v.shape[0], 0, v.shape[-1]) for v in s)
    for t, x_t in enumerate(xs):
        s, new = _step0(view, x_t, s, empty)
        if t < first_target:
            continue
        sums.index_add_(0, rows[t], new[k].reshape(len(x_t), -1).double())
        counts.index_add_(0, rows[t], torch.ones(len(x_t), dtype=torch.float64))
    e, h = xs.shape[-1], s[k].shape[-1]
    return words, sums.view(-1, e, h).transpose(1, 2), counts


def _step0(model, x_t, s, empty):
    """One step and its input tangents (the engine's step, no state tangents)."""
    return sg._step(model, x_t, s, empty, tuple(v.clone() for v in empty))
