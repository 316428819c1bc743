"""The run of E3 synthetic cycles (see the package's docstring)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import io, store
from ...analysis import probes
from ...analysis import state_gradients as sg
from ...data import cycles as data
from ...models.lm import RecurrentLM
from ...training import lm as training
from ..harness import Results, results, single_thread
from .claims import (  # noqa: F401  (re-exported: notebook and tests read them here)
    ERROR_KIND,
    EUCLIDEAN_ID,
    PUBLISHED_PPL,
    PUBLISHED_TABLE1,
    SOURCE,
    TASKS,
    ideal_drops,
    make_claims,
)


def run(
    cfg, out_dir, *, preset: str = "default", needs=None, progress: bool = True
) -> Results:
    """Run E3 end to end; finished units of work are reused (resumable).

    The result's tables: perplexity (dict), errors, table1, counting_projection,
    gradient_curves, delay_accuracy, training_log, ideal_drops (where Figure 3's
    drops belong); every table is also a CSV in ``out_dir``."""
    with single_thread():  # a 50-unit model's ops are too small to split
        return _run(cfg, Path(out_dir), preset, progress)


# What the trained model depends on: the training stream (its size and seed),
# the model and the training settings, and their code. Nothing else in E3 --
# probes, gradients, claims, plots, prose -- can make it retrain.
MODEL_FIELDS = ("train_tokens", "seed", "hidden_size", "epochs", "batch_size",
                "seq_len", "optimizer", "lr")  # fmt: skip
MODEL_CODE = ("rnnmem_utils.models.lm", "rnnmem_utils.models.cells",
              "rnnmem_utils.training.lm", "rnnmem_utils.data.cycles")  # fmt: skip
# The analyses depend on the whole configuration, the model and this module.
ANALYSIS_CODE = ("rnnmem_utils.experiments.cycles.main", "rnnmem_utils.analysis.probes",
                 "rnnmem_utils.analysis.state_gradients", *MODEL_CODE)  # fmt: skip


def _run(cfg, out_dir, preset, progress) -> Results:
    streams = make_streams(cfg)
    model, log, model_key = trained_model(cfg, streams["train"], out_dir, progress)

    def unit(name, compute):  # a unit of analysis of this model, in the store
        return store.cached(
            out_dir, f"cycles/{name}", cfg, compute,
            extra={"model": model_key}, code=ANALYSIS_CODE,
        )  # fmt: skip

    ppl = unit("perplexity", lambda: perplexities(model, streams))
    errors = unit("errors", lambda: error_table(model, streams["test"]))
    burn = 2 * cfg.max_delay  # history given to the first analysed position
    states, labels = valid_states(model, streams["valid"], burn)
    table1, bases, proj = _probe_results(cfg, states, labels, out_dir)
    sums = unit(
        "gradient_sums",
        lambda: _plain_sums(
            gradient_sums(cfg, model, streams["valid"], burn, progress)
        ),
    )
    sums = {k: sg.GradientSums(v["sums"], v["counts"], tuple(v["groups"]))
            for k, v in sums.items()}  # fmt: skip
    curves = gradient_curves(sums, bases)
    delay_acc = unit("delay_accuracy", lambda: delay_accuracy(cfg, states, labels))
    tables = {
        "errors": errors,
        "gradient_curves": curves,
        "delay_accuracy": delay_acc,
        "training_log": log,
    }
    for name, table in tables.items():
        io.write_csv(out_dir / f"{name}.csv", table)
    io.write_json(out_dir / "perplexity.json", ppl)
    ideal = ideal_drops(streams["valid"])
    io.write_csv(out_dir / "ideal_drops.csv", ideal)
    claims = make_claims(cfg, preset, ppl, errors, table1, curves, delay_acc, ideal)
    claims.write(out_dir)
    return results(
        "cycles", preset, claims, perplexity=ppl, errors=errors, table1=table1,
        counting_projection=proj, gradient_curves=curves, delay_accuracy=delay_acc,
        training_log=log, ideal_drops=ideal,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Data, model, training
# ---------------------------------------------------------------------------


def make_streams(cfg) -> dict[str, data.CycleStream]:
    """Train/valid/test streams, each from its own seeded generator."""
    sizes = {
        "train": cfg.train_tokens,
        "valid": cfg.valid_tokens,
        "test": cfg.test_tokens,
    }
    return {
        name: data.generate(n, np.random.default_rng([cfg.seed, i]))
        for i, (name, n) in enumerate(sizes.items())
    }


def build_model(cfg) -> RecurrentLM:
    """One-hot inputs (no embedding), one LSTM layer (section 4.2.1)."""
    with torch.random.fork_rng():  # seed the initialisation without global side effects
        torch.manual_seed(cfg.seed)
        return RecurrentLM(
            "lstm", data.VOCAB_SIZE, cfg.hidden_size, embedding_size=None
        )


def _plain_sums(sums: dict) -> dict:
    """Tensors and strings only, so the store loads them with weights_only."""
    return {
        k: {"sums": v.sums, "counts": v.counts, "groups": list(v.groups)}
        for k, v in sums.items()
    }


def trained_model(cfg, train: data.CycleStream, out_dir, progress):
    """The trained LSTM from the store (trained there once, resumable from its
    checkpoint), its training log and its store key."""
    st = store.Store(user=out_dir)
    key = st.key("cycles/model", cfg, MODEL_FIELDS, code=MODEL_CODE)
    model = build_model(cfg)

    def train_it():
        settings = training.TrainSettings(
            cfg.epochs, cfg.batch_size, cfg.seq_len, cfg.lr, cfg.optimizer
        )
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed + 1)  # dropout is off; kept for determinism
            ckpt = st.path(key) / store.CHECKPOINT
            log = training.train(model, train.tokens, settings, ckpt, progress)
        return {"model": model.state_dict(), "log": log}

    stored = st.stage(key, train_it, kind="torch")
    model.load_state_dict(stored["model"])
    return model.eval(), pd.DataFrame(stored["log"]), key.digest


def perplexities(model, streams) -> dict:
    out = {
        name: training.perplexity(
            training.log_probs(model, streams[name].tokens), streams[name].tokens
        )
        for name in ("valid", "test")
    }
    return {
        **out,
        "min_paper": data.min_perplexity(),
        "min_entropy_rate": data.entropy_rate_perplexity(),
    }


def perplexity_table(ppl: dict) -> pd.DataFrame:
    """Our perplexities beside the paper's and the two minima."""
    return pd.DataFrame(
        [
            ("validation perplexity", ppl["valid"], PUBLISHED_PPL["valid"]),
            ("test perplexity", ppl["test"], PUBLISHED_PPL["test"]),
            ("minimum, appendix 8 (mean of line PPLs)", ppl["min_paper"], 1.1375),
            (
                "minimum, entropy rate (line length random)",
                ppl["min_entropy_rate"],
                None,
            ),
        ],
        columns=["quantity", "ours", "published"],
    )


def error_table(model, test: data.CycleStream) -> pd.DataFrame:
    """Argmax errors by the kind of target position (the first cycle skipped:
    its repeats are unpredictable by construction)."""
    pred = training.log_probs(model, test.tokens).argmax(-1).numpy()
    target, count = test.tokens[1:], test.count[1:]
    keep = np.arange(1, len(test.tokens)) >= data.CYCLE_LEN
    kind = np.array([ERROR_KIND.get(int(c), "later repeat") for c in count])
    df = pd.DataFrame({"kind": kind[keep], "error": (pred != target)[keep]})
    table = (
        df.groupby("kind")["error"].agg(positions="size", errors="sum").reset_index()
    )
    table["error_rate"] = table["errors"] / table["positions"]
    return table


# ---------------------------------------------------------------------------
# States and probes (Table 1, Figure 2)
# ---------------------------------------------------------------------------


def columns(
    n_tokens: int, n_columns: int, burn: int, lookahead: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut positions burn..n-1 of a stream into B columns of L analysed rows::

        row:       0 .. burn-1 | burn .. burn+L-1 | burn+L .. burn+L+lookahead-1
        column b:  its history | analysed (L)     | its future (next column's)

    Column b analyses positions burn + b L .. burn + (b+1) L - 1, so each of
    burn..n-1 is analysed exactly once; the history gives its first rows a
    state, the lookahead gives its last rows their future (later delays).
    Returns stream indices (burn + L + lookahead, B) clipped to the stream,
    the mask of analysed rows and the mask of real rows (not past the end).
    """
    length = math.ceil((n_tokens - burn) / n_columns)
    rows = np.arange(burn + length + lookahead)[:, None]
    idx = rows + length * np.arange(n_columns)[None, :]
    real = idx < n_tokens
    analysed = (rows >= burn) & (rows < burn + length) & real
    return np.minimum(idx, n_tokens - 1), analysed, real


def valid_states(model, valid: data.CycleStream, burn: int, n_columns: int = 64):
    """Cell and hidden states at validation positions burn.. (stream order)."""
    idx, analysed, _ = columns(len(valid.tokens), n_columns, burn)
    states = model.states(torch.as_tensor(valid.tokens[idx]))  # {name: (T, B, H)}
    order = np.argsort(idx[analysed], kind="stable")
    out = {name: s.numpy()[analysed][order] for name, s in states.items()}
    sel = idx[analysed][order]
    labels = {
        "token ID": valid.tokens[sel],
        "new token": valid.new[sel],
        "counting": valid.count[sel],
    }
    return out, labels


def _task_xy(task, states, labels):
    x, y = states, labels[task]
    if task == "token ID":  # 10 target classes: <eos> is not a token
        keep = y != data.EOS
        return x[keep], y[keep]
    return x, y


def _probe_results(cfg, states, labels, out_dir):
    n_test = cfg.lda_test_tokens
    counting = probes.LDAProbe().fit(
        states["c"][:-n_test], labels["counting"][:-n_test]
    )
    basis = counting.subspace(cfg.counting_dims)
    id_basis = counting.id_subspace(cfg.counting_dims)  # consistent with LDA
    euclid = counting.id_subspace(cfg.counting_dims, geometry="euclidean")
    reps = {
        "cell state": states["c"],
        "hidden state": states["h"],
        "cell state, counting subspace": probes.project(states["c"], basis),
        "cell state, ID subspace": probes.project(states["c"], id_basis),
        EUCLIDEAN_ID: probes.project(states["c"], euclid),
    }
    rows = []
    for rep, x in reps.items():
        published = PUBLISHED_TABLE1.get(rep, (np.nan,) * len(TASKS))
        for i, task in enumerate(TASKS):
            acc = probes.holdout_accuracy(*_task_xy(task, x, labels), n_test)
            rows.append((rep, task, 100 * acc, published[i]))
    table = pd.DataFrame(rows, columns=["representation", "task", "ours", "published"])
    io.write_csv(out_dir / "table1.csv", table)
    evr = counting.explained_variance_ratio_[: cfg.counting_dims].sum()
    io.write_json(
        out_dir / "counting_subspace.json",
        {
            "dims": cfg.counting_dims,
            "explained_variance_ratio": float(evr),
            "basis": basis,
        },
    )
    proj = _projection_sample(counting, states["c"], labels["counting"], cfg.seed)
    io.write_csv(out_dir / "counting_projection.csv", proj)
    return table, (basis, id_basis), proj


def _projection_sample(probe, x, count, seed, n=4000):
    """Figure 2: a sample of cell states on the counting LDA's first 2 directions."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(n, len(x)), replace=False)
    z = probe.transform(x[pick])[:, :2]
    label = np.where(count[pick] == data.COUNT_EOS, "EOS", count[pick].astype(str))
    return pd.DataFrame({"lda_1": z[:, 0], "lda_2": z[:, 1], "count": label})


# ---------------------------------------------------------------------------
# State gradients (Figure 3, left axis) and delay probes (right axis)
# ---------------------------------------------------------------------------


def gradient_curves(sums: dict, bases) -> pd.DataFrame:
    """Sum of singular values of the averaged cell-state gradients per delay:
    over all targets and over new-token sources (``sums``: see
    :func:`gradient_sums`), split into the counting subspace and the ID
    subspace of Table 1 (``bases``: both bases)."""
    basis, id_basis = bases
    table = pd.concat(
        [
            sg.summary_table(s, subspace=basis, complement=id_basis)
            for s in sums.values()
        ]
    )
    return table.reset_index(drop=True)


def gradient_sums(cfg, model, valid, burn, progress=False) -> dict:
    """G summed per delay over the first ``gradient_tokens`` analysed positions:
    "all" by target, "new" by new-token source (each source once, its delays
    read from its own column's lookahead, never from padding past the end)."""
    n = min(len(valid.tokens), burn + cfg.gradient_tokens)
    d = cfg.max_delay
    idx, analysed, real = columns(n, cfg.gradient_streams, burn, lookahead=d - 1)
    tokens = torch.as_tensor(valid.tokens[idx])
    new = torch.as_tensor(analysed & (valid.new[idx] == 1))
    run = dict(max_delay=d, progress=progress)
    return {
        "all": sg.state_gradient_sums(
            model, tokens, {"all": torch.as_tensor(analysed)}, **run
        ),
        "new": sg.state_gradient_sums(
            model,
            tokens,
            {"new token": new},
            by="source",
            targets=torch.as_tensor(real),
            **run,
        ),
    }


def delay_accuracy(cfg, states, labels) -> pd.DataFrame:
    """LDA accuracy of the new token at delay 0 from the state tau steps later."""
    is_new = np.flatnonzero(labels["new token"] == 1)
    n = len(labels["new token"])
    sources = is_new[is_new + cfg.max_delay - 1 < n]
    test = sources >= n - cfg.lda_test_tokens
    y = labels["token ID"][sources]
    rows = []
    for name in ("c", "h"):
        for tau in range(cfg.max_delay):
            x = states[name][sources + tau]
            probe = probes.LDAProbe().fit(x[~test], y[~test])
            rows.append((tau, name, float(probe.score(x[test], y[test]))))
    chance = float(pd.Series(y[test]).value_counts(normalize=True).max())
    df = pd.DataFrame(rows, columns=["delay", "state", "accuracy"])
    df["chance"] = chance
    return df
