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

from .. import lazy_main
from .schema import YourRnnConfig

__all__ = ["YourRnnConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
