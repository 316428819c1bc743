"""E3 synthetic cycles: Verwimp et al. (2018), section 4.2 and appendix 8.

``run(cfg, out_dir, preset=...)`` generates the data, trains the
one-hot LSTM (resumable), measures perplexity against the analytic minimum,
analyses the errors, fits the LDA probes of Table 1, computes the state
gradients of Figure 3 with the engine of :mod:`rnnmem_utils.analysis.state_gradients`,
and writes the claims (``claims.json`` last).
"""

from .. import lazy_main
from .schema import CyclesConfig

__all__ = ["CyclesConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
