"""The run of E5 autocomplete connectivity (see the package's docstring)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ... import io, store
from ...data import autocomplete as data
from ...data import corpora
from ...runner.units import map_units
from ..harness import results, single_thread
from . import published

# What a trained model depends on (nothing else can make it retrain; its own
# learning rate is added per model in train.trained)
MODEL_FIELDS = ("text8_chars", "vocab_size", "max_length", "embedding_size",
                "hidden_size", "layers", "nlstm_layers", "forget_bias", "softmax",
                "adaptive_cutoffs", "batch_size", "steps", "log_every",
                "log_valid_sequences", "seed")  # fmt: skip
MODEL_CODE = ("rnnmem_utils.models.cells", "rnnmem_utils.data.autocomplete",
              "rnnmem_utils.experiments.autocomplete.models",
              "rnnmem_utils.experiments.autocomplete.train")  # fmt: skip
EVAL_CODE = (*MODEL_CODE, "rnnmem_utils.experiments.autocomplete.evaluate")
REACH_CODE = (*MODEL_CODE, "rnnmem_utils.analysis.connectivity",
              "rnnmem_utils.analysis.connectivity_sweep",
              "rnnmem_utils.experiments.autocomplete.reach")  # fmt: skip


def run(cfg, out_dir, *, preset="default", needs=None, progress=True):
    """Run E5 end to end (see the module docstring)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with single_thread():
        return _run(cfg, out_dir, preset, progress)


def make_dataset(cfg) -> data.AutocompleteData:
    """The post's data set from the first ``cfg.text8_chars`` of text8."""
    return data.build(
        data.load_text8(cfg.text8_chars), cfg.vocab_size, cfg.max_length, cfg.seed
    )


def trained_models(cfg, dataset, out_dir, progress=True):
    """``{kind: model}``, ``{kind: log}``, ``{kind: store key}``."""
    from . import models, train

    hashes = corpora.fingerprint(corpora.files_for("autocomplete", cfg))
    out = {}
    for kind in cfg.models:

        def build(kind=kind):
            return models.build(
                kind, cfg, dataset.n_words, dataset.word_frequency_order, cfg.seed
            )

        out[kind] = train.trained(
            kind, cfg, dataset, out_dir, build, data_hashes=hashes, progress=progress
        )
    return ({k: v[0] for k, v in out.items()}, {k: v[1] for k, v in out.items()},
            {k: v[2] for k, v in out.items()})  # fmt: skip


def _train_unit(item) -> str:
    cfg, kind, out_dir = item
    with single_thread():
        trained_models(replace(cfg, models=(kind,)), make_dataset(cfg), out_dir,
                       progress=False)  # fmt: skip
    return kind


def train_parallel(cfg, out_dir) -> None:
    """The models as units of the run's executor (:func:`map_units`): in
    ``cfg.workers`` single-threaded processes locally, or on the Dask cluster
    the run was launched on; each trains into the store (resuming from its
    last checkpoint), where :func:`trained_models` then finds it. A no-op with
    one local worker (the models then train here, one after the other)."""
    if cfg.workers <= 1 or len(cfg.models) <= 1:
        return
    map_units(_train_unit, [(cfg, kind, out_dir) for kind in cfg.models],
              jobs=cfg.workers, out_dir=out_dir,
              label=lambda item: f"model {item[1]}")  # fmt: skip


def _run(cfg, out_dir, preset, progress):
    from . import claims as claims_mod
    from . import evaluate

    train_parallel(cfg, out_dir)
    dataset = make_dataset(cfg)
    trained, logs, keys = trained_models(cfg, dataset, out_dir, progress)
    test = dataset.splits["test"][: cfg.test_sequences]
    scores = {
        kind: _scores(cfg, out_dir, keys[kind], model, dataset, test)
        for kind, model in trained.items()
    }
    weights = evaluate.resample_weights(len(test), cfg.bootstrap_resamples, cfg.seed)
    metrics = evaluate.summary(scores, weights)
    by_chars = evaluate.by_chars_seen(scores, weights)
    log = pd.concat([df.assign(model=k) for k, df in logs.items()], ignore_index=True)
    params = paper_parameter_counts()
    counts = parameter_table(trained, params)
    probe = evaluate.suggestions_table(
        trained, dataset.vocab, published.PROBE_SENTENCE, sorted(published.WALKTHROUGH)
    )
    texts = local_texts(dataset, cfg.local_sentences)
    conn_tables, share_scores = _connectivity(
        cfg, out_dir, trained, keys, dataset, texts
    )
    reach_table = _reach_table(share_scores)
    facts = _walkthrough_facts(trained, dataset.vocab, conn_tables["walkthrough"])
    tables = {"metrics": metrics, "accuracy_by_chars": by_chars, "training_log": log,
              "parameters": counts, "probe_suggestions": probe, **conn_tables,
              "reach": reach_table}  # fmt: skip
    if facts is not None:
        tables["walkthrough_facts"] = facts
    for name, table in tables.items():
        io.write_csv(out_dir / f"{name}.csv", table)
    io.write_json(out_dir / "data.json", data_summary(dataset, len(test)))
    pages = explorer_pages(cfg, out_dir, trained, dataset.vocab, texts)
    claims = claims_mod.make_claims(
        cfg, preset, scores, weights, params, by_chars, share_scores, facts
    )
    claims.write(out_dir)
    return results(
        "autocomplete", preset, claims, **tables, models=trained, dataset=dataset,
        model_keys=keys, local_texts=texts, explorer_pages=pages,
    )  # fmt: skip


def _connectivity(cfg, out_dir, trained, keys, dataset, texts):
    """The walkthrough and local rows, and per-sequence reach of every model."""
    from . import reach

    norm = cfg.connectivity_norm
    tables = {
        "walkthrough": reach.walkthrough(trained, dataset.vocab, norm),
        "local_connectivity": reach.local(trained, dataset.vocab, texts, norm),
    }
    index = dataset.splits["test"][: cfg.connectivity_sequences]
    shares = {}
    for kind, model in trained.items():
        if not len(index):
            break
        stored = store.cached(
            out_dir, "autocomplete/reach", cfg,
            lambda model=model: reach.as_tensors(
                reach.shares(model, dataset, index, norm)
            ),
            fields=("connectivity_sequences", "connectivity_norm"),
            extra={"model": keys[kind]}, code=REACH_CODE, kind="torch",
        )  # fmt: skip
        shares[kind] = {k: v.numpy() for k, v in stored.items()}
    return tables, shares


def _walkthrough_facts(trained, vocab, walk):
    """The walkthrough's numbers the claims read (None without all three)."""
    from . import reach

    if not {"gru", "lstm", "nlstm"} <= set(trained):
        return None
    return reach.walkthrough_facts(trained, vocab, walk)


def _reach_table(shares) -> pd.DataFrame:
    from . import evaluate

    rows = []
    for kind, s in shares.items():
        w = evaluate.resample_weights(len(s["n"]), 2000, 0)
        lo, hi = evaluate.interval(evaluate.boot_ratio(w, s["share_sum"], s["n"]))
        value = float(evaluate.ratio(s["share_sum"], s["n"]))
        rows.append((kind, value, float(lo), float(hi), len(s["n"])))
    return pd.DataFrame(rows, columns=["model", "earlier_word_share", "lo", "hi",
                                       "sequences"])  # fmt: skip


def explorer_pages(cfg, out_dir, trained, vocab, texts) -> list[str]:
    """One self-contained explorer page per text (the probe sentence first),
    every model on it; returns the paths relative to ``out_dir``."""
    from ... import explorer
    from .models import NAMES

    named = {NAMES[k]: m.connectivity_model() for k, m in trained.items()}
    pages = []
    for i, text in enumerate([published.PROBE_SENTENCE, *texts]):
        name = "probe_sentence" if i == 0 else f"test_sequence_{i}"
        rel = f"explorer/{name}.html"
        explorer.page(
            named, text, words=vocab, norm=cfg.connectivity_norm,
            path=out_dir / rel, title=f"E5 connectivity: {name.replace('_', ' ')}",
        )  # fmt: skip
        pages.append(rel)
    return pages


def _scores(cfg, out_dir, model_key, model, dataset, test) -> dict:
    """Per-sequence test scores of one model, kept in the store (the full
    softmax over every test position is the longest step after training)."""
    import torch

    from . import evaluate

    def compute():
        s = evaluate.per_sequence(model, dataset, test)
        return {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in s.items()}

    stored = store.cached(
        out_dir, "autocomplete/test_scores", cfg, compute,
        fields=("test_sequences",), extra={"model": model_key}, code=EVAL_CODE,
        kind="torch",
    )  # fmt: skip
    return {k: v.numpy() for k, v in stored.items()}


def paper_parameter_counts() -> dict[str, dict[str, int]]:
    """Parameters of the three models built at the post's sizes (600 units,
    16,386 classes, full softmax): checked against the post's counts."""
    from types import SimpleNamespace

    from . import models

    cfg = SimpleNamespace(hidden_size=600, embedding_size=600, layers=2,
                          nlstm_layers=1, forget_bias=1.0, softmax="full",
                          adaptive_cutoffs=())  # fmt: skip
    return {k: models.count_parameters(models.build(k, cfg, 16_386)) for k in
            ("gru", "lstm", "nlstm")}  # fmt: skip


def parameter_table(trained, paper) -> pd.DataFrame:
    from . import models

    rows = [(k, "this run", part, n) for k, m in trained.items()
            for part, n in models.count_parameters(m).items()]  # fmt: skip
    rows += [(k, "post's sizes", part, n) for k, d in paper.items()
             for part, n in d.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "sizes", "part", "parameters"])


def data_summary(dataset, n_test) -> dict:
    n = {k: int(len(v)) for k, v in dataset.splits.items()}
    unknown = float(np.mean(dataset.targets == data.UNKNOWN))
    return {"sequences": n, "test_sequences_scored": int(n_test),
            "classes": dataset.n_words, "characters": int(len(dataset.chars)),
            "unknown_share_of_characters": unknown}  # fmt: skip


def local_texts(dataset, n: int) -> list[str]:
    """The first ``n`` test sequences as text (connectivity figures, explorer)."""
    return [dataset.text(int(s)).strip() for s in dataset.splits["test"][:n]]
