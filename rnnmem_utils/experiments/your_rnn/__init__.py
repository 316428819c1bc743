"""Lesson: memory analysis of your own RNN with the public API (rnnmem_utils.api).

A model of the shape of PyTorch's word-language-model example (embedding,
``nn.LSTM``, decoder) is trained on the local Penn Treebank for a few minutes
(kept in the store), then asked the questions of E3-E5 with a few calls:

- how long does it remember, and what: state gradients per delay, grouped by
  word frequency (E4's question "do frequent words leave a smaller trace?");
- can a linear read-out recover the word ``k`` steps back (E3's delay probes)?
- which earlier words does a prediction draw on: the connectivity map of a
  sentence (E5's question), and the explorer page for it;
- on the reservoir-computing scale: Jaeger's memory capacity of an echo state
  network beside an LSTM of the same size, both driven by the same signal.
"""

import importlib

from .schema import YourRnnConfig

__all__ = ["YourRnnConfig"]


def __getattr__(name):
    # the run and its helpers load on first use: the schema alone stays light
    return getattr(importlib.import_module(f"{__name__}.main"), name)
