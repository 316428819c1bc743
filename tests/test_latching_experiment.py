"""E1/E2 entry points: resume from stored chunks; the landscape vs a naive loop."""

import json
import math

import numpy as np
import pytest

import rnnmem_utils as rm
from rnnmem_utils.analysis.landscape import loss_landscape
from rnnmem_utils.data.latching import latching
from rnnmem_utils.experiments import latching as ex


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
        "latching", "smoke", {"cells": ["srnn"], "lengths": [2, 4], "n_sequences": 40}
    )
    first = ex.run_latching(cfg, tmp_path, preset="smoke", progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["config_hash"] == rm.config.config_hash(cfg)
    assert (
        len(list((tmp_path / "cache" / "chunks").glob("*.csv"))) == 5
    )  # 4 parts + bengio

    def fail(*a, **k):
        raise AssertionError("a stored chunk was recomputed")

    monkeypatch.setattr(ex, "train_chunk", fail)
    monkeypatch.setattr(ex, "_bengio", fail)
    again = ex.run_latching(cfg, tmp_path, preset="smoke", progress=False)
    assert np.allclose(first["runs"].val_acc, again["runs"].val_acc)


def test_run_bit_relay_reads_e1_when_present(tmp_path):
    cfg = rm.config.resolve("bit_relay", "smoke", {"n_sequences": 40, "lengths": [4]})
    res = ex.run_bit_relay(cfg, tmp_path / "bit_relay", preset="smoke", progress=False)
    verdicts = {c.id: c.verdict for c in res["claims"].claims}
    assert verdicts["task_specific"] == rm.claims.NOT_RUN  # no E1 results beside it
    assert verdicts["task_specific_torch"] == rm.claims.NOT_RUN
    assert set(res["runs"]["style"]) == {"keras2018", "torch"}
    assert set(res["runs"].cell) == {"srnn", "lstm", "gru"}


def test_search_tuned_reruns_the_tuned_part(tmp_path):
    """The search behind the tuned presets trains exactly what the tuned part does."""
    cfg = rm.config.resolve(
        "latching", "smoke", {"cells": ["srnn"], "lengths": [2], "n_sequences": 40}
    )
    res = ex.run_latching(cfg, tmp_path, preset="smoke", progress=False)
    tuned = res["summary"].query("part == 'tuned' and seq_len == 20")
    setting = (cfg.tuned_lr, cfg.tuned_batch_size, cfg.tuned_epochs)
    table = ex.search_tuned(cfg, [setting, (1e-3, 16, 1)], seq_len=20)
    assert list(table.columns[:5]) == ["cell", "seq_len", "lr", "batch_size", "epochs"]
    assert len(table) == 2 and (table.repeats == cfg.tuned_repeats).all()
    assert table.mean_acc[0] == pytest.approx(tuned.mean_acc.item())
    assert table.success_freq[0] == pytest.approx(tuned.success_freq.item())
