"""The configuration schema of E2 bit relay: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, param
from ..latching.schema import _SequenceTaskConfig


@dataclass(frozen=True)
class BitRelayConfig(_SequenceTaskConfig):
    """E2 bit relay (seed 002, the answer's "task 2")."""

    styles: tuple[str, ...] = param(
        "cell forms: Keras 2018 defaults, modern PyTorch",
        choices=("keras2018", "torch"),
    )
    gru_long_lengths: tuple[int, ...] = param(
        "extra lengths run with the Keras 2018 GRU only (does it recover?)",
        min=2,
        max=10_000,
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)
