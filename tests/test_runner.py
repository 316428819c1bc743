"""The runner: papermill execution, skipping complete runs, atomic results, resume."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import FIXTURES

from rnnmem_utils import cli, io, report, runner

pytestmark = pytest.mark.slow


def test_run_skip_and_rerun_on_change(toy, results_root):
    out = results_root / "smoke" / "toy"
    first = runner.run_one("toy", "smoke")
    assert first.status == "ran"
    for name in ("claims.json", "claims.csv", "results.csv", "run.json", "toy.ipynb"):
        assert (out / name).exists(), name
    assert runner.status("toy", "smoke") == "complete"
    assert runner.run_one("toy", "smoke").status == "skipped"
    (out / "toy.ipynb").unlink()  # as in a fresh clone: results committed, not executed
    assert runner.status("toy", "smoke") == "incomplete"
    assert runner.run_one("toy", "smoke").status == "ran"
    assert runner.run_one("toy", "smoke", force=True).status == "ran"
    changed = runner.run_one("toy", "smoke", {"seed": 1})
    assert changed.status == "ran", "new parameters make the old results stale"
    assert io.read_json(out / "run.json")["overrides"] == {"seed": 1}
    assert not list(out.rglob(f"*{io.TMP_MARK}*")), "no temporary file survives"


def test_code_change_makes_results_stale(toy, results_root, monkeypatch):
    runner.run_one("toy", "smoke")
    monkeypatch.setattr(runner, "code_digest", lambda: "other code")
    assert runner.status("toy", "smoke") == "stale"


def test_a_killed_run_leaves_no_result_and_the_rerun_resumes(
    toy, results_root, monkeypatch
):
    monkeypatch.setattr(runner, "code_digest", lambda: "toy code")  # as toy_run.py
    out = results_root / "smoke" / "toy"
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURES / "toy_run.py"), "6", "1.0"],
        env={**os.environ, "RNNMEM_RESULTS_DIR": str(results_root)},
        start_new_session=True,  # its own process group: the kernel dies with it
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cache").glob("step_*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "cache").glob("step_*.json")))
    assert 2 <= done_before < 6, "killed mid-way"
    for name in ("claims.json", "results.csv", "run.json", "toy.ipynb"):
        assert not (out / name).exists(), f"{name} must not exist after a kill"
    assert runner.status("toy", "smoke") == "incomplete"

    outcome = runner.run_one("toy", "smoke", {"steps": 6, "delay": 1.0})
    assert outcome.status == "ran"
    computed = (out / "computed.log").read_text().split()
    assert len(computed) == 6 + (len(computed) - 6), computed
    assert sorted(set(computed)) == [str(i) for i in range(6)]
    assert len(computed) <= 6 + 1, (
        "finished units are not recomputed (one may be in flight)"
    )
    assert io.read_json(out / "claims.json")["claims"][0]["reproduced"] == 55.0
    assert not list(out.rglob(f"*{io.TMP_MARK}*"))


def test_failed_notebook_is_kept_for_inspection(toy, results_root, monkeypatch):
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", FIXTURES / "broken")
    with pytest.raises(runner.RunError, match="toy.failed.ipynb"):
        runner.run_one("toy", "smoke")
    out = results_root / "smoke" / "toy"
    assert (out / "toy.failed.ipynb").exists()
    assert not (out / "claims.json").exists() and not (out / "run.json").exists()


def test_run_many_orders_dependencies_and_runs_in_parallel(
    toy, results_root, monkeypatch
):
    from rnnmem_utils import config

    monkeypatch.setitem(
        config.EXPERIMENTS,
        "toy2",
        config.Experiment(
            "toy2",
            "toy.ipynb",
            config.EXPERIMENTS["toy"].schema,
            "Toy 2",
            needs=("toy",),
        ),
    )
    monkeypatch.setitem(
        __import__("rnnmem_utils.presets").presets.PRESETS,
        "toy2",
        __import__("rnnmem_utils.presets").presets.PRESETS["toy"],
    )
    log = []
    outcomes = runner.run_many(["toy2", "toy"], "smoke", jobs=2, log=log.append)
    assert [o.experiment for o in outcomes] == ["toy", "toy2"]
    assert all(o.status == "ran" for o in outcomes)


def test_report_builds_from_claims(toy, results_root):
    runner.run_one("toy", "smoke")
    md, html = report.build("smoke")
    text = md.read_text()
    assert "Toy experiment" in text and "sum of squares" in text
    assert "reproduced" in text and "not run at this preset" in text
    assert "Not run at this preset yet" in text  # the real experiments, not run here
    assert "<table>" in html.read_text()


def test_cli_refuses_bad_input_before_work(toy, results_root, capsys):
    assert cli.main(["run", "toy", "--preset", "smoke", "-p", "step=3"]) == 2
    assert "Did you mean 'steps'" in capsys.readouterr().err
    assert cli.main(["run", "toy", "--preset", "smoke", "-p", "steps=-1"]) == 2
    assert cli.main(["run", "nope", "--preset", "smoke"]) == 2
    assert cli.main(["run", "toy", "--preset", "smoke", "--jobs", "0"]) == 2
    assert not (results_root / "smoke" / "toy").exists(), "nothing ran"
    with pytest.raises(SystemExit):
        cli.main(["run", "--preset", "huge"])


def test_cli_run_list_and_report(toy, results_root, capsys):
    assert cli.main(["run", "toy", "--preset", "smoke", "-p", "steps=2"]) == 0
    assert cli.main(["list", "--preset", "smoke"]) == 0
    assert "toy" in capsys.readouterr().out
    assert cli.main(["report", "--preset", "smoke"]) == 0
    assert (results_root / "smoke" / "REPORT.md").exists()
