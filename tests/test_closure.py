"""The run fingerprint's code part: the import closure of an experiment."""

import importlib

from rnnmem_utils import config
from rnnmem_utils.runner import closure

plan = importlib.import_module("rnnmem_utils.runner.plan")


def _package(root, files):
    for rel, text in files.items():
        path = root / "rnnmem_utils" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


FAKE = {
    "__init__.py": "",
    "cli.py": "from . import exp\n",
    "shared.py": "X = 1\n",
    "lazy.py": "Y = 2\n",
    "other.py": "Z = 3\n",
    "presets.py": "P = 1\n",
    "exp/schema.py": "from .. import presets\n",
    "plotting.py": "from .shared import X\n",
    "exp/__init__.py": "from ..shared import X\nfrom .schema import P\n\n"
    "def run():\n    from .. import lazy\n",
    "exp/claims.py": "import rnnmem_utils.other\n",
}


def test_closure_follows_imports_at_any_depth(tmp_path, monkeypatch):
    _package(tmp_path, FAKE)
    monkeypatch.setattr(closure, "PACKAGE_DIR", tmp_path / "rnnmem_utils")
    mods = closure.result_modules(["rnnmem_utils.exp"])
    # the import inside run() counts; cli, the bare package and the configuration
    # (hashed apart, as the resolved config) do not
    assert mods == ["rnnmem_utils.exp", "rnnmem_utils.lazy", "rnnmem_utils.shared"]
    assert "rnnmem_utils.other" in closure.result_modules(["rnnmem_utils.exp.claims"])
    nb = "import rnnmem_utils as rm\nrm.plotting.show(rm.exp.run())\n"
    assert closure.notebook_modules(nb) == {"rnnmem_utils.plotting", "rnnmem_utils.exp"}
    # ``from package import module``: the module counts (a notebook's figures
    # once escaped the fingerprint so)
    nb = (
        "from rnnmem_utils.exp import claims as c, run\n"
        "from rnnmem_utils import (shared,\n    plotting)\n"
    )
    assert closure.notebook_modules(nb) == {
        "rnnmem_utils.exp", "rnnmem_utils.exp.claims", "rnnmem_utils.shared",
        "rnnmem_utils.plotting",
    }  # fmt: skip


def test_digest_changes_only_with_the_closure(tmp_path, monkeypatch):
    _package(tmp_path, FAKE)
    root = tmp_path / "rnnmem_utils"
    monkeypatch.setattr(closure, "PACKAGE_DIR", root)
    before = closure.digest(["rnnmem_utils.exp"])
    (root / "other.py").write_text("Z = 4\n")  # not imported by exp
    (root / "cli.py").write_text("# a CLI edit\n")
    (root / "presets.py").write_text("P = 2  # another experiment's numbers\n")
    assert closure.digest(["rnnmem_utils.exp"]) == before
    (root / "lazy.py").write_text('"""Prose."""\nY = 2  # a comment\n')
    assert closure.digest(["rnnmem_utils.exp"]) == before  # prose is not code
    (root / "lazy.py").write_text("Y = 3\n")  # imported inside a function
    assert closure.digest(["rnnmem_utils.exp"]) != before


def test_experiments_do_not_share_their_own_code():
    roots = {
        name: config.EXPERIMENTS[name].entry.partition(":")[0]
        for name in config.EXPERIMENTS
    }
    e1 = closure.result_modules([roots["latching"]])
    assert "rnnmem_utils.models.keras_cells" in e1
    assert "rnnmem_utils.analysis.connectivity" not in e1
    assert roots["autocomplete"] not in e1
    # every registered notebook has a digest
    for name in config.EXPERIMENTS:
        assert len(plan.code_digest(name, plan.notebook_path(name))) == 16


def test_a_notebooks_figure_code_is_in_its_fingerprint():
    """Every notebook imports its figures as ``from rnnmem_utils.plotting
    import <module> as ...``; an edit to that module changes the figures, so it
    must make the result stale."""
    for name, module in [("latching", "latching"), ("ptb_memory", "ptb_memory"),
                         ("autocomplete", "autocomplete"), ("your_rnn", "your_rnn"),
                         ("foundations", "foundations"), ("cycles", "cycles")]:  # fmt: skip
        cells = "\n".join(plan._code_cells(plan.notebook_path(name)))
        assert f"rnnmem_utils.plotting.{module}" in closure.notebook_modules(cells)
