"""The configuration schema of E1 information latching (and the fields E2 shares with it): fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, param


@dataclass(frozen=True)
class _SequenceTaskConfig(Schema):
    """Fields shared by the two tasks of seed 002 (E1 latching, E2 bit relay)."""

    cells: tuple[str, ...] = param(
        "recurrent cells to compare", choices=("rnn", "lstm", "gru")
    )
    lengths: tuple[int, ...] = param("sequence lengths L", min=2, max=10_000)
    repeats: int = param(
        "independent training runs per (cell, length)", min=1, max=1000
    )
    epochs: int = param("passes over the training set", min=1, max=1000)
    n_sequences: int = param("sequences per data set, N", min=10, max=10_000_000)
    batch_size: int = param("sequences per gradient step", min=1, max=100_000)
    lr: float = param("Adam learning rate", min=1e-6, max=10.0)
    hidden_size: int = param("recurrent units", min=1, max=4096)
    noise_std: float = param(
        "standard deviation of the Gaussian noise", min=0.0, max=10.0
    )
    val_fraction: float = param(
        "validation split (the last fraction)", min=0.01, max=0.9
    )
    success_threshold: float = param(
        "final validation accuracy counted as a success", min=0.5, max=1.0
    )

    rules = (
        Rule(
            ("n_sequences", "val_fraction"),
            lambda c: 1 <= _n_train(c.n_sequences, c.val_fraction) < c.n_sequences,
            "1 <= int(n_sequences * (1 - val_fraction)) < n_sequences",
            "Keras' validation_split keeps int(n_sequences * (1 - val_fraction)) "
            "sequences for training and the rest for validation; both must hold "
            "at least one sequence",
        ),
    )


def _n_train(n: int, val_fraction: float) -> int:
    return int(n * (1.0 - val_fraction))  # keras: split_at = int(len * (1 - split))


@dataclass(frozen=True)
class LatchingConfig(_SequenceTaskConfig):
    """E1 information latching (seed 002; Bengio, Simard & Frasconi 1994)."""

    torch_lengths: tuple[int, ...] = param(
        "lengths run with the modern PyTorch cells", min=2, max=10_000
    )
    bug_lengths: tuple[int, ...] = param(
        "lengths of the unshuffled-vs-shuffled split comparison", min=2, max=10_000
    )
    bug_repeats: int = param("repeats of the split comparison", min=1, max=1000)
    tuned_lengths: tuple[int, ...] = param(
        "lengths of the answer's tuned training", min=2, max=10_000
    )
    tuned_repeats: int = param("tuned training: repeats", min=1, max=1000)
    search_lrs: tuple[float, ...] = param(
        "tuning search: Adam learning rates", min=1e-6, max=10.0
    )
    search_batch_sizes: tuple[int, ...] = param(
        "tuning search: batch sizes", min=1, max=100_000
    )
    search_epochs: tuple[int, ...] = param(
        "tuning search: epoch counts", min=1, max=1000
    )
    search_repeats: int = param(
        "tuning search: repeats per setting (own seeds and data)", min=1, max=1000
    )
    bengio_lengths: tuple[int, ...] = param(
        "lengths of Bengio 1994's own setting", min=2, max=10_000
    )
    bengio_repeats: int = param("repeats (trials) in Bengio's setting", min=1, max=1000)
    bengio_epochs: int = param("epochs in Bengio's setting", min=1, max=1000)
    init_lengths: tuple[int, ...] = param(
        "lengths of the initialisation variants of Bengio's task", min=2, max=10_000
    )
    init_repeats: int = param("repeats of the initialisation variants", min=1, max=1000)
    landscape_lengths: tuple[int, ...] = param(
        "lengths of the loss-landscape curves", min=1, max=10_000
    )
    landscape_points: int = param(
        "recurrent weights on the landscape grid", min=3, max=100_000
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)
