"""Information latching and bit relay sequences (seed 002; Bengio et al. 1994).

Generated from a seed, never stored. Layout as in the question's code: the
positives come first, then the negatives, so an *unshuffled* split that keeps
the last 20% for validation (Keras' ``validation_split``) validates on
negatives only. That is the question's bug; :func:`split` reproduces it with
``shuffle=False`` and fixes it with ``shuffle=True``.

Tensors are time-major: ``x`` is (T, N), labels ``y`` are (N,) int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def latching(
    n: int,
    seq_len: int,
    rng: np.random.Generator,
    *,
    noise_std: float = 0.1,
    noise_on_first: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Information latching (Bengio et al. 1994, Fig. 1; the question's data).

    The first ``n // 2`` sequences start at +1 (label 1), the rest at -1
    (label 0); every other element is 0; Gaussian noise N(0, ``noise_std``)
    is added to every element (to all but the first when ``noise_on_first`` is
    False, Bengio's own setting). Returns ``x`` (T, N) float32, ``y`` (N,).
    """
    y = np.zeros(n, dtype=np.int64)
    y[: n // 2] = 1
    x = rng.normal(0.0, noise_std, size=(seq_len, n))
    if not noise_on_first:
        x[0] = 0.0
    x[0] += np.where(y == 1, 1.0, -1.0)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


def bit_relay(
    n: int, seq_len: int, rng: np.random.Generator, *, noise_std: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bit relay (the answer's "task 2"): elements 0 and ``seq_len // 2`` are
    +-1; label 1 when their signs agree. Positives first (half ++, half --),
    then negatives (half +-, half -+); noise on every element. (T, N), (N,)."""
    if seq_len < 2:
        raise ValueError("bit relay needs seq_len >= 2")
    y = np.zeros(n, dtype=np.int64)
    y[: n // 2] = 1
    first = np.ones(n)
    first[n // 4 : n // 2] = -1.0  # positives: ++ then --
    first[n // 2 + (n - n // 2) // 2 :] = -1.0  # negatives: +- then -+
    middle = np.where(y == 1, first, -first)
    x = rng.normal(0.0, noise_std, size=(seq_len, n))
    x[0] += first
    x[seq_len // 2] += middle
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)


@dataclass(frozen=True)
class Split:
    """Training and validation parts of one data set (time-major)."""

    x_train: torch.Tensor  # (T, N_train)
    y_train: torch.Tensor  # (N_train,)
    x_val: torch.Tensor  # (T, N_val)
    y_val: torch.Tensor  # (N_val,)


def split(
    x: torch.Tensor,
    y: torch.Tensor,
    val_fraction: float,
    *,
    shuffle: bool,
    rng: np.random.Generator | None = None,
) -> Split:
    """Keras' ``validation_split``: the last ``val_fraction`` is validation.

    ``shuffle=False`` is the question's bug (validation = the last rows, all
    negatives); ``shuffle=True`` permutes the rows with ``rng`` first (the fix).
    """
    n = y.shape[0]
    at = int(n * (1.0 - val_fraction))  # keras: split_at = int(len * (1 - split))
    if shuffle:
        if rng is None:
            raise ValueError("split(shuffle=True) needs rng")
        order = torch.from_numpy(rng.permutation(n))
        x, y = x[:, order], y[order]
    return Split(x[:, :at], y[:at], x[:, at:], y[at:])


def make_split(
    task: str,
    n: int,
    seq_len: int,
    seed: int,
    *,
    val_fraction: float = 0.2,
    shuffle: bool = True,
    noise_std: float = 0.1,
    noise_on_first: bool = True,
) -> Split:
    """One seeded data set of ``task`` ("latching" | "bit_relay"), split."""
    rng = np.random.default_rng(seed)
    if task == "latching":
        x, y = latching(
            n, seq_len, rng, noise_std=noise_std, noise_on_first=noise_on_first
        )
    elif task == "bit_relay":
        x, y = bit_relay(n, seq_len, rng, noise_std=noise_std)
    else:
        raise ValueError(f"task {task!r}; options are ['bit_relay', 'latching']")
    return split(x, y, val_fraction, shuffle=shuffle, rng=rng)
