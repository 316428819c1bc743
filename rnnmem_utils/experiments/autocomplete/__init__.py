"""E5 autocomplete connectivity (Madsen 2019, "Visualizing memorization in
RNNs", Distill): GRU, LSTM and Nested LSTM read text8 one character at a
time and predict the word being typed.

``run(cfg, out_dir, preset=...)`` builds the post's data set, trains the
three models through the store (each resumable from its last checkpoint),
scores them on the test sequences (cross entropy, accuracy, top-1/2/3
accuracy by characters seen, with bootstrap intervals over sequences),
writes suggestions on the post's probe sentence, and the claims
(``claims.json`` last).

Modules: :mod:`.models` (the three models), :mod:`.train` (the loop),
:mod:`.evaluate` (scores, suggestions), :mod:`.claims`, :mod:`.published`.
"""

import importlib

from .schema import AutocompleteConfig

__all__ = ["AutocompleteConfig"]


def __getattr__(name):
    # the run and its helpers load on first use: the schema alone stays light
    return getattr(importlib.import_module(f"{__name__}.main"), name)
