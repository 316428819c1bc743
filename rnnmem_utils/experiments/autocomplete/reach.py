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


# ---------------------------------------------------------------------------
# The walkthrough made testable: per model and position, the rank and
# probability of the word being typed and where the row's connectivity lies
# ---------------------------------------------------------------------------
GRAMMAR_CHARS = range(1, 5)  # the second 'grammar' after 1..4 characters


def _word_span(shown: str, word: str, before: int) -> range:
    """Positions of the characters of the last ``word`` starting before
    ``before`` in ``shown`` (the probe with its leading space)."""
    start = shown.rfind(f" {word} ", 0, before) + 1
    if start <= 0:
        raise ValueError(f"{word!r} does not occur before position {before}")
    return range(start, start + len(word))


def row_shares(walk: pd.DataFrame, shown: str, position: int) -> dict:
    """Shares of one row's connectivity (any scale: shares ignore it) on the
    inputs before the word being typed and on the characters of
    :data:`published.CONTEXT_WORD`."""
    r = walk[walk.position == position]
    total = float(r.value.sum())
    start = shown.rfind(" ", 0, position + 1)
    ctx = _word_span(shown, published.CONTEXT_WORD, position)
    earlier = float(r.value[r.source < start].sum()) / total if total > 0 else 0.0
    on_ctx = float(r.value[r.source.isin(ctx)].sum()) / total if total > 0 else 0.0
    return {"earlier_share": earlier, "context_share": on_ctx}


def walkthrough_facts(models: dict, vocab, walk: pd.DataFrame) -> pd.DataFrame:
    """One line per model, walkthrough position and characters typed of the
    word there (the second 'grammar' after 1..4): the word, whether it is a
    class, its rank among the model's suggestions (1 = top; 0 when not a
    class) and probability, and the row shares of :func:`row_shares` (at the
    walkthrough positions themselves; ``walk`` is :func:`walkthrough`)."""
    text = published.PROBE_SENTENCE
    shown = " " + " ".join(text.split())
    chars, _ = encode(text, vocab)
    index = {w: i for i, w in enumerate(vocab)}
    out = []
    for kind, model in models.items():
        with torch.no_grad():
            logp = model.log_probs(torch.from_numpy(chars)[None])[0]
        for pos, word in sorted(published.WALKTHROUGH_WORDS.items()):
            start = shown.rfind(" ", 0, pos + 1)  # the space before the word
            shares = row_shares(walk[walk.model == kind], shown, pos)
            i = index.get(word)
            for k in GRAMMAR_CHARS if word == "grammar" else [pos - start]:
                t = start + k
                rank = 0 if i is None else int((logp[t] > logp[t, i]).sum()) + 1
                p = float("nan") if i is None else float(logp[t, i].exp())
                out.append((kind, pos, t, k, word, i is not None, rank, p,
                            shares["earlier_share"], shares["context_share"]))  # fmt: skip
    return pd.DataFrame(out, columns=["model", "position", "at", "chars_seen", "word",
                                      "in_vocabulary", "rank", "probability",
                                      "earlier_share", "context_share"])  # fmt: skip
