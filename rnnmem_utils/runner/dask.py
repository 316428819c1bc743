"""Run notebooks on a Dask cluster: :class:`DaskExecutor`, the cluster's executor.

``rnnmem run ... --scheduler ADDRESS`` (``run_many(..., scheduler=ADDRESS)``)
hands each planned :class:`~.plan.Run` to the Dask scheduler at ``ADDRESS`` as
one task. The task runs on a worker that shares the file system with this
machine (the results directory and ``RNNMEM_STORE`` are shared paths): it
executes the run exactly as the local executor does -- in a process of its
own, with the result's lock, a staging directory, papermill, publish by swap,
``.failed/`` -- so results land in the same ``results/<preset>/`` layout.

- A task whose worker dies is rescheduled by Dask on another worker; the run
  process of the dead worker notices its parent is gone and stops (its kernel
  too, its partial output to ``.failed/``), and the retry waits for it to
  release the result's lock. An error in the infrastructure (the run process
  died without an outcome) is retried ``retries`` times; a notebook that fails
  is a result, not retried.
- A run that needs a GPU asks its worker for the Dask resource ``GPU=1``
  (workers started with ``--resources GPU=1``); which runs need one is the
  registry's ``Experiment.gpu`` (the presets at which the experiment needs a
  GPU), or ``DaskExecutor(gpu=...)``.
- Progress: a line whenever the counts of tasks done, running, waiting and
  failed change, and the dashboard's address when it connects.
- The run record says where the notebook ran (``where.notebook``: worker
  address, name, host) and where each of its units ran (``where.units``).
- An address that does not answer is refused within ``connect_timeout``
  seconds (:class:`SchedulerUnreachable`, a configuration error: exit 2).

``python -m rnnmem_utils.runner.dask RUN.json OUTCOME.json PARENT_PID`` is the
run process a task starts (the worker of :mod:`.worker`, plus a watch on its
parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from .. import config
from .execute import Outcome
from .plan import Run
from .units import SCHEDULER_ENV, WORKER_ENV

LOCK_WAIT_S = 60.0  # a previous attempt of the same task may still be stopping


class SchedulerUnreachable(config.ConfigError):
    """No Dask scheduler answers at the address given."""


class RunProcessDied(RuntimeError):
    """The run process ended without an outcome (killed, out of memory): the
    task raises it so that Dask retries the run."""


# ---------------------------------------------------------------------------
# The executor (in the process that plans)
# ---------------------------------------------------------------------------


class DaskExecutor:
    """``submit(run) -> concurrent.futures.Future[Outcome]``, ``interrupt()``,
    ``shutdown()`` on the Dask cluster whose scheduler is at ``address``."""

    def __init__(
        self,
        address: str,
        *,
        retries: int = 2,
        connect_timeout: float = 5.0,
        gpu: Callable[[Run], bool] | None = None,
        log: Callable[[str], None] = print,
        progress_every_s: float = 2.0,
    ):
        from distributed import Client

        probe(address, connect_timeout)
        self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        self.address = address
        self.retries = retries
        self.needs_gpu = gpu or registry_needs_gpu
        self.log = log
        self._stop = f"rnnmem-stop-{uuid.uuid4().hex}"  # a distributed.Event
        self._tasks: dict[str, tuple] = {}  # key -> (dask future, run)
        self._counts = {"done": 0, "failed": 0}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {}).values()
        gpus = sum(1 for w in workers if w.get("resources", {}).get("GPU"))
        log(
            f"Dask scheduler {address}: {len(workers)} workers, "
            f"{sum(w.get('nthreads', 0) for w in workers)} threads, "
            f"{gpus} with a GPU; dashboard {self.client.dashboard_link}"
        )
        self._reporter = threading.Thread(
            target=self._report, args=(progress_every_s,), daemon=True
        )
        self._reporter.start()

    def submit(self, run: Run) -> Future:
        key = f"rnnmem-{run.preset}-{run.dirname}-{uuid.uuid4().hex[:8]}"
        resources = {"GPU": 1} if self.needs_gpu(run) else None
        dfut = self.client.submit(
            run_task,
            run,
            self._stop,
            key=key,
            pure=False,
            retries=self.retries,
            resources=resources,
        )
        done: Future = Future()
        done.set_running_or_notify_cancel()
        with self._lock:
            self._tasks[key] = (dfut, run)
        dfut.add_done_callback(lambda f: self._resolve(done, run, f))
        return done

    def _resolve(self, done: Future, run: Run, dfut) -> None:
        try:
            outcome = dfut.result()
        except CancelledError:
            outcome = Outcome(
                run.experiment, "interrupted", 0.0, "cancelled before it started"
            )
        except Exception as e:  # noqa: BLE001 -- the task's error is the outcome
            outcome = Outcome(
                run.experiment,
                "failed",
                0.0,
                f"{run.label} failed on the cluster after {self.retries} retries: "
                f"{e}; the previous result (if any) is untouched: {run.target}",
            )
        with self._lock:
            self._tasks.pop(dfut.key, None)
            self._counts["failed" if outcome.status == "failed" else "done"] += 1
        done.set_result(outcome)

    def progress(self) -> dict:
        """Tasks done, running (on a worker), waiting and failed."""
        with self._lock:
            keys = set(self._tasks)
            counts = dict(self._counts)
        busy = set()
        with contextlib.suppress(Exception):  # the scheduler may be going away
            for held in self.client.processing().values():
                busy.update(held)
        running = len(keys & busy)
        return {**counts, "running": running, "waiting": len(keys) - running}

    def _report(self, every: float) -> None:
        last = None
        while not self._closing.wait(every):
            now = self.progress()
            if now != last and (now["running"] or now["waiting"]):
                self.log(
                    f"[dask] {now['done']} done, {now['running']} running, "
                    f"{now['waiting']} waiting, {now['failed']} failed; "
                    f"dashboard {self.client.dashboard_link}"
                )
            last = now

    def interrupt(self, grace_s: float = 20.0) -> list[str]:
        """Stop every run: cancel those not started; the running ones stop
        their kernels (SIGINT), publish nothing and report "interrupted"."""
        from distributed import Event

        with self._lock:
            tasks = list(self._tasks.values())
        Event(self._stop, client=self.client).set()
        waiting = [f for f, _ in tasks if f.key not in self._running_keys()]
        self.client.cancel(waiting)
        deadline = time.monotonic() + grace_s
        for f, _ in tasks:
            with contextlib.suppress(Exception):
                f.result(timeout=max(0.1, deadline - time.monotonic()))
        return [run.label for _, run in tasks]

    def _running_keys(self) -> set:
        busy = set()
        with contextlib.suppress(Exception):
            for held in self.client.processing().values():
                busy.update(held)
        return busy

    def shutdown(self) -> None:
        self._closing.set()
        self._reporter.join(timeout=5)
        self.client.close()


def probe(address: str, timeout: float = 5.0) -> None:
    """Refuse, within ``timeout`` seconds, an address where no Dask scheduler
    answers (a bare Client would retry, then hang on closing)."""
    from distributed.comm import connect

    async def identity():
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    try:  # in a thread of its own: the caller may be in an event loop (Jupyter)
        with ThreadPoolExecutor(max_workers=1) as pool:
            reply = pool.submit(
                asyncio.run, asyncio.wait_for(identity(), timeout)
            ).result()
    except Exception as e:  # noqa: BLE001 -- any failure means: not a scheduler
        why = str(e) or type(e).__name__
        reply = None
    else:
        why = f"it answered {str(reply)[:80]!r}"
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise SchedulerUnreachable(
            f"no Dask scheduler answers at {address!r} within {timeout:g} s ({why}).\n"
            "Start one (`dask scheduler`, or a cluster from `rnnmem cluster "
            "script`) and pass the address it prints, e.g. "
            "--scheduler tcp://HOST:8786; run without --scheduler to use this "
            "machine."
        )


def registry_needs_gpu(run: Run) -> bool:
    """The registry's flag: ``Experiment.gpu`` lists the presets at which the
    experiment needs a GPU (absent: never)."""
    exp = config.EXPERIMENTS.get(run.experiment)
    return run.preset in (getattr(exp, "gpu", ()) or ())


# ---------------------------------------------------------------------------
# The task (on a worker)
# ---------------------------------------------------------------------------


def run_task(run: Run, stop: str) -> Outcome:
    """Execute ``run`` in a run process on this worker; stop it when the event
    ``stop`` is set. Raise :class:`RunProcessDied` (Dask retries) when the
    process ends without an outcome."""
    from distributed import Event, get_worker

    worker = get_worker()
    place = {"worker": worker.address, "name": str(worker.name),
             "host": socket.gethostname()}  # fmt: skip
    run = replace(
        run,
        env={
            **run.env,
            WORKER_ENV: json.dumps(place),
            SCHEDULER_ENV: worker.scheduler.address,
        },  # fmt: skip
    )
    _wait_for_lock(run.lock, LOCK_WAIT_S)
    stop_event = Event(stop)
    with tempfile.TemporaryDirectory(prefix="rnnmem-task-") as tmp:
        run_file, outcome_file = Path(tmp, "run.json"), Path(tmp, "outcome.json")
        run_file.write_text(run.to_json())
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                __name__,
                str(run_file),
                str(outcome_file),
                str(os.getpid()),
            ],  # fmt: skip
            start_new_session=True,
            env={**os.environ, **run.env},
        )
        code = _wait(proc, stop_event)
        if outcome_file.exists():
            outcome = Outcome(**json.loads(outcome_file.read_text()))
            if outcome.status == "ran":
                outcome.message = f"on {place['worker']} ({place['host']})"
            return outcome
    raise RunProcessDied(
        f"{run.label}: its run process on {place['worker']} died (exit {code})"
    )


def _wait(proc: subprocess.Popen, stop_event, grace_s: float = 20.0) -> int:
    while True:
        try:
            return proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(Exception):  # a lost scheduler is not a stop
            if stop_event.is_set():
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def _wait_for_lock(path: Path, timeout: float) -> None:
    """Wait until nobody holds the result's lock (a previous attempt on a
    worker that died stops within seconds). After ``timeout`` go on: the run
    then refuses, naming the holder."""
    if not path.exists():
        return
    deadline = time.monotonic() + timeout
    with open(path, "a+") as f:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.5)
                continue
            fcntl.flock(f, fcntl.LOCK_UN)
            return


# ---------------------------------------------------------------------------
# The run process
# ---------------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    """Stop this run (SIGTERM: kernel stopped, nothing published) when the
    worker that started it is gone, so its retry elsewhere gets the lock."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    from . import worker

    run_file, outcome_file, parent = argv
    threading.Thread(target=_watch_parent, args=(int(parent),), daemon=True).start()
    return worker.main([run_file, outcome_file])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
