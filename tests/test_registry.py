"""The registry: each entry, its package, its presets and its notebook agree."""

import importlib
import inspect
import subprocess
import sys

import nbformat
import pytest

from rnnmem_utils import config, experiments, presets, runner
from rnnmem_utils.experiments import harness

NAMES = list(config.EXPERIMENTS)


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_has_the_one_signature(name):
    entry = config.EXPERIMENTS[name].entry
    module, _, function = entry.partition(":")
    package = f"rnnmem_utils.experiments.{name}"
    assert module.startswith(package + "."), "one package per experiment"
    assert importlib.import_module(package).__path__, "a package, not a module"
    params = inspect.signature(experiments.entry_point(name)).parameters
    assert list(params)[:2] == ["cfg", "out_dir"]
    for keyword in ("preset", "needs", "progress"):
        assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, keyword


@pytest.mark.parametrize("name", NAMES)
def test_the_schema_lives_in_the_experiments_package_and_stays_light(name):
    schema = config.EXPERIMENTS[name].schema
    assert schema.__module__ == f"rnnmem_utils.experiments.{name}.schema"
    # the CLI validates without torch: config, every schema and every package's
    # __init__ import nothing heavy (a fresh interpreter, as the CLI starts)
    code = "import sys, rnnmem_utils.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", NAMES)
def test_presets_and_notebook_agree_with_the_entry(name):
    exp = config.EXPERIMENTS[name]
    assert set(presets.PRESETS[name]) == set(config.PRESET_NAMES)
    nb = nbformat.read(runner.NOTEBOOK_DIR / exp.notebook, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'rm.config.resolve("{name}"' in code, "resolves its own configuration"
    call = f'rm.experiments.run("{name}", cfg, out, preset=preset'
    assert call in code, "runs through the registry's entry point"
    if exp.needs:
        assert "needs=needs" in code, "passes what it reads from other experiments"
    for needed in exp.needs:
        assert needed in config.EXPERIMENTS


def test_every_presets_section_has_a_registry_entry():
    assert set(presets.PRESETS) == set(config.EXPERIMENTS)


def test_unknown_experiment_lists_the_valid_names():
    with pytest.raises(KeyError, match=r"unknown experiment 'cycle'.*'cycles'"):
        experiments.entry_point("cycle")


def test_results_type_reads_as_attributes_and_items():
    import pandas as pd

    res = harness.results("x", "smoke", None, table=pd.DataFrame({"a": [1]}), n=3)
    assert res.n == 3 and res["n"] == 3 and "table" in res.tables
    with pytest.raises(AttributeError, match=r"tables: \['table'\], extra: \['n'\]"):
        _ = res.missing
    with pytest.raises(KeyError):
        res["missing"]
