"""Independent units of a grid as tasks, in whichever executor launched the run.

Inside a notebook, ``map_units(fn, items)`` computes ``[fn(x) for x in items]``
where the run was launched:

- on a Dask cluster (``rnnmem run --scheduler ADDRESS``), each item is a task on
  the cluster: through the worker's own client when this code runs inside a
  Dask task, else through the scheduler whose address the run passes to its
  kernel in ``RNNMEM_SCHEDULER``;
- locally, in a process pool of ``jobs`` processes, or one after the other
  (``jobs=1``, the default: a local run already uses its cores).

A notebook's task holds its worker's thread while the notebook runs, so the
units of a notebook launched from the kernel run on other workers' threads
(inside a Dask task the calling task lends its own thread). ``fn`` and the
items must be picklable (a module-level function, plain data);
units that are expensive should themselves go through ``store.cached`` so a
retried or rerun unit is reused. With ``out_dir``, where each unit ran is
appended to ``out_dir/where.json``, which the run record copies (see
:func:`where`).

E1 runs its grid through it (each (part, style, cell) unit, and each cell's
search and tuned part, a task), E4 its zoo, its analyses and Figure 7's
curves (models first: an analysis needs its model), E5 its three text8 models.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

SCHEDULER_ENV = "RNNMEM_SCHEDULER"  # the cluster a run was launched on
WORKER_ENV = "RNNMEM_WORKER"  # JSON: the Dask worker a notebook runs on
WHERE = "where.json"


def map_units(
    fn: Callable,
    items: Iterable,
    *,
    jobs: int = 1,
    resources: dict | None = None,
    out_dir=None,
    label: Callable = repr,
) -> list:
    """``[fn(x) for x in items]``, each ``fn(x)`` a task of the run's executor.

    ``resources`` (e.g. ``{"GPU": 1}``) is what each unit needs of a Dask
    worker; locally it is ignored. Results come back in the order of ``items``.
    The first unit that raises makes this raise (on Dask after its retries).
    """
    items = list(items)
    client, own = _client()
    if client is not None:
        try:
            results, places = _on_dask(client, fn, items, resources)
        finally:
            if own:
                client.close()
    elif jobs > 1 and len(items) > 1:
        with _local_pool(jobs) as pool:
            pairs = list(pool.map(_located, [fn] * len(items), items))
        results, places = [r for r, _ in pairs], [p for _, p in pairs]
    else:
        results = [fn(x) for x in items]
        places = [_here()] * len(items)
    if out_dir is not None:
        _record(Path(out_dir), [label(x) for x in items], places)
    return results


# A local unit process runs single-threaded: ``jobs`` of them share the cores,
# and the units' ops are small (a second thread per process only adds
# synchronisation; measured on E1, E3 and E4).
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _local_pool(jobs: int):
    """``jobs`` spawned, single-threaded processes. Spawned, not forked: a fork
    of a process that holds torch's thread pool can hang. The thread settings
    travel in the environment, which a spawned process reads when it starts
    (the pool starts its processes as work is submitted, inside this block)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    old = {k: os.environ.get(k) for k in SINGLE_THREAD}
    os.environ.update(SINGLE_THREAD)
    try:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread) as pool:
            yield pool
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_thread() -> None:
    """In a unit process: one torch thread even if torch was imported before
    the environment could say so (a spawned child re-imports its parent's
    main module first)."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _client():
    """(the Dask client of this run or None when it was launched locally,
    whether this call opened it)."""
    try:
        from distributed import Client, get_client
    except ImportError:  # the cluster extra is not installed: a local run
        return None, False
    if _inside_task():
        return get_client(), False
    address = os.environ.get(SCHEDULER_ENV)
    if not address:
        return None, False
    return Client(address, timeout=10, set_as_default=False), True


def _on_dask(client, fn, items, resources) -> tuple[list, list]:
    from distributed import secede

    futures = client.map(
        _located, [fn] * len(items), items, pure=False, retries=2, resources=resources
    )
    inside = _inside_task()
    if inside:  # free this task's thread while its units run, so they can use it
        secede()
    try:
        pairs = client.gather(futures)
    finally:
        if inside:
            from distributed import rejoin

            rejoin()
    return [r for r, _ in pairs], [p for _, p in pairs]


def _inside_task() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _located(fn, item):
    return fn(item), _here()


def _here() -> dict:
    """Where this code runs: the Dask worker (address, name) or this host."""
    place = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        from distributed import get_worker

        worker = get_worker()
        place.update(worker=worker.address, name=str(worker.name))
    except (ImportError, ValueError):
        place.update(json.loads(os.environ.get(WORKER_ENV) or "{}"))
    return place


def _record(out_dir: Path, labels: list[str], places: list[dict]) -> None:
    from .. import io

    path = out_dir / WHERE
    done = io.read_json(path) if path.exists() else []
    done += [{"unit": lab, **p} for lab, p in zip(labels, places, strict=True)]
    io.write_json(path, done)


def where(out_dir: Path) -> dict:
    """For the run record: where the notebook ran (the Dask worker or this host)
    and where each of its units ran (``where.json``, written by map_units)."""
    notebook = {"host": socket.gethostname(), "executor": "local"}
    if os.environ.get(WORKER_ENV):
        notebook = {**json.loads(os.environ[WORKER_ENV]), "executor": "dask"}
    path = Path(out_dir) / WHERE
    try:
        units = json.loads(path.read_text()) if path.exists() else []
    except ValueError:
        units = []
    return {"notebook": notebook, "units": units}
