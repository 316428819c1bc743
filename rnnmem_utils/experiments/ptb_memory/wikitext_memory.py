"""Figure 7: the memory of the WikiText-2 models, on held-out WikiText-2 text.

Verwimp et al. (2018, section 4.3.2) compare the PTB LSTM 512 with the same
model trained on WikiText-2 (Figure 7a) and WikiText-2 models of 256 and 512
units (Figure 7b). Each ``wiki2_*`` model is analysed on the test split of
WikiText-2 (text it never trained on, in its own vocabulary), by the same
code as the PTB curves (:func:`units._curve`): the same number of positions
in segments of :data:`analyses.SEGMENT` started from the model's own state,
the same bootstrap blocks, raw and normalised G·D. The two WikiText-2 models
see the same segments (the same test split, the same seed), so their draws
are paired as the PTB curves' are; a PTB curve is measured on other text,
and a comparison across texts pairs its draws at random (:mod:`.claims`).

Each curve is a store unit of its own (``ptb_memory/wiki_curve``), keyed by
the fields and code it reads: this module does not touch the keys of E4's
other units.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from ... import store
from ...runner.units import map_units
from ..harness import single_thread
from . import analyses, units, zoo

VARIANTS = ("wiki2_256", "wiki2_512")
STATE = "c"  # the LSTM cell state, as every LSTM curve of Figures 4-7
TEXT = "wikitext-2 test"
# what a curve reads: units._curve's sampling, sweep and bootstrap
FIELDS = ("max_delay", "positions", "gradient_streams", "bootstrap", "seed")
CODE = (*units.ANALYSIS_CODE, "rnnmem_utils.experiments.ptb_memory.wikitext_memory")
COLUMNS = ("model", "state", "normalisation", "text", "group", "delay",
           "statistic", "value", "lo", "hi", "count")  # fmt: skip


def variants(cfg) -> list[str]:
    """The WikiText-2 models of this configuration."""
    return [n for n in VARIANTS if n in cfg.variants]


def curve(cfg, name: str, out_dir, progress=False) -> dict:
    """``{"raw", "norm"}`` packed draws of model ``name`` (from the store, or
    computed and stored); the model is the zoo's (trained once, in the store)."""
    corpus = zoo.load_corpus(name, None, cfg.train_tokens)
    ids = corpus.test  # held out: the test split, in the model's vocabulary
    m, _, key = zoo.trained(cfg, name, corpus, out_dir, progress)
    digest = hashlib.sha256(ids.tobytes()).hexdigest()[:16]
    return store.cached(
        out_dir, "ptb_memory/wiki_curve", cfg,
        lambda: units._curve(cfg, m, {"ids": ids}, STATE),
        fields=FIELDS, code=CODE, kind="torch",
        extra={"model": key, "state": STATE, "text": TEXT, "text_sha256": digest},
    )  # fmt: skip


def _in_worker(item) -> str:
    cfg, name, out_dir = item
    with single_thread():
        curve(cfg, name, out_dir)
    return name


def run_parallel(cfg, out_dir) -> None:
    """The curves as units of the run's executor (:func:`map_units`): in
    ``cfg.workers`` single-threaded processes locally, their models trained
    by then (:func:`units.run_parallel`), or on the Dask cluster the run was
    launched on; a no-op with one local worker or nothing to compute (then
    :func:`collect` computes them here)."""
    names = variants(cfg)
    if cfg.workers <= 1 or not names:
        return
    map_units(_in_worker, [(cfg, n, out_dir) for n in names], jobs=cfg.workers,
              out_dir=out_dir, label=lambda item: f"wiki curve {item[1]}")  # fmt: skip


def collect(cfg, out_dir, progress=True) -> tuple[pd.DataFrame, dict]:
    """The curves as a table (empty when no WikiText-2 model is configured)
    and ``{name: {"raw": Draws, "norm": Draws}}`` for the claims."""
    stats, frames = {}, []
    for name in variants(cfg):
        value = curve(cfg, name, out_dir, progress)
        stats[name] = {k: analyses.unpack(value[k]) for k in ("raw", "norm")}
        for norm in ("raw", "norm"):
            frames.append(analyses.tidy({"all": stats[name][norm]}, model=name,
                                        state=STATE, normalisation=norm,
                                        text=TEXT))  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS)), stats
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)], stats
