"""The runner: publish by swap, variants, locks, interrupts, the store behind runs.

Each test below started as an observation of a new user (issue 8) that failed
on the first runner; they run the toy notebook (tests/fixtures) for real, with
papermill, in worker processes.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import nbformat
import pytest
from conftest import FIXTURES, wait_for

from rnnmem_utils import cli, config, io, runner

pytestmark = pytest.mark.slow
TOY_CLI = [sys.executable, str(FIXTURES / "toy_cli.py")]


def tree_digest(path: Path) -> str:
    """A digest of every file (name and bytes) under ``path``."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


def computed(store: Path) -> list[str]:
    log = store / "computed.log"
    return log.read_text().split() if log.exists() else []


def spawn(args, results_root, **kw):
    env = {**os.environ, "RNNMEM_RESULTS_DIR": str(results_root)}
    return subprocess.Popen(
        TOY_CLI + args,
        env=env,
        start_new_session=True,  # a process group of its own, like a terminal job
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_run_skip_rerun_and_variants(toy, results_root, capsys):
    own = results_root / "smoke" / "toy"
    assert runner.run_one("toy", "smoke").status == "ran"
    for name in ("claims.json", "claims.csv", "results.csv", "run.json", "toy.ipynb"):
        assert (own / name).exists(), name
    record = io.read_json(own / "run.json")
    assert record["variant"] == "" and record["machine"]["isa"]
    executed = (own / "toy.ipynb").read_text()
    assert ".staging" not in executed, "the notebook names where its results are"
    (injected,) = ["".join(c["source"]) for c in json.loads(executed)["cells"]
                   if "injected-parameters" in c["metadata"].get("tags", [])]  # fmt: skip
    assert f"out_dir = {json.dumps(str(own))}" in injected
    assert (
        record["versions"]["torch"].startswith("2.13.0") and len(record["units"]) == 4
    )
    assert runner.status("toy", "smoke") == "complete"
    assert runner.run_one("toy", "smoke").status == "skipped"
    before = tree_digest(own)
    # how it runs is not a variant: the preset's own result, up to date
    assert runner.run_one("toy", "smoke", {"jobs": 2}).status == "skipped"
    assert runner.status("toy", "smoke", {"jobs": 2}) == "complete"
    # observation 2: a run with overrides publishes beside the preset's own
    assert runner.run_one("toy", "smoke", {"seed": 1}).status == "ran"
    assert tree_digest(own) == before
    variant = results_root / "smoke" / "toy@seed=1"
    assert io.read_json(variant / "run.json")["overrides"] == {"seed": 1}
    assert runner.status("toy", "smoke", {"seed": 1}) == "complete"
    (own / "toy.ipynb").unlink()  # a fresh clone: results committed, not executed
    assert runner.status("toy", "smoke") == "committed"
    (task,) = runner.plan(["toy"], "smoke")
    assert task.reason == "committed without its executed notebook"
    assert runner.status("toy", "smoke", {"seed": 2}) == "not run"
    assert cli.main(["list", "--preset", "smoke"]) == 0
    listed = capsys.readouterr().out
    assert "committed " in listed and "A run executes it again" in listed
    record["fingerprint"] = "another code or parameters"
    io.write_json(own / "run.json", record)
    assert runner.status("toy", "smoke") == "committed, stale"
    (own / "claims.json").unlink()
    assert runner.status("toy", "smoke") == "incomplete"
    assert runner.run_one("toy", "smoke").status == "ran", "a run executes it again"
    assert runner.status("toy", "smoke") == "complete"
    assert not list(results_root.rglob(f"*{io.TMP_MARK}*"))
    assert not list(own.rglob("*.lock")), "lock files are not results"


def test_a_failed_run_keeps_the_last_good_result(
    toy, results_root, monkeypatch, capsys
):
    """Observation 1, and 11's stale .failed files."""
    own = results_root / "smoke" / "toy"
    runner.run_one("toy", "smoke")
    before = tree_digest(own)
    broken = str(FIXTURES / "broken" / "toy.ipynb")
    import dataclasses

    with monkeypatch.context() as m:
        m.setitem(
            config.EXPERIMENTS,
            "toy",
            dataclasses.replace(config.EXPERIMENTS["toy"], notebook=broken),
        )
        with pytest.raises(runner.RunError, match="fails on purpose") as err:
            runner.run_one("toy", "smoke", force=True)
        assert "untouched" in str(err.value)
        assert tree_digest(own) == before, "the published result is byte-identical"
        failed = results_root / "smoke" / ".failed" / "toy"
        assert "fails on purpose" in (failed / "FAILED.txt").read_text()
        assert runner.status("toy", "smoke") == "stale"  # the notebook changed
    assert cli.main(["list", "--preset", "smoke"]) == 0
    assert "last attempt failed: toy: RuntimeError" in capsys.readouterr().out
    assert runner.run_one("toy", "smoke", force=True).status == "ran"
    assert not failed.exists(), "a successful run clears the failure it supersedes"


def test_whole_message_reaches_the_terminal(toy, results_root):
    """Observation 9: the advice on the lines before the last one is kept."""
    proc = spawn(["run", "toy", "--preset", "smoke", "-p", "fail_at=0"], results_root)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "fails at unit 0 on purpose" in err
    assert "Advice on a line of its own" in err
    assert "FAILED.txt" in err
    assert "IPKernelApp" not in err, "the kernel's own log stays quiet"


def test_store_units_are_shared_and_keyed_by_what_they_read(
    toy, results_root, tmp_path
):
    store = tmp_path / "store"
    runner.run_one("toy", "smoke")
    assert sorted(computed(store)) == ["0", "1", "2", "3"]
    # another notebook needing the same units reuses them
    config.EXPERIMENTS["toy2"] = config.Experiment(
        "toy2", config.EXPERIMENTS["toy"].notebook, toy.ToyConfig, "Toy 2"
    )
    __import__("rnnmem_utils.presets").presets.PRESETS["toy2"] = dict(
        __import__("rnnmem_utils.presets").presets.PRESETS["toy"]
    )
    runner.run_one("toy2", "smoke")
    # a field the units do not read (delay) does not recompute them either
    runner.run_one("toy", "smoke", {"delay": 0.01})
    assert sorted(computed(store)) == ["0", "1", "2", "3"], "reused, not recomputed"
    runner.run_one("toy", "smoke", {"seed": 2})  # a field they read: recomputed
    assert len(computed(store)) == 8


def test_prose_edit_keeps_results_code_edit_makes_them_stale(
    toy, results_root, tmp_path
):
    nb_dir = tmp_path / "nb"
    nb_dir.mkdir()
    nb_path = nb_dir / "toy.ipynb"
    nb_path.write_bytes((FIXTURES / "toy.ipynb").read_bytes())
    config.EXPERIMENTS["toy"] = config.Experiment(
        "toy", str(nb_path), toy.ToyConfig, "Toy experiment"
    )
    import shutil

    shutil.copy(FIXTURES / "toy_experiment.py", nb_dir)
    runner.run_one("toy", "smoke")
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\n\nA better explanation of the toy."
    nbformat.write(nb, nb_path)
    assert runner.status("toy", "smoke") == "complete", "prose is not a result"
    nb.cells[-1].source += "\nprint('one more line of code')"
    nbformat.write(nb, nb_path)
    assert runner.status("toy", "smoke") == "stale", "a code cell is"
    runner.run_one("toy", "smoke")
    assert len(computed(tmp_path / "store")) == 4, "the units were not retrained"


def test_killed_rerun_leaves_the_result_and_the_next_run_resumes(
    toy, results_root, tmp_path
):
    """Observation 6 and the resume: kill -9 of a rerun mid-way."""
    store = tmp_path / "store"
    own = results_root / "smoke" / "toy"
    args = ["run", "toy", "--preset", "smoke", "-p", "steps=6", "-p", "delay=0.7"]
    assert subprocess.run(TOY_CLI + args[:4], env=os.environ).returncode == 0
    published = results_root / "smoke" / "toy"
    before = tree_digest(published)
    proc = spawn(args + ["-p", "seed=3"], results_root)
    assert wait_for(lambda: len(computed(store)) >= 6)  # two units of the rerun
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tree_digest(own) == before
    variant = results_root / "smoke" / "toy@delay=0.7,seed=3,steps=6"
    assert not variant.exists(), "nothing of the killed run is published"
    proc = spawn(args + ["-p", "seed=3", "-p", "delay=0.0"], results_root)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    rerun = computed(store)[4:]
    assert sorted(set(rerun)) == [str(i) for i in range(6)]
    assert len(rerun) <= 7, "finished units are not recomputed (one may be in flight)"


def test_ctrl_c_stops_the_kernel_and_marks_nothing_complete(
    toy, results_root, tmp_path
):
    """Observation 4: SIGINT to the runner's process group."""
    store = tmp_path / "store"
    args = ["run", "toy", "--preset", "smoke", "-p", "steps=30", "-p", "delay=1.0"]
    proc = spawn(args, results_root)
    assert wait_for(lambda: len(computed(store)) >= 1)
    kernel = int((store / "kernel.pid").read_text())
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.time() - t0 < 10, "stopped within seconds"
    assert "interrupted" in err and "nothing was marked complete" in err
    assert "a rerun resumes from the units and checkpoints they stored" in err
    assert "Traceback" not in err and "IPKernelApp" not in err, err
    assert wait_for(lambda: not _alive(kernel), timeout=10), "the kernel is stopped"
    name = "toy@delay=1.0,steps=30"
    assert not (results_root / "smoke" / name).exists()
    assert (
        "interrupted"
        in (results_root / "smoke" / ".failed" / name / "FAILED.txt").read_text()
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_a_second_run_of_the_same_target_is_refused(toy, results_root, tmp_path):
    """Observation 5: one lock per published result, naming its holder."""
    store = tmp_path / "store"
    args = ["run", "toy", "--preset", "smoke", "-p", "steps=4", "-p", "delay=1.0"]
    first = spawn(args, results_root)
    assert wait_for(lambda: len(computed(store)) >= 1)
    second = spawn(args, results_root)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and "already being run by pid" in err
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert runner.status("toy", "smoke", {"steps": 4, "delay": 1.0}) == "complete"


def test_list_and_run_survive_malformed_records(toy, results_root, capsys):
    """Observation 11: truncated run.json, an override no longer valid."""
    runner.run_one("toy", "smoke")
    runner.run_one("toy", "smoke", {"seed": 1})
    own = results_root / "smoke" / "toy"
    (own / "run.json").write_text('{"experiment": "to')
    record = io.read_json(results_root / "smoke" / "toy@seed=1" / "run.json")
    record["overrides"] = {"no_such_field": 1}
    io.write_json(results_root / "smoke" / "toy@seed=1" / "run.json", record)
    (results_root / "smoke" / "lessons").mkdir()  # the report's, not a result
    assert cli.main(["list", "--preset", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "unreadable" in out and "toy@seed=1" in out and "lessons" not in out
    assert runner.run_one("toy", "smoke").status == "ran", "reruns what it cannot read"


def test_dependencies_run_first_and_make_dependents_stale(toy, results_root):
    config.EXPERIMENTS["toy2"] = config.Experiment(
        "toy2", config.EXPERIMENTS["toy"].notebook, toy.ToyConfig, "Toy 2", ("toy",)
    )
    presets = __import__("rnnmem_utils.presets").presets.PRESETS
    presets["toy2"] = dict(presets["toy"])
    log = []
    outcomes = runner.run_many(["toy2"], "smoke", jobs=2, log=log.append)
    assert [o.experiment for o in outcomes] == ["toy", "toy2"]
    assert all(o.status == "ran" for o in outcomes)
    record = io.read_json(results_root / "smoke" / "toy2" / "run.json")
    # relative to the results root: a record reads the same on another machine
    assert record["needs"] == {"toy": "smoke/toy"}
    assert runner.status("toy2", "smoke") == "complete"
    runner.run_one("toy", "smoke", force=True)
    # toy's fingerprint is unchanged by a forced rerun of the same code and data
    assert runner.status("toy2", "smoke") == "complete"


def test_papermill_run_directly_refuses_unknown_parameters(toy, tmp_path):
    """Observation 10."""
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError, match="unknown notebook param"):
        pm.execute_notebook(
            str(FIXTURES / "toy.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"presett": "smoke", "out_dir": str(tmp_path / "o")},
            cwd=str(FIXTURES),
            kernel_name="python3",
            progress_bar=False,
        )
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(pm.PapermillExecutionError, match="not a directory"):
        pm.execute_notebook(
            str(FIXTURES / "toy.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"out_dir": str(not_a_dir)},
            cwd=str(FIXTURES),
            kernel_name="python3",
            progress_bar=False,
        )


def test_cli_refuses_bad_input_before_work(toy, results_root, capsys):
    assert cli.main(["run", "toy", "--preset", "smoke", "-p", "step=3"]) == 2
    assert "Did you mean 'steps'" in capsys.readouterr().err
    assert cli.main(["run", "toy", "--preset", "smoke", "-p", "steps=-1"]) == 2
    assert cli.main(["run", "nope", "--preset", "smoke"]) == 2
    assert cli.main(["run", "toy", "--preset", "smoke", "--jobs", "0"]) == 2
    assert not (results_root / "smoke").exists(), "nothing ran"
    with pytest.raises(SystemExit):
        cli.main(["run", "--preset", "huge"])


def test_store_list_and_prune(toy, results_root, tmp_path, capsys):
    runner.run_one("toy", "smoke")
    runner.run_one("toy", "smoke", {"seed": 4})
    import shutil

    shutil.rmtree(results_root / "smoke" / "toy@seed=4")  # nobody uses seed 4 now
    assert cli.main(["store", "list"]) == 0
    out = capsys.readouterr().out
    assert "8 entries" in out and "used by: smoke/toy" in out
    assert "seed=0, i=0" in out
    assert cli.main(["store", "prune"]) == 0
    assert "removed 4 entries" in capsys.readouterr().out
    assert runner.run_one("toy", "smoke", force=True).status == "ran"
    assert len(computed(tmp_path / "store")) == 8, "kept units were reused"


def test_run_is_plain_data():
    import pickle

    run = runner.Run("a", "smoke", {"x": [1]}, "/r", "/s", "/d", "/n.ipynb", "f")
    assert pickle.loads(pickle.dumps(run)) == run
    assert runner.Run.from_json(run.to_json()) == run
    assert run.target == Path("/r/smoke/a@x=1")
    assert json.loads(run.to_json())["store_root"] == "/s"


def test_a_plan_reads_each_notebook_once(toy, monkeypatch):
    """Both digests of a run (its code closure and its notebook's code cells)
    come from one reading of the notebook."""
    reads = []
    real = nbformat.read
    monkeypatch.setattr(
        nbformat, "read", lambda *a, **k: reads.append(str(a[0])) or real(*a, **k)
    )
    tasks = runner.plan(["toy"], "smoke")
    assert [t.run.experiment for t in tasks] == ["toy"]
    assert reads == [tasks[0].run.notebook], "read once"


def test_prune_keeps_the_units_of_unfinished_and_failed_runs(toy, results_root, capsys):
    import shutil

    runner.run_one("toy", "smoke", {"seed": 4})
    runner.run_one("toy", "smoke", {"seed": 5})
    hidden = results_root / "smoke" / ".staging"
    hidden.mkdir(parents=True, exist_ok=True)
    # a run killed before it published: its staging directory keeps its list
    (results_root / "smoke" / "toy@seed=4").rename(hidden / "toy@seed=4")
    (hidden / "toy@seed=4" / "run.json").unlink()
    failed = results_root / "smoke" / ".failed"  # and a run that failed
    failed.mkdir()
    (results_root / "smoke" / "toy@seed=5").rename(failed / "toy@seed=5")
    (failed / "toy@seed=5" / "run.json").unlink()
    assert cli.main(["store", "list"]) == 0
    out = capsys.readouterr().out
    assert "used by: smoke/toy@seed=4 (unfinished)" in out
    assert "used by: smoke/toy@seed=5 (failed)" in out
    assert cli.main(["store", "prune"]) == 0
    assert "removed 0 entries and 0 unfinished units" in capsys.readouterr().out
    shutil.rmtree(results_root / "smoke")  # no run left that uses them
    assert cli.main(["store", "prune"]) == 0
    assert "removed 8 entries" in capsys.readouterr().out


def test_a_long_run_reports_its_progress(toy, results_root, tmp_path):
    """Between a notebook's start and end, a line every heartbeat names it
    and the store unit being computed with its checkpoint's counters."""
    import torch

    from rnnmem_utils import store

    st = store.Store(tmp_path / "beat-store")
    key = st.key("zoo/model", None)
    (task,) = runner.plan(["toy"], "smoke", store_root=str(st.root))
    lines = []

    class Slow:  # an executor whose one run trains a model for a while
        def submit(self, run):
            fut = Future()

            def work():
                def train():
                    st.save_checkpoint(
                        key, {"w": torch.ones(1), "epoch": 2, "batch": 50}
                    )
                    time.sleep(1.0)
                    return {"w": torch.ones(1)}

                st.stage(key, train)
                fut.set_result(runner.Outcome(run.experiment, "ran", 1.0, "", ""))

            threading.Thread(target=work).start()
            return fut

    runner._schedule([task], Slow(), 1, lines.append, heartbeat_s=0.3)
    beats = [line for line in lines if "] running toy (smoke)" in line]
    assert beats, lines
    assert any("zoo/model" in b and "at epoch 2, batch 50 (saved 0 min ago)" in b
               for b in beats), beats  # fmt: skip
    assert lines[-1].split("] ")[1].startswith("ran"), "the heartbeat stops at the end"


def test_list_shows_runs_running_now_and_runs_stopped_unfinished(
    toy, results_root, capsys
):
    import fcntl

    preset = results_root / "smoke"
    (preset / ".staging" / "toy@seed=9").mkdir(parents=True)
    (preset / ".locks").mkdir()
    lock = preset / ".locks" / "toy@seed=9.lock"
    with open(lock, "a+") as f:  # the run's worker holds its result lock
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("pid 4242 on here since 2026-12-01T07:00:00+00:00")
        f.flush()
        assert cli.main(["list", "--preset", "smoke"]) == 0
        assert "running now: toy@seed=9 (pid 4242 on here" in capsys.readouterr().out
    # the worker is gone (killed), its staging directory left behind
    assert cli.main(["list", "--preset", "smoke"]) == 0
    assert "stopped unfinished: toy@seed=9 (a rerun resumes" in capsys.readouterr().out
