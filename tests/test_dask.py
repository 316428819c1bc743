"""Notebooks and their units on a Dask cluster (rnnmem run --scheduler ADDRESS).

A real cluster: a scheduler and two single-thread worker processes (with their
nannies) on the loopback interface, shared by the tests of this module; the
toy notebook (tests/fixtures) runs on it with papermill as it does locally.
"""

import dataclasses
import operator
import os
import socket
import threading
import time

import pytest
from conftest import FIXTURES, wait_for

from rnnmem_utils import cli, config, io, runner
from rnnmem_utils.runner import jobqueue, units

distributed = pytest.importorskip("distributed")


def computed(store) -> list[str]:
    log = store / "computed.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture(scope="module")
def cluster():
    import logging

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as c,
        distributed.Client(c) as client,
    ):
        c.client = client
        yield c


def _add_toy2(toy):
    config.EXPERIMENTS["toy2"] = config.Experiment(
        "toy2", config.EXPERIMENTS["toy"].notebook, toy.ToyConfig, "Toy 2"
    )
    presets = __import__("rnnmem_utils.presets").presets.PRESETS
    presets["toy2"] = dict(presets["toy"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_address_that_does_not_answer_is_refused_fast(toy, results_root, capsys):
    t0 = time.perf_counter()
    address = f"tcp://127.0.0.1:{_free_port()}"
    code = cli.main(["run", "toy", "--preset", "smoke", "--scheduler", address])
    assert code == 2 and time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert f"no Dask scheduler answers at '{address}'" in err
    assert "--scheduler tcp://HOST:8786" in err, "it says what to do"
    assert not (results_root / "smoke").exists(), "nothing ran"


def test_jobqueue_script_for_a_preset_without_submitting(capsys):
    script = jobqueue.job_script("slurm", "paper", "tcp://login1:8786")
    for line in ("#SBATCH -t 24:00:00", "#SBATCH --gres=gpu:1",
                 "#SBATCH --cpus-per-task=8", "export RNNMEM_STORE=",
                 "dask_worker tcp://login1:8786", "--resources GPU=1",
                 "--nthreads 1", "--name rnnmem-${SLURM_JOB_ID}"):  # fmt: skip
        assert line in script, line
    assert cli.main(["cluster", "script", "--system", "pbs", "--preset", "default",
                     "--queue", "short", "--cores", "4"]) == 0  # fmt: skip
    pbs = capsys.readouterr().out
    assert "#PBS -l select=1:ncpus=4:mem=8GB" in pbs and "#PBS -q short" in pbs
    assert "GPU" not in pbs and "OMP_NUM_THREADS=4" in pbs
    with pytest.raises(config.ConfigError, match="choose one of slurm, pbs"):
        jobqueue.job_script("lsf", "paper", "tcp://x:1")
    # the cluster object itself: its scheduler runs here, no job is submitted
    c = jobqueue.cluster("slurm", "paper", queue="gpu")
    try:
        assert "#SBATCH -p gpu" in c.job_script() and c.scheduler_address in (
            c.job_script()
        )
        assert not c.workers, "nothing submitted"
    finally:
        c.close()


def test_gpu_runs_are_declared_by_the_registry(toy):
    from rnnmem_utils.runner.dask import registry_needs_gpu

    run = runner.Run("toy", "paper", {}, "/r", "/s", "/d", "/n.ipynb", "f")
    assert not registry_needs_gpu(run)
    config.EXPERIMENTS["toy"] = dataclasses.replace(
        config.EXPERIMENTS["toy"], gpu=("paper",)
    )
    assert registry_needs_gpu(run)
    assert not registry_needs_gpu(dataclasses.replace(run, preset="smoke"))


@pytest.mark.slow
def test_a_gpu_run_waits_for_a_gpu_worker_and_ctrl_c_cancels_it(cluster, tmp_path):
    from rnnmem_utils.runner.dask import DaskExecutor

    log = []
    ex = DaskExecutor(
        cluster.scheduler_address, gpu=lambda run: True, log=log.append,
        progress_every_s=0.2,
    )  # fmt: skip
    try:
        run = runner.Run("toy", "paper", {}, str(tmp_path), str(tmp_path),
                         str(tmp_path), "/no/such.ipynb", "f")  # fmt: skip
        future = ex.submit(run)
        key = next(iter(ex._tasks))

        def restrictions(dask_scheduler, key=key):
            ts = dask_scheduler.tasks.get(key)
            return ts and (ts.resource_restrictions, ts.state)

        assert wait_for(lambda: cluster.client.run_on_scheduler(restrictions)
                        == ({"GPU": 1}, "no-worker"), timeout=20)  # fmt: skip
        assert ex.progress() == {"done": 0, "failed": 0, "running": 0, "waiting": 1}
        assert wait_for(lambda: any("1 waiting" in line for line in log), 10)
        assert ex.interrupt() == [run.label]
        assert future.result(timeout=10).status == "interrupted"
    finally:
        ex.shutdown()
    assert "0 with a GPU" in log[0] and "dashboard http" in log[0]


def test_map_units_locally_serial_and_in_a_pool(tmp_path, monkeypatch):
    monkeypatch.delenv(units.SCHEDULER_ENV, raising=False)
    assert units.map_units(operator.neg, [1, 2, 3]) == [-1, -2, -3]
    out = units.map_units(abs, [-4, 5], jobs=2, out_dir=tmp_path, label=str)
    assert out == [4, 5]
    where = io.read_json(tmp_path / units.WHERE)
    assert [w["unit"] for w in where] == ["-4", "5"]
    assert all(w["host"] == socket.gethostname() for w in where)


def _unit_threads(_item) -> tuple:
    """What a unit process runs with (module level: a spawned child imports it)."""
    import multiprocessing as mp

    import torch

    return os.getenv("OMP_NUM_THREADS"), torch.get_num_threads(), mp.get_start_method()


def test_local_unit_processes_are_spawned_and_single_threaded(monkeypatch):
    """A fork of a process holding torch's thread pool can hang, and jobs
    processes of all the threads would fight over the cores."""
    monkeypatch.delenv(units.SCHEDULER_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    out = units.map_units(_unit_threads, [0, 1], jobs=2)
    assert out == [("1", 1, "spawn")] * 2
    assert "OMP_NUM_THREADS" not in os.environ, "the parent's environment restored"


@pytest.mark.slow
def test_map_units_on_the_cluster(cluster, tmp_path, monkeypatch):
    workers = set(cluster.scheduler_info["workers"])
    # from a notebook's kernel: the scheduler address the run passed to it
    monkeypatch.setenv(units.SCHEDULER_ENV, cluster.scheduler_address)
    out = units.map_units(operator.neg, range(4), out_dir=tmp_path, label=str)
    assert out == [0, -1, -2, -3]
    assert {w["worker"] for w in io.read_json(tmp_path / units.WHERE)} <= workers
    # inside a Dask task: the worker's client; the task's thread is lent to them
    task = cluster.client.submit(units.map_units, operator.neg, [5, 6], pure=False)
    assert task.result(timeout=60) == [-5, -6]


@pytest.mark.slow
def test_two_notebooks_on_the_cluster_equal_a_local_run_and_share_the_store(
    cluster, toy, results_root, tmp_path
):
    _add_toy2(toy)
    names = ["toy", "toy2"]
    local = tmp_path / "local"
    local_store = tmp_path / "local-store"
    runner.run_many(names, "smoke", results_root=local, store_root=local_store,
                    jobs=2, log=lambda _: None)  # fmt: skip
    log = []
    outcomes = runner.run_many(
        names, "smoke", scheduler=cluster.scheduler_address, log=log.append
    )
    assert [o.status for o in outcomes] == ["ran", "ran"], outcomes
    workers = set(cluster.scheduler_info["workers"])
    ran_on = set()
    for name in names:
        ours, theirs = results_root / "smoke" / name, local / "smoke" / name
        assert (ours / "results.csv").read_bytes() == (
            theirs / "results.csv"
        ).read_bytes()
        verdicts = [
            [(c["id"], c["verdict"]) for c in io.read_json(d / "claims.json")["claims"]]
            for d in (ours, theirs)
        ]
        assert verdicts[0] == verdicts[1]
        where = io.read_json(ours / "run.json")["where"]["notebook"]
        assert where["executor"] == "dask" and where["worker"] in workers
        ran_on.add(where["worker"])
    # both at once on two single-thread workers: each unit computed by one,
    # reused by the other through the shared store
    assert len(ran_on) == 2
    assert sorted(computed(tmp_path / "store")) == ["0", "1", "2", "3"]
    text = "\n".join(log)
    assert "dashboard http" in text and "2 workers" in text
    assert f"on {sorted(ran_on)[0]}" in text or f"on {sorted(ran_on)[1]}" in text
    assert not list(results_root.rglob(f"*{io.TMP_MARK}*"))
    again = runner.run_many(names, "smoke", scheduler=cluster.scheduler_address,
                            log=lambda _: None)  # fmt: skip
    assert [o.status for o in again] == ["skipped", "skipped"]


@pytest.mark.slow
def test_a_worker_killed_mid_task_loses_only_its_task(
    cluster, toy, results_root, tmp_path
):
    import psutil

    store = tmp_path / "store"
    overrides = {"steps": 6, "delay": 0.5}
    done = {}

    def run():
        done["outcomes"] = runner.run_many(
            ["toy"], "smoke", overrides, scheduler=cluster.scheduler_address,
            log=lambda _: None,
        )  # fmt: skip

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_for(lambda: len(computed(store)) >= 2)
    pids = cluster.client.run(os.getpid)  # worker address -> pid
    kernel = psutil.Process(int((store / "kernel.pid").read_text()))
    victim = next(p for p in kernel.parents() if p.pid in pids.values())
    killed = next(a for a, pid in pids.items() if pid == victim.pid)
    victim.kill()
    thread.join(timeout=150)
    assert not thread.is_alive()
    assert [o.status for o in done["outcomes"]] == ["ran"], done["outcomes"]
    target = results_root / "smoke" / "toy@delay=0.5,steps=6"
    assert runner.status("toy", "smoke", overrides) == "complete"
    record = io.read_json(target / "run.json")
    assert record["where"]["notebook"]["worker"] != killed
    assert len(io.read_json(target / "units.json")) == 6
    staging = results_root / "smoke" / ".staging"
    assert not (staging.exists() and any(staging.iterdir())), "nothing half-written"
    assert not (results_root / "smoke" / ".failed" / target.name).exists()
    rerun = computed(store)
    assert sorted(set(rerun)) == [str(i) for i in range(6)]
    assert len(rerun) <= 8, "the retry resumed from the units in the store"
    assert FIXTURES.exists()


@pytest.mark.slow
def test_the_latching_grid_as_units_on_the_cluster_equals_a_local_run(
    cluster, tmp_path, monkeypatch
):
    """E1's independent units (grid parts, each cell's search + tuned part)
    run as tasks on the cluster the run was launched on; the runs are the
    same numbers as one after the other in this process."""
    import rnnmem_utils as rm

    over = {"n_sequences": 40, "lengths": [4], "repeats": 2, "cells": ["rnn", "gru"]}
    cfg = rm.config.resolve("latching", "smoke", over)
    monkeypatch.delenv(units.SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("RNNMEM_STORE", str(tmp_path / "store_local"))
    here = rm.experiments.run("latching", cfg, tmp_path / "local", preset="smoke",
                              progress=False)  # fmt: skip
    monkeypatch.setenv(units.SCHEDULER_ENV, cluster.scheduler_address)
    monkeypatch.setenv("RNNMEM_STORE", str(tmp_path / "store_cluster"))
    there = rm.experiments.run("latching", cfg, tmp_path / "cluster", preset="smoke",
                               progress=False)  # fmt: skip
    cols = ["part", "cell", "seq_len", "repeat", "val_acc"]
    assert here.runs[cols].equals(there.runs[cols])
    places = io.read_json(tmp_path / "cluster" / units.WHERE)
    assert {p["worker"] for p in places} <= set(cluster.scheduler_info["workers"])
