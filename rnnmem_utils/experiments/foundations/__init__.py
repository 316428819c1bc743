"""Foundations lesson: the RNN lecture notes (seed 003) made runnable, in five parts.

``run(cfg, out_dir)`` first checks the data (text8, used by
part 4) so a missing or corrupt file stops the run before any work, then runs
every part, each cached in
``<out_dir>/part<N>_<name>.json`` under the configuration's hash (a rerun
resumes after the last finished part; a changed configuration recomputes),
then writes ``claims.json`` last. Each part can also be run alone
(``part_repeat(cfg)`` ...; wrap it in
:func:`rnnmem_utils.experiments.harness.single_thread` for speed).

Parts: (1) the hand-built repeat detector and the same net learned; (2) BPTT
vs truncated BPTT on delayed recall; (3) Jacobian products, clipping, the LSTM
cell highway; (4) interpretable units of a character LM on text8; (5) dropout
scaling at test time and multi-layer RNNs.
"""

from .. import lazy_main
from .schema import FoundationsConfig

__all__ = ["FoundationsConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
