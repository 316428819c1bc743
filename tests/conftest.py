"""Shared fixtures: isolated results and store, the toy experiment, the data directory."""

import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data"

# The loaders read the data directory from the environment; CI and the Makefile
# point it at ../shared/data. Set it here too so `pytest` alone behaves the same.
if "RNNMEM_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["RNNMEM_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test has a store of its own: none writes into the repository's."""
    monkeypatch.setenv("RNNMEM_STORE", str(tmp_path / "store"))


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """Results and the store go to a temporary directory, never into the repo."""
    root = tmp_path / "results"
    monkeypatch.setenv("RNNMEM_RESULTS_DIR", str(root))
    monkeypatch.setenv("RNNMEM_STORE", str(tmp_path / "store"))
    return root


@pytest.fixture
def toy(results_root, monkeypatch):
    """Register the toy experiment (tests/fixtures) with the config and the runner."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    import toy_experiment

    from rnnmem_utils import config, presets

    saved_exp = dict(config.EXPERIMENTS)
    toy_experiment.register()
    yield toy_experiment
    config.EXPERIMENTS.clear()
    config.EXPERIMENTS.update(saved_exp)
    for name in ("toy", "toy2"):
        presets.PRESETS.pop(name, None)
    sys.modules.pop("toy_experiment", None)


def wait_for(predicate, timeout=60.0) -> bool:
    """Whether ``predicate()`` came true within ``timeout`` seconds (polled)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
