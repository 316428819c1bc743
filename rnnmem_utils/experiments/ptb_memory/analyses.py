"""E4's analyses on the gold-tagged held-out treebank lines (sections 4.3.2-4.3.4).

The analysis set is the treebank sentences that align exactly with
``ptb.train.txt`` (held out of training), as one token stream with a gold tag
per token (``EOS`` for ``<eos>``). It is cut into ``gradient_streams``
parallel streams (the layout of :func:`rnnmem_utils.training.lm.batchify`),
each read from its start; the first ``max_delay`` steps are a burn-in so that
every counted target has its whole history of delays.

Sampling error. Positions are split into ``BLOCKS`` blocks of whole streams;
the engine sums each block separately (one group per block), and a bootstrap
over blocks (resampling whole streams, which keeps the correlation of
neighbouring positions) gives a percentile band for every statistic of every
curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...analysis import state_gradients as sg

BLOCKS = 8  # bootstrap units (blocks of streams) of the all-word curves
POS_BLOCKS = 4  # fewer for the per-class sums: memory is groups x D x E x H
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
STATISTICS = ("sigma_1", "selectiveness", "top5", "sum_sigma")


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


def grid(n_tokens: int, cfg) -> tuple[int, int]:
    """(T, B): rows and streams covering ``cfg.positions`` targets after the
    ``max_delay`` burn-in (refused if the analysis set is too short)."""
    b = cfg.gradient_streams
    t = cfg.max_delay + -(-cfg.positions // b)
    if t * b > n_tokens:
        raise ValueError(
            f"positions={cfg.positions} with gradient_streams={b} and a burn-in of "
            f"max_delay={cfg.max_delay} needs {t * b:,} analysis tokens; the "
            f"held-out treebank lines hold {n_tokens:,}"
        )
    return t, b


def layout(values: np.ndarray, t: int, b: int) -> np.ndarray:
    """``(N,)`` -> ``(t, b)``: stream j is the j-th contiguous piece of the text."""
    per = len(values) // b
    return values[: per * b].reshape(b, per)[:, :t].T


def block_masks(t: int, b: int, blocks: int) -> list[torch.Tensor]:
    """One bool mask (t, b) per block of whole streams."""
    owner = torch.arange(b) * blocks // b  # stream -> block
    return [(owner == k).expand(t, b).clone() for k in range(blocks)]


def gradient_sums(model, tokens, masks: dict, cfg, *, state="c", by="target"):
    """The engine over ``tokens`` (T, B) for every named mask (T, B)."""
    return sg.state_gradient_sums(
        model,
        torch.as_tensor(tokens),
        {k: torch.as_tensor(v) for k, v in masks.items()},
        state=state,
        max_delay=cfg.max_delay,
        by=by,
        first_target=cfg.max_delay,
    )


def blocked(masks: dict, t: int, b: int, blocks: int) -> dict:
    """``{name: mask}`` -> ``{"name|k": mask & block k}``."""
    out = {}
    for name, m in masks.items():
        for k, blk in enumerate(block_masks(t, b, blocks)):
            out[f"{name}|{k}"] = torch.as_tensor(m) & blk
    return out


def _stats(g: torch.Tensor) -> dict[str, torch.Tensor]:
    """Statistics of G (..., H, E) per matrix (section 4.3.2)."""
    sv = torch.linalg.svdvals(g.double())
    total = sv.sum(-1).clamp(min=1e-300)
    return {
        "sigma_1": sv[..., 0],
        "selectiveness": sv[..., 0] / total,
        "top5": sv[..., :5].sum(-1) / total,
        "sum_sigma": sv.sum(-1),
    }


def bootstrap_stats(sums, chol=None, n_boot: int = 200, seed: int = 0) -> dict:
    """Statistics of the mean G of each group of blocked ``sums``, with their
    bootstrap draws: ``{group: {"value": (S, D), "boot": (R, S, D),
    "count": (D,)}}``, S = :data:`STATISTICS`.

    ``value`` uses every block; each of the ``n_boot`` draws resamples the
    blocks with replacement (their sums and counts, so the mean is re-formed).
    """
    names = [g.split("|")[0] for g in sums.groups]
    rng = np.random.default_rng(seed)
    out = {}
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        s, c = sums.sums[idx], sums.counts[idx]  # (k, D, H, E), (k, D)
        draws = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        w = np.stack([np.bincount(d, minlength=len(idx)) for d in draws])
        w = torch.as_tensor(w, dtype=s.dtype)  # (R, k) multiplicities
        boot = [_stack(_stats(_mean(torch.einsum("rk,kdhe->rdhe", part, s),
                                    part @ c.to(s.dtype), chol)))
                for part in w.split(25)]  # fmt: skip
        out[name] = {
            "value": _stack(_stats(_mean(s.sum(0), c.sum(0), chol))),
            "boot": torch.cat(boot),
            "count": c.sum(0),
        }
    return out


def _stack(stats: dict) -> torch.Tensor:
    return torch.stack([stats[k] for k in STATISTICS], -2)  # (..., S, D)


def tidy(stats: dict, **labels) -> pd.DataFrame:
    """(group, delay, statistic, value, lo, hi, count) rows; 95% percentile
    bands from the draws; ``labels`` become constant columns."""
    rows = []
    for group, st in stats.items():
        lo, hi = np.nanpercentile(st["boot"].numpy(), [2.5, 97.5], axis=0)
        for k, stat in enumerate(STATISTICS):
            for tau in range(st["value"].shape[-1]):
                rows.append((group, tau, stat, float(st["value"][k, tau]),
                             float(lo[k, tau]), float(hi[k, tau]),
                             float(st["count"][tau])))  # fmt: skip
    cols = ["group", "delay", "statistic", "value", "lo", "hi", "count"]
    df = pd.DataFrame(rows, columns=cols)
    for k, v in labels.items():
        df.insert(0, k, v)
    return df


def _mean(s, c, chol):
    g = s / c.clamp(min=1)[..., None, None]
    return sg.normalise(g, chol) if chol is not None else g.double()


def pos_masks(tags: np.ndarray) -> dict[str, np.ndarray]:
    """Bool mask per Figure 8a class over an array of tags."""
    return {k: np.isin(tags, v) for k, v in POS_CLASSES.items()}


@torch.no_grad()
def per_word_delay0(model, tokens, *, state="c", first_target=0):
    """Mean G[t, 0] = d s_t / d x_t per word: ``(words, sums (W, H, E), counts)``.

    Delay 0 needs no history of tangents: each step's input tangents (B, E, H)
    are added into one row per word (``index_add_``), float64, so the
    whole analysis vocabulary fits (about 6,000 words x E x H x 8 bytes,
    under 1 GB at E=64, H=256) and every position is read once.
    """
    tokens = torch.as_tensor(tokens)  # (T, B)
    words, rows = torch.unique(tokens[first_target:], return_inverse=True)
    rows = torch.cat([rows.new_full((first_target, tokens.shape[1]), -1), rows])
    k = model.state_index(state)
    xs = model.embed(tokens)
    s = model.init_state(tokens.shape[1])
    sums = torch.zeros(len(words), xs.shape[-1] * s[k].shape[-1], dtype=torch.float64)
    counts = torch.zeros(len(words), dtype=torch.float64)
    empty = tuple(v.new_zeros(v.shape[0], 0, v.shape[-1]) for v in s)
    for t, x_t in enumerate(xs):
        s, new = _step0(model, x_t, s, empty)
        if t < first_target:
            continue
        sums.index_add_(0, rows[t], new[k].reshape(len(x_t), -1).double())
        counts.index_add_(0, rows[t], torch.ones(len(x_t), dtype=torch.float64))
    e, h = xs.shape[-1], s[k].shape[-1]
    return words, sums.view(-1, e, h).transpose(1, 2), counts


def _step0(model, x_t, s, empty):
    """One step and its input tangents (the engine's step, no state tangents)."""
    return sg._step(model, x_t, s, empty, tuple(v.clone() for v in empty))
