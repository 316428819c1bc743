"""Connectivity of the trained models (:mod:`rnnmem_utils.analysis.connectivity`,
the post's definition): the walkthrough rows on the post's probe sentence, and
a number for the post's qualitative claim that the GRU draws on earlier
context than the LSTM.

Reach into earlier words. For output position t whose word starts at the
space w(t), the share of its (unnormalised) connectivity that comes from
inputs before that space::

    share(t) = sum_{s < w(t)} C[t, s]  /  sum_{s <= t} C[t, s]

0 when only the word being typed matters, near 1 when earlier words dominate.
Averaged over the positions whose target is a word, per sequence, so that the
bootstrap resamples sequences as everywhere else in E5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...analysis import connectivity as conn
from ...data import autocomplete as data
from . import published


def encode(text: str, vocab) -> tuple[np.ndarray, np.ndarray]:
    chars, targets = data.encode_text(text, vocab)
    return chars.astype(np.int64), targets.astype(np.int64)


def rows(model, vocab, text: str, positions, norm: str) -> pd.DataFrame:
    """Connectivity rows of ``positions`` in ``" " + text`` (each row divided by
    its maximum): one line per (position, input position).

    The logit differentiated is the target word's; where the word is not in
    the vocabulary (<unknown>, a class the masked loss never trains) it is the
    model's top suggestion there instead (``target_is`` says which)."""
    chars, targets = encode(text, vocab)
    unknown = targets == data.UNKNOWN
    if unknown.any():
        with torch.no_grad():
            logp = model.log_probs(torch.from_numpy(chars)[None])[0]
        logp[:, : data.UNKNOWN + 1] = -np.inf  # a word, not <eos>/<unknown>
        targets = np.where(unknown, logp.argmax(-1).numpy(), targets)
    c = conn.connectivity(model.connectivity_model(), chars, targets, norm=norm)
    shown = data.decode_chars(chars)
    kind = np.where(unknown, "top suggestion (word not in the vocabulary)", "target")
    out = [(t, s, shown[s], float(c[t, s]), vocab[targets[t]], kind[t])
           for t in positions for s in range(t + 1)]  # fmt: skip
    return pd.DataFrame(
        out, columns=["position", "source", "char", "value", "target", "target_is"]
    )


def walkthrough(models: dict, vocab, norm: str) -> pd.DataFrame:
    """The post's walkthrough: the probe sentence at positions 106, 159, 141."""
    parts = [rows(m, vocab, published.PROBE_SENTENCE, sorted(published.WALKTHROUGH),
                  norm).assign(model=kind) for kind, m in models.items()]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def local_position(text: str) -> int:
    """Where to look in a local sentence: one character into its last word of
    at least 4 letters (a word the model must recall from context)."""
    shown = " " + " ".join(text.split())
    starts = [i for i, ch in enumerate(shown) if ch == " "]
    for start in reversed(starts):
        end = shown.find(" ", start + 1)
        if (len(shown) if end < 0 else end) - start - 1 >= 4:
            return start + 1
    return len(shown) - 1


def local(models: dict, vocab, texts, norm: str) -> pd.DataFrame:
    parts = []
    for i, text in enumerate(texts):
        t = local_position(text)
        for kind, m in models.items():
            parts.append(rows(m, vocab, text, [t], norm).assign(model=kind, text=i))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def earlier_word_share(model, chars, targets, norm: str) -> tuple[float, int]:
    """Summed share(t) over the positions with a word target, and their count."""
    c = conn.connectivity(
        model.connectivity_model(), chars, targets, norm=norm, normalise=False
    )
    t = np.arange(len(chars))
    word_start = np.maximum.accumulate(np.where(chars == data.SPACE, t, 0))
    before = np.arange(len(chars))[None, :] < word_start[:, None]
    total = c.sum(1)
    keep = (targets > data.UNKNOWN) & (total > 0)
    share = (c * before).sum(1)[keep] / total[keep]
    return float(share.sum()), int(keep.sum())


def shares(model, dataset, index, norm: str, progress=False) -> dict[str, np.ndarray]:
    """Per sequence: summed share and count (see the module docstring)."""
    from tqdm.auto import tqdm

    num, den = [], []
    for s in tqdm(index, disable=not progress, desc="connectivity"):
        chars, targets = dataset.sequence(int(s))
        a, n = earlier_word_share(
            model, chars.astype(np.int64), targets.astype(np.int64), norm
        )
        num.append(a), den.append(n)
    return {"share_sum": np.asarray(num), "n": np.asarray(den, float)}


def as_tensors(d: dict) -> dict:
    return {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in d.items()}
