"""E4's units of work, each kept in the store, and how they are scheduled.

A job is a tuple: ``("model", variant)``, ``("curve", variant, state)``,
``("pos", variant)``, ``("words0", variant)``. :func:`compute` returns a
job's value from the store (computing and storing it once). With
``cfg.workers > 1`` the jobs first run in a pool of single-threaded
processes (models, then analyses: an analysis needs its model), and
:func:`collect` then loads them all here.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing as mp
import os

import numpy as np
import pandas as pd
import torch

from ... import store
from ...analysis import state_gradients as sg
from ...data import ptb, treebank
from ..harness import single_thread
from . import analyses, probes, zoo

ANALYSIS_FIELDS = ("max_delay", "positions", "gradient_streams", "word_tokens",
                   "bootstrap", "seed")  # fmt: skip
WORD_STREAMS = 128  # delay 0 has no tangent history: many streams, few steps
ANALYSIS_CODE = ("rnnmem_utils.analysis.state_gradients",
                 "rnnmem_utils.experiments.ptb_memory.analyses",
                 "rnnmem_utils.data.treebank", *zoo.MODEL_CODE)  # fmt: skip
CURVE_STATES = {"lstm": ("c",), "gru_tf": ("h",), "rnn": ("h",)}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def prepare(cfg) -> dict:
    """Corpus (treebank lines held out), alignment and the analysis stream."""
    lines = ptb.read_lines("train")
    vocab = ptb.build_vocabulary(lines)
    align = treebank.align(treebank.tagged_sentences(), lines, vocab.index)
    corpus = ptb.load(align.lines, cfg.train_tokens or None)
    ids, tags = analyses.analysis_stream(align, vocab)
    return {"corpus": corpus, "alignment": align, "ids": ids, "tags": tags}


def alignment_report(data: dict) -> dict:
    a = data["alignment"]
    return {
        "treebank_sentences": a.n_sentences,
        "aligned_exactly": len(a.pairs),
        "unmatched_sentences": list(a.unmatched),
        "unmatched_lines": [line + 1 for line in a.lines_unmatched],  # 1-based
        "held_out_lines_1based": [min(a.lines) + 1, max(a.lines) + 1],
        "analysis_tokens": int(len(data["ids"])),
        "training_tokens": int(len(data["corpus"].train)),
    }


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------


def plan(cfg) -> list[tuple]:
    """Every job of this configuration, models first (largest first)."""
    names = [n for n in cfg.variants if zoo.VARIANTS[n].corpus == "ptb"]
    trained = sorted(
        (n for n in names if zoo.VARIANTS[n].trained),
        key=lambda n: -zoo.VARIANTS[n].hidden_size,
    )
    jobs = [("model", n) for n in trained]
    for n in names:
        v = zoo.VARIANTS[n]
        for state in CURVE_STATES[v.cell]:
            jobs.append(("curve", n, state))
    jobs.append(("curve", "lstm256", "h"))  # Figure 5b: the LSTM's hidden state
    jobs += [("pos", "lstm256"), ("words0", "lstm256")]
    return jobs


def model(cfg, name, out_dir, progress=False):
    data = prepare(cfg)
    return zoo.trained(cfg, name, data["corpus"], out_dir, progress)


def compute(cfg, job, out_dir, progress=False):
    """The value of ``job`` (from the store, or computed and stored)."""
    kind, name, *rest = job
    m, record, key = model(cfg, name, out_dir, progress)
    if kind == "model":
        return m, record, key
    fn = {"curve": _curve, "pos": _pos, "words0": _words0}[kind]
    return store.cached(
        out_dir, f"ptb_memory/{kind}", cfg,
        lambda: fn(cfg, m, prepare(cfg), *rest),
        fields=ANALYSIS_FIELDS, code=ANALYSIS_CODE, kind="torch",
        extra={"model": key or f"untrained:{name}:{cfg.seed}:{cfg.init_scale}:"
               f"{cfg.embedding_size}", "args": list(rest)},
    )  # fmt: skip


def _grid(cfg, data):
    t, b = analyses.grid(len(data["ids"]), cfg)
    return t, b, analyses.layout(data["ids"], t, b), analyses.layout(data["tags"], t, b)


def _chol(m):
    return sg.embedding_cholesky(m.embedding.weight.detach())


def _curve(cfg, m, data, state):
    t, b, ids, _ = _grid(cfg, data)
    masks = analyses.blocked({"all": torch.ones(t, b, dtype=torch.bool)}, t, b,
                             analyses.BLOCKS)  # fmt: skip
    sums = analyses.gradient_sums(m, ids, masks, cfg, state=state)
    return {
        norm: analyses.bootstrap_stats(sums, chol, cfg.bootstrap, cfg.seed)["all"]
        for norm, chol in (("raw", None), ("norm", _chol(m)))
    }


def _pos(cfg, m, data):
    t, b, ids, tags = _grid(cfg, data)
    masks = {k: torch.as_tensor(v) for k, v in analyses.pos_masks(tags).items()}
    masks = analyses.blocked(masks, t, b, analyses.POS_BLOCKS)
    sums = analyses.gradient_sums(m, ids, masks, cfg, state="c", by="source")
    return analyses.bootstrap_stats(sums, _chol(m), cfg.bootstrap, cfg.seed)


def _words0(cfg, m, data):
    """sigma_1 of the normalised mean G[t, 0] per word of the analysis set."""
    n = min(cfg.word_tokens or len(data["ids"]), len(data["ids"]))
    b = min(WORD_STREAMS, n)
    ids = analyses.layout(data["ids"][:n], n // b, b)
    words, sums, counts = analyses.per_word_delay0(m, ids, state="c")
    g = sg.normalise(sums / counts[:, None, None], _chol(m))
    sv = torch.linalg.svdvals(g)
    return {"words": words, "counts": counts, "sigma_1": sv[:, 0],
            "sum_sigma": sv.sum(-1)}  # fmt: skip


# ---------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------


def _in_worker(cfg, job, out_dir):
    with single_thread():
        compute(cfg, job, out_dir, progress=False)
    return job


def run_parallel(cfg, jobs, out_dir, progress=True) -> None:
    """Compute the jobs in ``cfg.workers`` processes (models first); a no-op
    with one worker (then :func:`collect` computes them in this process)."""
    if cfg.workers <= 1:
        return
    from tqdm.auto import tqdm

    ctx = mp.get_context("spawn")  # a fresh interpreter: no forked torch threads
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with cf.ProcessPoolExecutor(cfg.workers, mp_context=ctx) as pool:
            for phase in (("model",), ("curve", "pos", "words0")):
                todo = [j for j in jobs if j[0] in phase]
                futures = [pool.submit(_in_worker, cfg, j, out_dir) for j in todo]
                bar = tqdm(total=len(todo), disable=not progress, desc=phase[0] + "s")
                for f in cf.as_completed(futures):
                    f.result()
                    bar.update()
                bar.close()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def collect(cfg, data, jobs, out_dir, progress=True) -> dict:
    """Every job's value (from the store), as the notebook's tables."""
    models, ppl, logs, curves = {}, {}, [], []
    for n in cfg.variants:
        if zoo.VARIANTS[n].corpus != "ptb":
            continue
        m, record, _ = compute(cfg, ("model", n), out_dir, progress)
        models[n], ppl[n] = m, record["ppl"]
        logs += [{"model": n, **row} for row in record["log"]]
    stats = {}
    for job in jobs:
        if job[0] == "curve":
            value = compute(cfg, job, out_dir, progress)
            stats[job[1:]] = value
            for norm, st in value.items():
                curves.append(analyses.tidy({"all": st}, model=job[1],
                                            state=job[2], normalisation=norm))  # fmt: skip
    pos = compute(cfg, ("pos", "lstm256"), out_dir, progress)
    words0 = compute(cfg, ("words0", "lstm256"), out_dir, progress)
    vocab = data["corpus"].vocab
    return {
        "table2": pd.DataFrame(zoo.table2_rows(ppl)),
        "training_log": pd.DataFrame(logs),
        "curves": pd.concat(curves, ignore_index=True),
        "pos_curves": analyses.tidy(pos, model="lstm256", state="c"),
        "word_sigma": _word_table(words0, vocab),
        "table3": probes.table3(models["lstm256"], data, cfg.seed),
        "extra": {"stats": stats, "pos_stats": pos, "ppl": ppl},
    }


def _word_table(w, vocab) -> pd.DataFrame:
    ids = w["words"].numpy()
    train = np.array([vocab.counts[i] for i in ids])
    return pd.DataFrame({
        "word": [vocab.words[i] for i in ids],
        "train_count": train,
        "analysis_count": w["counts"].numpy().astype(int),
        "sigma_1": w["sigma_1"].numpy(),
        "sum_sigma": w["sum_sigma"].numpy(),
        "freq_bin": [analyses.freq_label(c) for c in train],
    })  # fmt: skip
