"""Every notebook: stored as a lesson, and run end to end at the smoke preset.

The notebooks are executed by the real runner (papermill) into a temporary
results directory; each must write its claims (the completion marker) with a
verdict for every claim, and the report must build from them.
"""

import json

import nbformat
import pytest

from rnnmem_utils import claims, config, io, report, runner

EXPERIMENTS = list(config.EXPERIMENTS)


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNMEM_RESULTS_DIR", str(root))
        yield root


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_notebook_is_stored_as_a_lesson(experiment):
    path = runner.NOTEBOOK_DIR / config.EXPERIMENTS[experiment].notebook
    assert path.exists(), f"{path} is missing"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in code
    ), "store notebooks without outputs (nbstripout)"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for name in ("preset", "overrides", "out_dir"):
        assert f"{name} =" in params[0].source
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4, (
        "a lesson explains the question, the method and each figure"
    )
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert f'"{experiment}"' in "".join(c.source for c in code), (
        "resolves its own config"
    )


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_notebook_runs_at_smoke(experiment, smoke_root):
    outcome = runner.run_one(experiment, "smoke")
    assert outcome.status == "ran"
    out = smoke_root / "smoke" / experiment
    data = io.read_json(out / "claims.json")
    assert data["experiment"] == experiment and data["claims"], "at least one claim"
    for c in data["claims"]:
        assert c["verdict"] in claims.VERDICTS
        assert c["published"] is not None, c["id"]
        json.dumps(c)
    assert list(out.glob("*.csv")) or list(out.glob("*.json")), (
        "machine-readable results"
    )
    assert list((out / "figures").glob("*.png")), "figures"
    assert not list(out.rglob(f"*{io.TMP_MARK}*"))


@pytest.mark.slow
def test_report_builds_from_every_notebook(smoke_root):
    md, html = report.build("smoke")
    text = md.read_text()
    for exp in config.EXPERIMENTS.values():
        assert f"## {exp.title}" in text
    assert "Not run at this preset yet" not in text, "every notebook ran above"
    assert html.exists()
