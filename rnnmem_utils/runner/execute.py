"""Execute one :class:`~rnnmem_utils.runner.plan.Run`: lock, stage, publish by swap.

1. Take the result's lock (``results/<preset>/.locks/<name>.lock``, an
   ``flock``): a second run of the same target is refused with a message
   naming the holder; the lock of a process that is gone is free again.
2. Execute the notebook with papermill into a fresh staging directory
   (``results/<preset>/.staging/<name>/``); expensive units come from and go to
   the store, so an interrupted run resumes from them.
3. Check that the notebook, its claims and figures are all there, write the
   run record (``run.json``: fingerprint, data hashes, store units, machine,
   library versions, timings), then publish: the staging directory replaces
   the published one in a single atomic exchange (``renameat2``).
4. A failure or an interrupt leaves the published result untouched; the
   partial output moves to ``results/<preset>/.failed/<name>/`` with
   ``FAILED.txt`` saying why. A later successful run removes it.

This module runs in the worker process (see :mod:`.worker`), never in the
process that plans, so an interrupt can stop a kernel without losing track.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import platform
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from .. import io
from .plan import CLAIMS, RECORD, Run, is_complete
from .units import where

_VERSIONS = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "matplotlib",
             "papermill", "nbclient", "ipykernel")  # fmt: skip


class RunError(RuntimeError):
    """A run that did not publish; the message says why and where to look."""


class Interrupted(RunError):
    """The run was stopped by SIGINT/SIGTERM; nothing was published."""


@dataclass
class Outcome:
    experiment: str
    status: str  # "ran" | "skipped" | "failed" | "interrupted"
    elapsed_s: float
    message: str = ""
    target: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


# ---------------------------------------------------------------------------
# Locks
# ---------------------------------------------------------------------------


def holder(lock: Path) -> str | None:
    """Who holds the result lock ``lock`` now (``"pid N on HOST since T"``),
    or None when it is free (its process gone, or no such lock)."""
    if not Path(lock).exists():
        return None
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_of(f)
        return None  # closing the file releases it


def _holder_of(f) -> str:
    """What the holder of a result lock wrote in it (see :func:`result_lock`)."""
    f.seek(0)
    return f.read().strip() or "another process"


def unfinished_runs(preset: str, results_root=None) -> list[tuple[str, str | None]]:
    """The runs of ``preset`` begun and not published (their staging
    directory is there), each with its lock's holder: running now, or None
    when it was stopped (killed, or the machine went down)."""
    root = Path(results_root or io.results_root()) / preset
    staging = root / ".staging"
    runs = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    return [(name, holder(root / ".locks" / f"{name}.lock")) for name in runs]


@contextlib.contextmanager
def result_lock(run: Run) -> Iterator[None]:
    """Hold the lock of ``run``'s published result, or refuse naming its holder."""
    run.lock.parent.mkdir(parents=True, exist_ok=True)
    f = open(run.lock, "a+")  # noqa: SIM115 -- held for the whole block
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"{run.label} is already being run by {_holder_of(f)}; wait for it to "
                f"finish or stop it (lock: {run.lock})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{datetime.now(UTC).isoformat(timespec='seconds')}"
        )
        f.flush()
        yield
    finally:
        f.close()  # releases the flock


# ---------------------------------------------------------------------------
# Execute and publish
# ---------------------------------------------------------------------------


def execute(run: Run, *, progress_bar: bool = False) -> Outcome:
    """Execute ``run`` in this process (see the module docstring)."""
    with result_lock(run):
        if not run.force and is_complete(run.target, run.fingerprint):
            return Outcome(
                run.experiment, "skipped", 0.0, "up to date", str(run.target)
            )
        _fresh_dir(run.staging)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        nb_name = Path(run.notebook).name
        try:
            _papermill(run, run.staging / nb_name, progress_bar)
            _check_complete(run, run.staging, nb_name)
            _as_published(run, run.staging / nb_name)
            _write_record(run, started, time.perf_counter() - t0, nb_name)
        except BaseException as e:  # noqa: BLE001 -- a failure never publishes
            interrupted = isinstance(e, KeyboardInterrupt | Interrupted)
            where = _keep_failed(run, e, interrupted)
            if interrupted:
                raise Interrupted(
                    f"{run.label} interrupted: the kernel was stopped and nothing "
                    f"was published; partial output in {where}"
                ) from None
            raise RunError(
                f"{run.label} failed: {_message(e)}\n"
                f"  executed notebook with the traceback, and FAILED.txt: {where}\n"
                f"  the previous result (if any) is untouched: {run.target}"
            ) from e
        publish(run.staging, run.target)
        shutil.rmtree(run.failed, ignore_errors=True)
        return Outcome(
            run.experiment, "ran", time.perf_counter() - t0, "", str(run.target)
        )


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _papermill(run: Run, dst: Path, progress_bar: bool) -> None:
    import papermill as pm

    declared = pm.inspect_notebook(run.notebook)
    params = {
        "preset": run.preset,
        "overrides": run.overrides,
        "out_dir": str(run.staging),
    }
    # Locations the notebook declares it reads: the store and its inputs.
    optional = {
        "store_dir": run.store_root,
        "needs": run.needs,
        "data_dir": run.data_dir,
    }
    params.update({k: v for k, v in optional.items() if k in declared})
    # The kernel inherits this process's environment: code that looks up the
    # data directory or the store finds the run's own.
    os.environ.update(
        {**run.env, "RNNMEM_DATA_DIR": run.data_dir, "RNNMEM_STORE": run.store_root}
    )
    pm.execute_notebook(
        run.notebook,
        str(dst),
        parameters=params,
        kernel_name="python3",
        progress_bar=progress_bar,
        cwd=str(Path(run.notebook).parent),
        log_output=False,
        # the kernel's own log stays quiet: its warning that a local kernel
        # talks over TCP printed once per notebook between the run's progress
        # lines, and on Ctrl-C a traceback of a reply sent to the closed
        # client. A cell's error reaches the notebook and the run's message;
        # a kernel that dies is reported by nbclient.
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
    )


def _as_published(run: Run, nb: Path) -> None:
    """The executed notebook names where its results are: the staging folder
    it wrote to becomes the target when published, so its injected ``out_dir``,
    papermill's record of it and any output naming a file there say the
    target (else a reader rerunning the notebook would write into a
    ``.staging`` folder, which the runner owns)."""
    text = nb.read_text()
    staged = str(run.staging)
    if staged in text:
        io.write_text(nb, text.replace(staged, str(run.target)))


def _check_complete(run: Run, out: Path, nb_name: str) -> None:
    missing = [p for p in (nb_name, CLAIMS) if not (out / p).is_file()]
    if missing:
        raise RunError(f"the notebook finished without writing {', '.join(missing)}")
    try:
        claims = io.read_json(out / CLAIMS)["claims"]
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"{CLAIMS} is malformed: {e}") from e
    if not claims:
        raise RunError(f"{CLAIMS} holds no claim")


def _write_record(run: Run, started, elapsed: float, nb_name: str) -> None:
    units = run.staging / "units.json"
    io.write_json(
        run.staging / RECORD,
        {
            "experiment": run.experiment,
            "preset": run.preset,
            "variant": run.variant,
            "overrides": run.overrides,
            "fingerprint": run.fingerprint,
            "config_hash": run.config_hash,
            "notebook": nb_name,
            "data": run.data,
            "needs": {  # relative: the record reads the same on any machine
                k: os.path.relpath(v, run.results_root) for k, v in run.needs.items()
            },
            "units": io.read_json(units) if units.exists() else [],
            "started": started.isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1),
            "python": sys.version.split()[0],
            "machine": machine(),
            "where": where(run.staging),  # the Dask worker, the units' places
            "versions": versions(),
        },
    )


def machine() -> dict:
    """Where a run ran: results differ in the last digits between CPUs (the ISA
    of the math kernels) and thread counts."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "isa": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "host": socket.gethostname(),
    }


def versions() -> dict:
    out = {}
    for name in _VERSIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _keep_failed(run: Run, error: BaseException, interrupted: bool) -> Path:
    """Move the partial output to ``.failed/<name>/`` with FAILED.txt."""
    shutil.rmtree(run.failed, ignore_errors=True)
    run.failed.parent.mkdir(parents=True, exist_ok=True)
    if run.staging.exists():
        os.replace(run.staging, run.failed)
    run.failed.mkdir(parents=True, exist_ok=True)
    why = "interrupted (SIGINT/SIGTERM)" if interrupted else _message(error)
    io.write_text(
        run.failed / "FAILED.txt",
        f"{run.label} did not complete at "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}\n\n{why}\n\n"
        + "".join(traceback.format_exception(error)),
    )
    return run.failed


def _message(e: BaseException) -> str:
    """The whole actionable message: papermill's error ends with the exception
    line of the cell but its advice (where to put a file) is in the lines
    before it, so keep the message, without the traceback's frames."""
    text = str(e).strip()
    from papermill.exceptions import PapermillExecutionError

    if isinstance(e, PapermillExecutionError):
        text = f"{e.ename}: {e.evalue}".strip()
    return text or type(e).__name__


# ---------------------------------------------------------------------------
# Publish by swap
# ---------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def publish(staging: Path, target: Path) -> None:
    """Make ``staging`` the published ``target`` in one atomic step.

    With an existing target both are exchanged by ``renameat2(RENAME_EXCHANGE)``
    (Linux), so a reader sees the old or the new result, never none; the old
    one is then removed. Elsewhere two renames with the old result moved aside
    first.
    """
    if not target.exists():
        os.replace(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)
        return
    aside = target.with_name(f".{target.name}{io.TMP_MARK}old")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(target, aside)
    os.replace(staging, target)
    shutil.rmtree(aside)


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]  # fmt: skip
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0
