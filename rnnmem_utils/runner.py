"""Execute notebooks headlessly with papermill into ``results/<preset>/<experiment>/``.

A run of one experiment:

1. resolves its configuration (bad input is refused here, before any work);
2. computes a *fingerprint* of the resolved configuration, the notebook and the
   library's source; a run whose ``run.json`` holds the same fingerprint and
   whose ``claims.json`` exists is complete and is skipped (``force`` reruns);
3. removes the old completion markers and temporary files, and empties
   ``cache/`` if it was filled under another fingerprint (a resumed run reuses
   the units of work a killed run had finished, never those of other code);
4. executes the notebook into a temporary file (papermill saves after every
   cell) and renames it into place when it has finished;
5. writes ``run.json`` (fingerprint, timings) last.

Independent notebooks can run in parallel (``jobs``); an experiment that reads
another's results (``Experiment.needs``) starts after it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import config, io

NOTEBOOK_DIR = io.REPO_ROOT / "notebooks"
PACKAGE_DIR = Path(__file__).resolve().parent
# Modules that cannot change a result: editing them does not invalidate runs.
_NOT_RESULT_CODE = {"cli.py", "report.py", "runner.py"}


class RunError(RuntimeError):
    """A notebook that failed; the message names the executed notebook to inspect."""


@dataclass
class Outcome:
    experiment: str
    status: str  # "ran" | "skipped" | "failed"
    elapsed_s: float
    message: str = ""


def code_digest() -> str:
    """Hash of the library source that can affect results."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.name in _NOT_RESULT_CODE and path.parent == PACKAGE_DIR:
            continue
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(experiment: str, cfg, code: str | None = None) -> str:
    nb = (NOTEBOOK_DIR / config.EXPERIMENTS[experiment].notebook).read_bytes()
    h = hashlib.sha256()
    for part in (
        experiment,
        config.config_hash(cfg),
        hashlib.sha256(nb).hexdigest(),
        code or code_digest(),
    ):
        h.update(part.encode())
    return h.hexdigest()[:16]


def out_dir_of(experiment: str, preset: str) -> Path:
    return io.results_root() / preset / experiment


def is_complete(experiment: str, preset: str, fp: str | None = None) -> bool:
    out = out_dir_of(experiment, preset)
    run = out / "run.json"
    # The executed notebook stays out of git: a fresh clone holds the committed
    # results but reruns them, and a local rerun skips what it has executed.
    executed = out / config.EXPERIMENTS[experiment].notebook
    if not (run.exists() and (out / "claims.json").exists() and executed.exists()):
        return False
    return fp is None or io.read_json(run).get("fingerprint") == fp


def status(experiment: str, preset: str) -> str:
    """'complete', 'stale' (code or config changed), 'incomplete' or 'not run'."""
    out = out_dir_of(experiment, preset)
    if not out.exists():
        return "not run"
    if not is_complete(experiment, preset):
        return "incomplete"
    cfg = config.resolve(
        experiment, preset, io.read_json(out / "run.json").get("overrides")
    )
    return (
        "complete"
        if is_complete(experiment, preset, fingerprint(experiment, cfg))
        else "stale"
    )


def _prepare(out: Path, fp: str) -> None:
    io.clean_temporaries(out)
    for marker in ("run.json", "claims.json"):
        (out / marker).unlink(missing_ok=True)
    if (out / "figures").exists():  # every run draws its figures anew: none goes stale
        shutil.rmtree(out / "figures")
    cache = out / "cache"
    stamp = cache / "FINGERPRINT"
    if cache.exists() and (not stamp.exists() or stamp.read_text().strip() != fp):
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    io.write_text(stamp, fp + "\n")


def run_one(
    experiment: str,
    preset: str,
    overrides: dict | None = None,
    *,
    force: bool = False,
    progress_bar: bool = False,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Run one experiment's notebook (see the module docstring)."""
    overrides = dict(overrides or {})
    cfg = config.resolve(experiment, preset, overrides)
    fp = fingerprint(experiment, cfg)
    out = out_dir_of(experiment, preset)
    if not force and is_complete(experiment, preset, fp):
        return Outcome(experiment, "skipped", 0.0, "up to date")
    out.mkdir(parents=True, exist_ok=True)
    if force and (out / "cache").exists():
        shutil.rmtree(out / "cache")
    _prepare(out, fp)
    nb_name = config.EXPERIMENTS[experiment].notebook
    final = out / nb_name
    tmp = out / f".{Path(nb_name).stem}{io.TMP_MARK}run.ipynb"
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        _execute(NOTEBOOK_DIR / nb_name, tmp, preset, overrides, out, progress_bar)
    except Exception as e:  # papermill raises its own types; keep the notebook
        failed = out / f"{Path(nb_name).stem}.failed.ipynb"
        if tmp.exists():
            os.replace(tmp, failed)
        raise RunError(
            f"{experiment} ({preset}) failed: {_short(e)}\n"
            f"  executed notebook with the traceback: {failed}"
        ) from e
    os.replace(tmp, final)
    elapsed = time.perf_counter() - t0
    if not (out / "claims.json").exists():
        raise RunError(f"{experiment} ({preset}) finished without writing claims.json")
    io.write_json(
        out / "run.json",
        {
            "experiment": experiment,
            "preset": preset,
            "overrides": overrides,
            "fingerprint": fp,
            "config_hash": config.config_hash(cfg),
            "started": started.isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1),
            "python": sys.version.split()[0],
        },
    )
    return Outcome(experiment, "ran", elapsed)


def _execute(
    src: Path, dst: Path, preset, overrides, out: Path, progress_bar: bool
) -> None:
    import papermill as pm

    pm.execute_notebook(
        str(src),
        str(dst),
        parameters={"preset": preset, "overrides": overrides, "out_dir": str(out)},
        kernel_name="python3",
        progress_bar=progress_bar,
        cwd=str(NOTEBOOK_DIR),
        log_output=False,
    )


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


def run_many(
    experiments: Iterable[str],
    preset: str,
    overrides: dict | None = None,
    *,
    jobs: int = 1,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> list[Outcome]:
    """Run several experiments, ``jobs`` at a time, respecting ``needs``.

    Every configuration is resolved first, so a bad override stops everything
    before any notebook starts.
    """
    names = list(dict.fromkeys(experiments))
    for name in names:
        config.resolve(name, preset, overrides)
    if jobs > 1:  # share the cores between the kernels instead of oversubscribing
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = threads
    pending, running, outcomes = list(names), {}, []
    t_all = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while pending or running:
            for name in [n for n in pending if _ready(n, pending, running)]:
                if len(running) >= max(1, jobs):
                    break
                pending.remove(name)
                log(f"[{_clock(t_all)}] start  {name} ({preset})")
                running[
                    pool.submit(
                        run_one,
                        name,
                        preset,
                        overrides,
                        force=force,
                        progress_bar=jobs == 1 and sys.stderr.isatty(),
                        log=log,
                    )
                ] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                name = running.pop(fut)
                try:
                    outcome = fut.result()
                except RunError as e:
                    outcome = Outcome(name, "failed", 0.0, str(e))
                outcomes.append(outcome)
                log(
                    f"[{_clock(t_all)}] {outcome.status:<6} {name}"
                    + (
                        f" in {outcome.elapsed_s / 60:.1f} min"
                        if outcome.status == "ran"
                        else ""
                    )
                    + (f": {outcome.message}" if outcome.message else "")
                )
    return outcomes


def _ready(name: str, pending: list, running: dict) -> bool:
    needs = config.EXPERIMENTS[name].needs
    return not any(n in pending or n in running.values() for n in needs)


def _clock(t0: float) -> str:
    s = int(time.perf_counter() - t0)
    return f"{s // 60:02d}:{s % 60:02d}"
