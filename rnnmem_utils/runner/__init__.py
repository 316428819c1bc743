"""Run notebooks headlessly: plan (:mod:`.plan`), execute (:mod:`.execute`).

:func:`run_many` plans the runs (configurations resolved, data verified,
dependencies ordered, up-to-date results skipped) and hands each
:class:`~.plan.Run` -- plain data -- to an *executor*. An executor has three
methods, ``submit(run) -> concurrent.futures.Future[Outcome]``, ``interrupt()``
and ``shutdown()``; :class:`LocalExecutor` runs each in a worker process on
this machine, ``jobs`` at a time; :class:`~.dask.DaskExecutor`
(``scheduler=ADDRESS``) runs each as a task on a Dask cluster. Ctrl-C (SIGINT)
or SIGTERM stops every worker and its kernel within seconds, says what was
stopped, publishes nothing and makes the command exit 130. While notebooks
run, a line every :data:`HEARTBEAT_S` says which are running and how far the
store's units being computed have got (a model's epoch and batch), so an
hours-long headless run is never silent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .execute import (
    Interrupted,
    Outcome,
    RunError,
    machine,
    publish,
    unfinished_runs,
    versions,
)
from .plan import (
    NOTEBOOK_DIR,
    Run,
    Task,
    code_digest,
    is_complete,
    notebook_digest,
    plan,
    published,
    read_record,
    status,
    status_of,
    variant_name,
)

HEARTBEAT_S = 600.0  # seconds between progress lines while notebooks run

__all__ = [
    "HEARTBEAT_S",
    "NOTEBOOK_DIR",
    "Interrupted",
    "LocalExecutor",
    "Outcome",
    "Run",
    "RunError",
    "Task",
    "code_digest",
    "is_complete",
    "machine",
    "notebook_digest",
    "plan",
    "publish",
    "published",
    "read_record",
    "run_many",
    "run_one",
    "status",
    "status_of",
    "unfinished_runs",
    "variant_name",
    "versions",
]


class LocalExecutor:
    """Run each :class:`Run` in a worker process (its own session), ``jobs`` at
    a time. A worker that dies loses only its run."""

    def __init__(self, jobs: int = 1, *, progress_bar: bool = False):
        self.jobs = max(1, jobs)
        self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.progress_bar = progress_bar

    def submit(self, run: Run) -> Future:
        return self._pool.submit(self._work, run)

    def _work(self, run: Run) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="rnnmem-run-") as tmp:
            run_file, outcome_file = Path(tmp, "run.json"), Path(tmp, "outcome.json")
            run_file.write_text(run.to_json())
            with self._lock:
                if self._stopping:
                    return Outcome(run.experiment, "interrupted", 0.0, "not started")
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "rnnmem_utils.runner.worker",
                        str(run_file),
                        str(outcome_file),
                    ],  # fmt: skip
                    start_new_session=True,  # Ctrl-C reaches it through interrupt()
                    env={**os.environ, **run.env},
                )
                self._procs[proc.pid] = proc
            try:
                code = proc.wait()
            finally:
                with self._lock:
                    self._procs.pop(proc.pid, None)
            if outcome_file.exists():
                return Outcome(**json.loads(outcome_file.read_text()))
            return Outcome(
                run.experiment,
                "failed",
                0.0,
                f"{run.label}: the worker process died (exit {code}); the previous "
                f"result is untouched: {run.target}",
            )

    def interrupt(self, grace_s: float = 20.0) -> list[int]:
        """Stop every running worker (SIGINT, then SIGKILL after ``grace_s``)."""
        with self._lock:
            self._stopping = True
            procs = list(self._procs.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        return [p.pid for p in procs]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def run_one(
    experiment: str,
    preset: str,
    overrides: dict | None = None,
    *,
    force: bool = False,
    results_root=None,
    store_root=None,
    notebook_dir=None,
    scheduler: str | None = None,
) -> Outcome:
    """Run one experiment (and nothing it needs), on the Dask cluster at
    ``scheduler`` if given; raise :class:`RunError` if it fails,
    :class:`Interrupted` if it is stopped."""
    outcomes = run_many(
        [experiment],
        preset,
        overrides,
        force=force,
        results_root=results_root,
        store_root=store_root,
        notebook_dir=notebook_dir,
        with_needs=False,
        log=lambda _: None,
        scheduler=scheduler,
    )
    outcome = outcomes[-1]
    if outcome.status == "failed":
        raise RunError(outcome.message)
    if outcome.status == "interrupted":
        raise Interrupted(outcome.message)
    return outcome


def run_many(
    experiments: Iterable[str],
    preset: str,
    overrides: dict | None = None,
    *,
    jobs: int = 1,
    force: bool = False,
    executor=None,
    results_root=None,
    store_root=None,
    notebook_dir=None,
    with_needs: bool = True,
    log: Callable[[str], None] = print,
    scheduler: str | None = None,
    heartbeat_s: float | None = None,
) -> list[Outcome]:
    """Plan ``experiments`` (and what they need) and execute what is not up to
    date, ``jobs`` at a time, dependencies first; with ``scheduler`` (a Dask
    scheduler's address) each as a task on that cluster, all at once. Every
    ``heartbeat_s`` (default :data:`HEARTBEAT_S`) without news, ``log`` gets a
    progress line (:func:`heartbeat`).

    A run whose dependency failed is not started. On Ctrl-C every worker is
    stopped and :class:`Interrupted` is raised after the outcomes are logged.
    """
    names = list(dict.fromkeys(experiments))
    own = executor is None
    if own and scheduler:  # connect first: an address that does not answer is
        from .dask import DaskExecutor  # refused before any planning work

        executor = DaskExecutor(scheduler, log=log)
    try:
        tasks = plan(
            names,
            preset,
            overrides,
            force=force,
            results_root=results_root,
            store_root=store_root,
            notebook_dir=notebook_dir,
            with_needs=with_needs,
        )
        if scheduler:  # the scheduler places the tasks; workers have their cores
            jobs = len(tasks)
        elif jobs > 1:  # share the cores between the kernels, not oversubscribe
            threads = str(max(1, (os.cpu_count() or 1) // jobs))
            env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            tasks = [Task(_with_env(t.run, env), t.state, t.reason) for t in tasks]
        executor = executor or LocalExecutor(jobs, progress_bar=jobs == 1)
        beat = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        return _schedule(tasks, executor, max(1, jobs), log, beat)
    finally:
        if own and executor is not None:
            executor.shutdown()


def _with_env(run: Run, env: dict) -> Run:
    from dataclasses import replace

    return replace(run, env={**run.env, **env})


def _schedule(
    tasks: list[Task], executor, jobs: int, log, heartbeat_s: float = HEARTBEAT_S
) -> list[Outcome]:
    t0 = time.perf_counter()
    outcomes: dict[str, Outcome] = {}
    for t in tasks:
        if t.state == "up to date":
            outcomes[t.run.experiment] = Outcome(
                t.run.experiment, "skipped", 0.0, "up to date", str(t.run.target)
            )
            log(f"[{_clock(t0)}] skip   {t.run.label}: up to date")
    pending = [t for t in tasks if t.state != "up to date"]
    planned = {t.run.experiment for t in tasks}
    running: dict[Future, Task] = {}
    try:
        while pending or running:
            for t in list(pending):
                blocked = [
                    d for d in t.run.needs
                    if d in outcomes and outcomes[d].status not in ("ran", "skipped")
                ]  # fmt: skip
                if blocked:
                    pending.remove(t)
                    outcomes[t.run.experiment] = Outcome(
                        t.run.experiment,
                        "failed",
                        0.0,
                        f"{t.run.label} not started: it needs {', '.join(blocked)}, "
                        "which did not complete",
                    )
                    continue
                # a dependency outside this plan is read as published
                waiting = [d for d in t.run.needs if d in planned and d not in outcomes]
                if waiting or len(running) >= jobs:
                    continue
                pending.remove(t)
                log(f"[{_clock(t0)}] start  {t.run.label}: {t.reason}")
                running[executor.submit(t.run)] = t
            if not running:
                if pending:  # cannot happen: plan() orders dependencies first
                    raise RuntimeError(
                        f"unschedulable: {[t.run.label for t in pending]}"
                    )
                continue
            done, _ = wait(running, timeout=heartbeat_s, return_when=FIRST_COMPLETED)
            if not done:
                labels = [t.run.label for t in running.values()]
                log(f"[{_clock(t0)}] {heartbeat(labels, tasks[0].run.store_root)}")
            for fut in done:
                t = running.pop(fut)
                outcome = fut.result()
                outcomes[t.run.experiment] = outcome
                took = (
                    f" in {outcome.elapsed_s / 60:.1f} min"
                    if outcome.status == "ran"
                    else ""
                )
                note = f": {outcome.message}" if outcome.message else ""
                log(f"[{_clock(t0)}] {outcome.status:<6} {t.run.label}{took}{note}")
    except KeyboardInterrupt:
        stopped = [t.run.label for t in running.values()]
        log(f"[{_clock(t0)}] interrupt: stopping {', '.join(stopped) or 'nothing'}")
        executor.interrupt()
        for fut, t in running.items():
            with contextlib.suppress(Exception):
                outcomes[t.run.experiment] = fut.result(timeout=30)
        raise Interrupted(
            "interrupted: stopped "
            + (", ".join(stopped) or "before any notebook started")
            + "; their kernels were shut down and nothing was marked complete; a "
            "rerun resumes from the units and checkpoints they stored"
        ) from None
    return [outcomes[t.run.experiment] for t in tasks if t.run.experiment in outcomes]


def heartbeat(labels: list[str], store_root) -> str:
    """One progress line: the notebooks running, and each unit of the store
    that a process is computing now, with its checkpoint's counters."""
    from .. import store

    try:
        units = [u for u in store.Store(store_root).unfinished() if u["running"]]
    except OSError as e:  # a store on a file system that went away
        units, note = [], f"; the store cannot be read ({e})"
    else:
        note = ""
    parts = []
    for u in units:
        counters = store.progress_text(u)
        age = _ago(u["updated"] if counters else u.get("started") or u["updated"])
        state = f"at {counters} (saved {age} ago)" if counters else f"begun {age} ago"
        parts.append(f"{u['name']} {u['key'][:8]} {state}")
    computing = f"; computing {'; '.join(parts)}" if parts else ""
    return f"running {', '.join(labels)}{computing}{note}"


def _ago(iso: str | None) -> str:
    """How long ago an ISO time was, in words ("12 min", "2.5 h")."""
    from datetime import UTC, datetime

    if not iso:
        return "some time"
    s = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    return f"{max(s, 0) / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _clock(t0: float) -> str:
    s = int(time.perf_counter() - t0)
    return f"{s // 60:02d}:{s % 60:02d}"
