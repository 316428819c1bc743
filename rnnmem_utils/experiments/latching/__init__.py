"""E1 information latching (seed 002; Bengio et al. 1994).

``run(cfg, out_dir)`` runs, each part vectorised over all its repeats
and lengths (:mod:`rnnmem_utils.training.multiseed`) and stored as one unit
per (part, cell, style) in the store (:func:`rnnmem_utils.store.cached`), so
an interrupted run resumes where it stopped:

- ``grid``: the question's grid with the Keras 2018 cells (shuffled split);
- ``torch``: the same cells in their modern PyTorch form (``torch_lengths``);
- ``bug``: the question's unshuffled split beside the shuffled fix;
- ``search``: a search over learning rate, batch size and epochs for EACH cell,
  on seeds and data of its own (``tuned_search.csv``); each cell's best setting
  then trains ``tuned``, the answer's "training tuned to converge" at lengths 5
  and 100, on fresh seeds;
- ``bengio``: Bengio 1994's task (one tanh unit read out against +-0.8, no noise
  on the first element), trained with Adam from PyTorch's init (ours, not his);
- ``init``: the same task from other initialisations (zero biases, Keras 2018's
  w = +-1, a unit that starts latching), to show what the curve rests on;
- the loss landscape of Pascanu et al. 2013, Fig. 6.

E2 (the bit relay, :mod:`rnnmem_utils.experiments.bit_relay`) trains through
this module's :func:`train_part`.
"""

from .. import lazy_main
from .schema import LatchingConfig

__all__ = ["LatchingConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
