"""E5 autocomplete connectivity (Madsen 2019, "Visualizing memorization in
RNNs", Distill): GRU, LSTM and Nested LSTM read text8 one character at a
time and predict the word being typed.

``run(cfg, out_dir, preset=...)`` builds the post's data set, trains the
three models through the store (each resumable from its last checkpoint;
``cfg.workers`` of them at a time in single-threaded processes, or each a
task of the Dask cluster the run was launched on),
scores them on the test sequences (cross entropy, accuracy, top-1/2/3
accuracy by characters seen, with bootstrap intervals over sequences),
writes suggestions on the post's probe sentence, and the claims
(``claims.json`` last).

Modules: :mod:`.models` (the three models), :mod:`.train` (the loop),
:mod:`.evaluate` (scores, suggestions), :mod:`.claims`, :mod:`.published`.
"""

from .. import lazy_main
from .schema import AutocompleteConfig

__all__ = ["AutocompleteConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
