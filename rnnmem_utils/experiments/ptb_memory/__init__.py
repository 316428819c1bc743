"""E4 what PTB language models remember: Verwimp et al. (2018), sections 4.3-5.

``run(cfg, out_dir, preset=...)`` aligns the treebank sample with PTB (the
gold-tagged, held-out analysis set), trains the model zoo (in the store,
``cfg.workers`` models at a time in single-threaded processes), measures
perplexities (Table 2), state-gradient curves with bootstrap bands (Figures
4-6), per-POS and per-word memory (Figure 8), embedding probes (Table 3), and
writes the claims (``claims.json`` last).

Every unit (a model, a curve, a per-word table) is a store unit: run again,
and finished units are loaded; a unit is computed in a worker process when
``cfg.workers > 1`` and then loaded here from the store.
"""

from .. import lazy_main
from .schema import PtbMemoryConfig

__all__ = ["PtbMemoryConfig"]

__getattr__ = lazy_main(__name__)  # the run loads on first use
