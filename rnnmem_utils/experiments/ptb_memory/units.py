"""E4's units of work, each kept in the store, and how they are scheduled.

A job is a tuple: ``("model", variant)``, ``("curve", variant, state)``
(the baseline's cell-state curve also sums the POS classes in the same
sweep and derives section 5's property curves from them),
``("words0", variant)``, ``("fits", variant)``. :func:`compute` returns a
job's value from the store (computing and storing it once). With
``cfg.workers > 1`` the jobs first run in a pool of single-threaded
processes (models, then analyses: an analysis needs its model), and
:func:`collect` then loads them all here.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch

from ... import store
from ...analysis import memory as mem
from ...analysis import state_gradients as sg
from ...data import ptb, treebank
from ...runner.units import map_units
from ..harness import single_thread
from . import analyses, probes, zoo

ANALYSIS_FIELDS = ("max_delay", "positions", "gradient_streams", "word_tokens",
                   "fit_words", "bootstrap", "seed")  # fmt: skip
WORD_STREAMS = 128  # delay 0 has no tangent history: many streams, few steps
ANALYSIS_CODE = ("rnnmem_utils.analysis.state_gradients",
                 "rnnmem_utils.experiments.ptb_memory.analyses",
                 "rnnmem_utils.analysis.memory", "rnnmem_utils.data.treebank",
                 "rnnmem_utils.experiments.ptb_memory.units",
                 "rnnmem_utils.experiments.ptb_memory.probes",
                 *zoo.MODEL_CODE)  # fmt: skip
BASELINE = "lstm256"
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
    trained = sorted(  # WikiText-2 models too (Table 2); curves are PTB's
        (n for n in cfg.variants if zoo.VARIANTS[n].trained),
        key=lambda n: -zoo.VARIANTS[n].hidden_size,
    )
    jobs = [("model", n) for n in trained]
    for n in names:
        v = zoo.VARIANTS[n]
        for state in CURVE_STATES[v.cell]:
            jobs.append(("curve", n, state))
    jobs.append(("curve", "lstm256", "h"))  # Figure 5b: the LSTM's hidden state
    jobs += [("words0", "lstm256"), ("fits", "lstm256")]
    # the longest analyses first, so the workers finish together
    first = [("curve", "lstm256", "c"), ("fits", "lstm256")]
    return (
        [j for j in jobs if j[0] == "model"]
        + first
        + [j for j in jobs if j[0] != "model" and j not in first]
    )


def model(cfg, name, out_dir, progress=False):
    data = prepare(cfg)
    corpus = zoo.load_corpus(name, data["corpus"], cfg.train_tokens)
    return zoo.trained(cfg, name, corpus, out_dir, progress)


def compute(cfg, job, out_dir, progress=False):
    """The value of ``job`` (from the store, or computed and stored)."""
    kind, name, *rest = job
    m, record, key = model(cfg, name, out_dir, progress)
    if kind == "model":
        return m, record, key
    fn = {"curve": _curve, "words0": _words0, "fits": _fits}[kind]
    if kind == "curve":  # the baseline's cell state also gives Figures 8a, 10
        rest = [*rest, name == BASELINE and rest[0] == "c"]
    return store.cached(
        out_dir, f"ptb_memory/{kind}", cfg,
        lambda: fn(cfg, m, prepare(cfg), *rest),
        fields=ANALYSIS_FIELDS, code=ANALYSIS_CODE,
        kind="torch",
        extra={"model": key or f"untrained:{name}:{cfg.seed}:{cfg.init_scale}:"
               f"{cfg.embedding_size}", "args": list(rest)},
    )  # fmt: skip


def _chol(m):
    return sg.embedding_cholesky(m.embedding.weight.detach())


def _curve(cfg, m, data, state, classes=False):
    """Draws of the curve over all words, raw and normalised; for the
    baseline's cell state also per POS class (Figure 8a) and the property
    curves of section 5, from the same sweep."""
    smp = analyses.sample(m, data["ids"], cfg)
    groupings = {"all": mem.Grouping.single(len(data["ids"]))}
    if classes:
        groupings["pos"] = analyses.pos_grouping(data["tags"])
    sums = analyses.group_sums(m, smp, groupings, cfg, state=state)
    chol = _chol(m)
    out = {
        "raw": analyses.draws({"all": sums["all"]}, cfg)["all"]["all"],
        "norm": analyses.draws({"all": sums["all"]}, cfg, chol)["all"]["all"],
    }
    if classes:
        out["pos"] = analyses.draws({"pos": sums["pos"]}, cfg, chol)["pos"]
        out["props"] = _properties(cfg, m, data, sums["pos"], chol)
    return out


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


def _in_worker(item):
    cfg, job, out_dir = item
    with single_thread():
        compute(cfg, job, out_dir, progress=False)
    return job


def run_parallel(cfg, jobs, out_dir) -> None:
    """The jobs as units of the run's executor (:func:`map_units`): in
    ``cfg.workers`` single-threaded processes locally, or on the Dask cluster
    the run was launched on; the models first, then the analyses (an analysis
    needs its model). A no-op with one local worker (then :func:`collect`
    computes them in this process)."""
    if cfg.workers <= 1:
        return
    for phase in (("model",), ("curve", "words0", "fits")):
        todo = [(cfg, j, out_dir) for j in jobs if j[0] in phase]
        map_units(_in_worker, todo, jobs=cfg.workers, out_dir=out_dir,
                  label=lambda item: " ".join(item[1]))  # fmt: skip


def collect(cfg, data, jobs, out_dir, progress=True) -> dict:
    """Every job's value (from the store), as the notebook's tables."""
    models, ppl, logs, curves = {}, {}, [], []
    for n in cfg.variants:
        m, record, _ = compute(cfg, ("model", n), out_dir, progress)
        models[n], ppl[n] = m, record["ppl"]
        logs += [{"model": n, **row} for row in record["log"]]
    stats, pos, props = {}, {}, {}
    for job in jobs:
        if job[0] == "curve":
            value = compute(cfg, job, out_dir, progress)
            stats[job[1:]] = {k: analyses.unpack(value[k]) for k in ("raw", "norm")}
            for norm in ("raw", "norm"):
                curves.append(analyses.tidy({"all": stats[job[1:]][norm]},
                                            model=job[1], state=job[2],
                                            normalisation=norm))  # fmt: skip
            if "pos" in value:
                pos = {g: analyses.unpack(d) for g, d in value["pos"].items()}
                props = value["props"]
    words0 = compute(cfg, ("words0", "lstm256"), out_dir, progress)
    fits = compute(cfg, ("fits", "lstm256"), out_dir, progress)
    vocab = data["corpus"].vocab
    return {
        "table2": pd.DataFrame(zoo.table2_rows(ppl)),
        "training_log": pd.DataFrame(logs),
        "curves": pd.concat(curves, ignore_index=True),
        "pos_curves": analyses.tidy(pos, model="lstm256", state="c"),
        "word_sigma": _word_table(words0, vocab),
        "table3": probes.table3(models["lstm256"], data, cfg.seed),
        "decay_fits": _frame(fits["fits"]),
        "word_curves": _frame(fits["curves"]),
        "properties": _frame(props),
        "extra": {"stats": stats, "pos_stats": pos, "ppl": ppl},
    }


def _frame(value) -> pd.DataFrame:
    """A stored JSON table back as a DataFrame."""
    return pd.DataFrame(value)


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


# ---------------------------------------------------------------------------
# Figure 9 and section 5 (grouped by source, as every curve: analyses.GROUP_BY)
# ---------------------------------------------------------------------------


def fit_word_ids(cfg, data) -> list[int]:
    """Up to ``fit_words`` words spread over the frequency bins (the most
    occurrences in the analysis set within each bin), plus Figure 9a's two."""
    vocab = data["corpus"].vocab
    seen = np.bincount(data["ids"], minlength=len(vocab))
    skip = {vocab.index[w] for w in ("<unk>", "<eos>", "N")}
    bins = {}
    for i in np.argsort(-seen, kind="stable"):
        if seen[i] >= 2 and int(i) not in skip:
            bins.setdefault(analyses.freq_label(vocab.counts[i]), []).append(int(i))
    per_bin = max(1, cfg.fit_words // max(1, len(bins)))
    ids = [i for words in bins.values() for i in words[:per_bin]]
    for w in ("the", "congressional"):
        if w in vocab.index and vocab.index[w] not in ids and seen[vocab.index[w]]:
            ids.append(vocab.index[w])
    return ids


def _fits(cfg, m, data):
    vocab = data["corpus"].vocab
    ids = fit_word_ids(cfg, data)
    lookup = np.full(len(vocab), -1)
    lookup[ids] = np.arange(len(ids))
    grouping = mem.Grouping(lookup[data["ids"]], [vocab.words[i] for i in ids],
                            bootstrap=False)  # fmt: skip
    table = mem.streamed_curves(m, analyses.sample(m, data["ids"], cfg),
                                {"word": grouping}, chol=_chol(m),
                                max_delay=cfg.max_delay, by=analyses.GROUP_BY,
                                statistics=("sigma_1",), n_boot=10,
                                batch=cfg.gradient_streams,
                                max_bytes=1 << 30)  # fmt: skip
    fits = mem.decay_fits(table).rename(columns={"group": "word"})
    fits["train_count"] = [vocab.counts[vocab.index[w]] for w in fits.word]
    fits["freq_bin"] = [analyses.freq_label(c) for c in fits.train_count]
    return {"fits": _plain(fits.drop(columns="grouping")), "curves": _plain(table)}


PROPERTIES = {  # Figures 10-11: (class, (tags of a), (tags of b))
    "sg-pl": ("N", ("NNS", "NNPS"), ("NN", "NNP")),
    "common-proper": ("N", ("NNP", "NNPS"), ("NN", "NNS")),
    "3rd-non-3rd": ("V", ("VBZ",), ("VBP",)),
    "present-past": ("V", ("VBD",), ("VBP", "VBZ")),
    "VBG-VBN": ("V", ("VBN",), ("VBG",)),
}


def _properties(cfg, m, data, sums, chol):
    """Figures 10-11 from the POS sums: each property against the mean G of
    its word class (nouns or verbs as the sources)."""
    word_tag = probes.word_tags(data)
    emb = m.embedding.weight.detach()
    frames = []
    for prop, (cls, a_tags, b_tags) in PROPERTIES.items():
        a = [i for i, t in word_tag.items() if t in a_tags]
        b = [i for i, t in word_tag.items() if t in b_tags]
        d = mem.difference_vector(emb, a, b, chol)
        frames.append(mem.property_curves(sums, cls, {prop: d}, chol=chol,
                                          n_boot=cfg.bootstrap, seed=cfg.seed)
                      .assign(word_class=cls, words_a=len(a), words_b=len(b)))  # fmt: skip
    return _plain(pd.concat(frames, ignore_index=True))


def _plain(df: pd.DataFrame) -> dict:
    """Columns as lists of Python values: loadable with ``weights_only``."""
    return {c: df[c].tolist() for c in df.columns}
