"""Foundations lesson: configuration ranges refused; the entry point end to end, resumed."""

import json
from pathlib import Path

import numpy as np
import pytest

import rnnmem_utils as rm
from rnnmem_utils.config import ConfigError


@pytest.mark.parametrize("preset", ["smoke", "default", "paper"])
def test_presets_resolve(preset):
    cfg = rm.config.resolve("foundations", preset)
    assert cfg.recall_delay < cfg.recall_seq_len
    assert max(cfg.truncations) <= cfg.recall_seq_len


@pytest.mark.parametrize(
    "override",
    [
        {"repeat_seq_len": 17},
        {"repeat_seq_len": 1},
        {"truncations": [0, 5]},
        {"truncations": []},
        {"sigmas": [0.5, -1.0]},
        {"dropout_p": 1.0},
        {"lr": 0.0},
        {"lm_chars": 100},
        {"layers": [0]},
        {"lm_steps": "10"},
        {"clip_norm": -1.0},
        {"hidden_size": 2.5},
        {"recall_dealy": 3},
    ],
)
def test_bad_values_are_refused(override):
    with pytest.raises(ConfigError):
        rm.config.resolve("foundations", "smoke", override)


def test_delay_beyond_sequence_refused_when_resolved(tmp_path):
    # refused by resolve itself, so the CLI and a direct papermill run refuse alike
    with pytest.raises(ConfigError, match="recall_delay=20, recall_seq_len=20"):
        rm.config.resolve("foundations", "smoke", {"recall_delay": 20})


def test_lm_test_chars_agree_with_the_experiment():
    from rnnmem_utils.experiments.foundations import parts as foundations

    assert rm.experiments.foundations.schema._LM_TEST_CHARS == foundations.LM_TEST_CHARS


def test_lm_window_rule_matches_the_training_loop(monkeypatch):
    """At the rule's boundary the LM's training loop has exactly one window of
    lm_seq_len characters; one character longer and it has none."""
    from types import SimpleNamespace

    from rnnmem_utils.experiments.foundations import parts as foundations

    def first_window(model, sample, **kw):
        x, y = sample(0)
        return [x.shape, y.shape]

    monkeypatch.setattr(foundations.bptt, "train", first_window)
    over = {"lm_chars": 50_000, "batch_size": 32}
    cfg = rm.config.resolve("foundations", "smoke", {**over, "lm_seq_len": 1405})
    n_train = cfg.lm_chars - min(foundations.LM_TEST_CHARS, cfg.lm_chars // 10)
    ids = np.zeros(n_train, dtype=np.int64)
    assert foundations._train_lm(cfg, None, ids, False) == [(1405, 32), (1405, 32)]
    with pytest.raises(ConfigError, match="lm_seq_len=1406"):
        rm.config.resolve("foundations", "smoke", {**over, "lm_seq_len": 1406})
    beyond = SimpleNamespace(**{**rm.config.to_dict(cfg), "lm_seq_len": 1406})
    with pytest.raises(ZeroDivisionError):  # what the rule spares a user
        foundations._train_lm(beyond, None, ids, False)


def test_the_lm_trains_at_its_own_rate(monkeypatch):
    """lm_lr, not the recall task's lr, reaches the LM's optimiser."""
    from rnnmem_utils.experiments.foundations import parts as foundations

    seen = {}
    monkeypatch.setattr(
        foundations.bptt, "train", lambda model, sample, **kw: seen.update(kw)
    )
    cfg = rm.config.resolve("foundations", "smoke", {"lr": 0.05, "lm_lr": 0.003})
    foundations._train_lm(cfg, None, np.zeros(10_000, dtype=np.int64), False)
    assert seen["lr"] == 0.003


def test_data_needs_name_text8_and_its_length():
    cfg = rm.config.resolve("foundations", "smoke", {"lm_chars": 30_000})
    assert cfg.data_needs() == {"text8": 30_000}


def test_run_smoke_writes_claims_and_resumes(tmp_path):
    from rnnmem_utils.data.corpora import data_dir

    if not (data_dir() / "text8" / "text8").exists():
        pytest.skip("text8 not in the data directory (set RNNMEM_DATA_DIR)")
    cfg = rm.config.resolve("foundations", "smoke", {"lm_chars": 20_000})
    res = rm.experiments.run(
        "foundations", cfg, tmp_path, preset="smoke", progress=False
    )
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["config_hash"] == rm.config.config_hash(cfg)
    assert len(claims["claims"]) == len(res["claims"].claims) >= 15
    assert all(c["verdict"] in rm.claims.VERDICTS for c in claims["claims"])
    # the hand-built detector is exact at any preset
    hand = next(c for c in claims["claims"] if c["id"] == "handbuilt_repeat_detector")
    assert hand["verdict"] == rm.claims.REPRODUCED
    # resume: finished parts are read back, not recomputed
    assert len(sorted(tmp_path.glob("part*.json"))) == 5  # the results

    def units():  # the resumable units, in the store
        return sorted(
            Path(m["path"]) / "value.json" for m in rm.store.Store().entries()
        )

    assert len(units()) == 5
    stamps = [p.stat().st_mtime_ns for p in units()]
    rm.experiments.run("foundations", cfg, tmp_path, preset="smoke", progress=False)
    assert [p.stat().st_mtime_ns for p in units()] == stamps
    # a changed configuration recomputes
    cfg2 = rm.config.resolve("foundations", "smoke", {"lm_chars": 20_000, "seed": 1})
    rm.experiments.run("foundations", cfg2, tmp_path, preset="smoke", progress=False)
    assert len(units()) == 10


def test_bad_data_refused_before_any_part(tmp_path, monkeypatch):
    from rnnmem_utils.data.corpora import DataError

    (tmp_path / "data" / "text8").mkdir(parents=True)
    (tmp_path / "data" / "text8" / "text8").write_text("")  # present but empty
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path / "data"))
    cfg = rm.config.resolve("foundations", "smoke")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="it has 0 bytes"):
        rm.experiments.run("foundations", cfg, out, preset="smoke", progress=False)
    assert not list(out.glob("part*.json")) and not rm.store.Store().entries()
