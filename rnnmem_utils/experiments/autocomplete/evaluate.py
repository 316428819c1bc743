"""Test scores of a trained autocomplete model, kept per sequence so that
intervals can be bootstrapped over test sequences (the unit the data set is
shuffled and split by), and top-k suggestions at any position.

Two populations of positions:

- ``known``: targets that are words of the vocabulary (not <eos>, not
  <unknown>): the positions the loss is trained and scored on (the post's
  masked cross entropy);
- ``real``: every character that is not padding, <unknown> targets included
  (a model trained with the mask never predicts <unknown>, so those count as
  misses): the post's ``ContextAccuracy`` by characters seen, which however
  also counted its padding characters; we leave padding out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data import autocomplete as data
from . import published

TOP_K = 3


@torch.no_grad()
def per_sequence(model, dataset, index, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Scores of sequences ``index``, one row per sequence:

    - ``ce_sum``, ``n_known``: summed cross entropy over known targets, count;
    - ``hits_known (n, 3)``: known targets in the top 1, 2, 3;
    - ``hits_real (n, 3)``, ``n_real``: the same over real positions;
    - ``seen_hits (n, 22, 3)``, ``seen_total (n, 22)``: by characters seen
      0..21 (real positions; longer words are left out).
    """
    model.eval()
    parts = [_batch_scores(model, dataset, index[a : a + batch_size])
             for a in range(0, len(index), batch_size)]  # fmt: skip
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _batch_scores(model, dataset, index) -> dict[str, np.ndarray]:
    source, target, _ = dataset.batch(index)
    chars, targets = torch.from_numpy(source), torch.from_numpy(target)
    logp = model.log_probs(chars)  # (B, T, V)
    top = logp.topk(TOP_K, -1).indices  # (B, T, 3)
    hit = (top == targets[..., None]).cumsum(-1).bool().numpy()  # in top 1, 2, 3
    nll = -logp.gather(-1, targets[..., None])[..., 0].numpy()
    real, known = source != data.EOS, target > data.UNKNOWN
    seen = data.chars_seen(source)
    seen_hits = np.zeros((len(index), published.MAX_CHARS_SEEN + 1, TOP_K))
    seen_total = np.zeros((len(index), published.MAX_CHARS_SEEN + 1))
    for k in range(published.MAX_CHARS_SEEN + 1):
        at = real & (seen == k)
        seen_total[:, k] = at.sum(1)
        seen_hits[:, k] = (hit & at[..., None]).sum(1)
    return {
        "ce_sum": np.where(known, nll, 0.0).sum(1),
        "n_known": known.sum(1),
        "hits_known": (hit & known[..., None]).sum(1),
        "hits_real": (hit & real[..., None]).sum(1),
        "n_real": real.sum(1),
        "seen_hits": seen_hits,
        "seen_total": seen_total,
    }


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Sum over sequences of ``num`` / sum of ``den`` (nan where no position)."""
    den = np.asarray(den).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.asarray(num).sum(0) / np.maximum(den, 1), np.nan)


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """``(R, n)`` multiplicities of a bootstrap over ``n`` sequences; the same
    weights for every model make the comparison paired."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def boot_ratio(weights: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """The ratio of sums under each resample: ``(R, ...)``."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    top = np.tensordot(weights, num, axes=(1, 0))
    bottom = np.tensordot(weights, den, axes=(1, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return top / bottom


def interval(samples: np.ndarray, level: float = 0.95) -> tuple:
    """Percentile interval over the resamples (axis 0); nan where a bin is empty."""
    import warnings

    with warnings.catch_warnings():  # an empty chars-seen bin: nan, said once here
        warnings.simplefilter("ignore", RuntimeWarning)
        q = [50 * (1 - level), 50 * (1 + level)]
        lo, hi = np.nanpercentile(samples, q, axis=0)
    return lo, hi


def _scalar_metrics(s) -> dict[str, tuple]:
    """name -> (numerator, denominator) over sequences."""
    return {
        "cross_entropy": (s["ce_sum"], s["n_known"]),
        "accuracy": (s["hits_known"][:, 0], s["n_known"]),
        "accuracy_all_positions": (s["hits_real"][:, 0], s["n_real"]),
        "top3_accuracy": (s["hits_known"][:, 2], s["n_known"]),
    }


def summary(scores: dict, weights: np.ndarray) -> pd.DataFrame:
    """Per model: each metric with its 95% bootstrap interval over sequences."""
    rows = []
    for kind, s in scores.items():
        for name, (num, den) in _scalar_metrics(s).items():
            lo, hi = interval(boot_ratio(weights, num, den))
            rows.append((kind, name, float(ratio(num, den)), float(lo), float(hi)))
    return pd.DataFrame(rows, columns=["model", "metric", "value", "lo", "hi"])


def by_chars_seen(scores: dict, weights: np.ndarray) -> pd.DataFrame:
    """Top-1/2/3 accuracy after 0..21 characters, ours with intervals beside
    the post's."""
    rows = []
    for kind, s in scores.items():
        total = s["seen_total"][..., None]  # (n, 22, 1)
        ours = ratio(s["seen_hits"], total)  # (22, 3)
        lo, hi = interval(boot_ratio(weights, s["seen_hits"], total))
        pub = np.asarray(published.ACCURACY_BY_CHARS[kind]).T  # (22, 3)
        for k in range(ours.shape[0]):
            for j in range(TOP_K):
                rows.append((kind, k, j + 1, ours[k, j], lo[k, j], hi[k, j],
                             pub[k, j], int(s["seen_total"][:, k].sum())))  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["model", "chars_seen", "top_k", "accuracy", "lo", "hi",
                 "published", "positions"],
    )  # fmt: skip


def paired_difference(scores, weights, metric, a, b, chars=None, k=1):
    """``metric(a) - metric(b)`` and its paired 95% interval; ``chars``: the
    top-``k`` accuracy after that many characters instead."""

    def samples(kind):
        s = scores[kind]
        if chars is None:
            num, den = _scalar_metrics(s)[metric]
            return float(ratio(num, den)), boot_ratio(weights, num, den)
        num, den = s["seen_hits"][:, chars, k - 1], s["seen_total"][:, chars]
        return float(ratio(num, den)), boot_ratio(weights, num, den)

    (va, sa), (vb, sb) = samples(a), samples(b)
    lo, hi = interval(sa - sb)
    return va - vb, float(lo), float(hi)


# ---------------------------------------------------------------------------
# Suggestions
# ---------------------------------------------------------------------------


@torch.no_grad()
def top_words(model, vocab, text: str, k: int = 3):
    """The model's ``k`` most likely words at every character of ``text``
    (read as ``" " + words``): ``(chars, ids (T, k), probs (T, k))``."""
    chars, _ = data.encode_text(text, vocab)
    model.eval()
    logp = model.log_probs(torch.from_numpy(chars.astype(np.int64))[None])[0]
    probs, ids = logp.exp().topk(k, -1)
    return chars, ids.numpy(), probs.numpy()


def suggest(model, vocab, text: str, position: int | None = None, k: int = 3):
    """Top-``k`` autocomplete suggestions (word, probability) after the
    character at ``position`` of ``" " + text`` (default: the last one)."""
    chars, ids, probs = top_words(model, vocab, text, k)
    t = len(chars) - 1 if position is None else position
    if not 0 <= t < len(chars):
        raise IndexError(f"position {t} outside the text's {len(chars)} characters")
    return [(vocab[i], float(p)) for i, p in zip(ids[t], probs[t], strict=True)]


def suggestions_table(models: dict, vocab, text: str, positions, k: int = 3):
    """Suggestions of every model at ``positions`` of ``text``, one row each."""
    rows = []
    for kind, model in models.items():
        chars, ids, probs = top_words(model, vocab, text, k)
        typed = data.decode_chars(chars)
        for t in positions:
            words = ", ".join(
                f"{vocab[i]} ({p:.2f})" for i, p in zip(ids[t], probs[t], strict=True)
            )
            rows.append((kind, t, typed[max(0, t - 20) : t + 1], words))
    return pd.DataFrame(rows, columns=["model", "position", "typed", "suggestions"])
