"""E2 bit relay (the answer's "task 2" in seed 002): is the sign of the first
element the same as the sign of the middle one?

``run(cfg, out_dir, needs={"latching": dir})`` trains the bit-relay grid (8 units)
per cell form in ``cfg.styles`` through E1's vectorised :func:`train_part`, and
the Keras 2018 GRU alone at ``gru_long_lengths`` (part ``relay_long``). E1's
published result (``needs["latching"]``) decides the task-specific claim.
"""

from .. import lazy_main
from .schema import BitRelayConfig

__all__ = ["BitRelayConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
