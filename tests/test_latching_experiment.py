"""E1/E2 entry points: resume from stored chunks; the landscape vs a naive loop."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import rnnmem_utils as rm
from rnnmem_utils.analysis.landscape import loss_landscape
from rnnmem_utils.data.latching import latching, make_split
from rnnmem_utils.experiments import latching as ex
from rnnmem_utils.training import multiseed as ms


def test_landscape_against_naive_loop():
    df = loss_landscape([3, 6], [-1.5, 0.5, 1.2], n=20, seed=1)
    for seq_len in (3, 6):
        x, y = latching(20, seq_len, np.random.default_rng([1, seq_len]))
        for w in (-1.5, 0.5, 1.2):
            losses = []
            for b in range(20):
                h = 0.0
                for x_t in x[:, b].double().tolist():
                    h = math.tanh(w * h + x_t)
                p = 1 / (1 + math.exp(-4.0 * h))
                losses.append(-math.log(p) if y[b] == 1 else -math.log(1 - p))
            got = df[(df.seq_len == seq_len) & (df.w == w)].loss.item()
            assert got == pytest.approx(np.mean(losses), rel=1e-9)


def test_run_latching_resumes_from_chunks(tmp_path, monkeypatch):
    cfg = rm.config.resolve(
        "latching", "smoke", {"cells": ["rnn"], "lengths": [2, 4], "n_sequences": 40}
    )
    first = ex.run(cfg, tmp_path, preset="smoke", progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["config_hash"] == rm.config.config_hash(cfg)
    # grid, torch, bug; search and tuned (one cell); bengio; init variants
    chunks = [m for m in rm.store.Store().entries() if m["kind"] == "csv"]
    assert len(chunks) == 7 + 1  # and the loss landscape

    def fail(*a, **k):
        raise AssertionError("a stored chunk was recomputed")

    for name in ("train_part", "_bengio", "_inits", "search_tuned"):
        monkeypatch.setattr(ex, name, fail)
    again = ex.run(cfg, tmp_path, preset="smoke", progress=False)
    assert np.allclose(first["runs"].val_acc, again["runs"].val_acc)


def test_run_bit_relay_reads_e1_when_present(tmp_path):
    cfg = rm.config.resolve("bit_relay", "smoke", {"n_sequences": 40, "lengths": [4]})
    res = rm.experiments.run(
        "bit_relay",
        cfg,
        tmp_path / "bit_relay",
        preset="smoke",
        progress=False,
        needs={"latching": tmp_path / "latching"},
    )
    verdicts = {c.id: c.verdict for c in res["claims"].claims}
    assert verdicts["task_specific"] == rm.claims.NOT_RUN  # no E1 results beside it
    assert verdicts["task_specific_torch"] == rm.claims.NOT_RUN
    assert set(res["runs"]["style"]) == {"keras2018", "torch"}
    assert set(res["runs"].cell) == {"rnn", "lstm", "gru"}


def test_search_rows_equal_training_each_setting_alone():
    """One vectorised search (per-model lr, accuracy after each epoch count)
    gives what training each (lr, batch, epochs) on its own gives."""
    cfg = rm.config.resolve(
        "latching",
        "smoke",
        {
            "cells": ["rnn"],
            "n_sequences": 60,
            "tuned_lengths": [3, 6],
            "search_lrs": [1e-3, 3e-2],
            "search_epochs": [1, 2],
        },
    )
    table = ex.search_tuned(cfg, "rnn")
    split = make_split(
        "latching", 60, 6, ex.data_seed(cfg.seed, "latching", 6, ex.SEARCH_DATA)
    )
    seeds = ex.search_seeds(cfg, "rnn", 6)
    for row in table.itertuples():
        spec = ms.TrainSpec("rnn", "keras2018", 1, row.epochs, row.batch_size, row.lr)
        alone = ms.train_multiseed(spec, [split], [0] * len(seeds), seeds)
        assert row.mean_acc == pytest.approx(float(alone.val_acc.mean()), abs=1e-9)
    assert len(table) == 2 * 2 * len(cfg.search_batch_sizes)


def test_search_seeds_and_data_are_not_the_reported_ones(tmp_path):
    cfg = rm.config.resolve(
        "latching", "smoke", {"cells": ["rnn", "gru"], "n_sequences": 40}
    )
    res = ex.run(cfg, tmp_path, preset="smoke", progress=False)
    reported = set(res["runs"].seed)
    for cell in cfg.cells:
        for L in cfg.tuned_lengths:
            assert not set(ex.search_seeds(cfg, cell, L)) & reported
    search_data = ex.data_seed(cfg.seed, "latching", max(cfg.tuned_lengths), "search")
    reported_data = {
        ex.data_seed(cfg.seed, "latching", L, v)
        for L in {*cfg.tuned_lengths, *cfg.lengths, *cfg.bengio_lengths}
        for v in ("", "bengio")
    }
    assert search_data not in reported_data
    # every cell is tuned by its own search, with the same budget
    assert set(res["search"].cell) == {"rnn", "gru"}
    assert res["search"].groupby("cell").size().nunique() == 1
    tuned = res["runs"].query("part == 'tuned'")
    for cell, g in tuned.groupby("cell"):
        best = ex.best_setting(res["search"][res["search"].cell == cell])
        assert (g.lr.iloc[0], g.batch_size.iloc[0], g.epochs.iloc[0]) == best


def test_best_setting_rule():
    table = pd.DataFrame(
        dict(
            lr=[1e-3, 1e-2, 3e-3, 1e-3],
            batch_size=[32, 32, 128, 128],
            epochs=[10, 10, 20, 10],
            success_freq=[0.6, 0.6, 0.6, 0.4],
            mean_acc=[0.8, 0.8, 0.8, 0.9],
        )
    )
    # equal success and accuracy: the fewest epochs, then the largest batch,
    # then the smallest lr
    assert ex.best_setting(table) == (1e-3, 32, 10)
    table.loc[2, "mean_acc"] = 0.81
    assert ex.best_setting(table) == (3e-3, 128, 20)


def test_init_variants():
    seeds = [1, 2, 3]
    zb = ex.initial_params("zero_bias", seeds)
    assert zb["b_x"].abs().sum() == 0 and zb["b_h"].abs().sum() == 0
    assert zb["W_h"].abs().max() <= 1.0
    assert (
        ex.initial_params("keras2018", seeds)["W_h"].abs().flatten().tolist()
        == [1.0] * 3
    )
    lat = ex.initial_params("latching", seeds)
    assert lat["W_h"].flatten().tolist() == [1.25] * 3
    assert lat["W_x"].flatten().tolist() == [1.0] * 3


def test_bit_relay_runs_the_long_gru_lengths_not_in_the_grid(tmp_path):
    cfg = rm.config.resolve(
        "bit_relay",
        "smoke",
        {"n_sequences": 40, "lengths": [4], "gru_long_lengths": [4, 12]},
    )
    res = rm.experiments.run(
        "bit_relay", cfg, tmp_path / "bit_relay", preset="smoke", progress=False
    )
    long = res["summary"].query("part == 'relay_long'")
    assert list(long.seq_len) == [12] and set(long.cell) == {"gru"}
    assert set(long["style"]) == {"keras2018"}
