"""Dask workers on a batch system (Slurm, PBS) through dask-jobqueue.

``rnnmem cluster script --system slurm --preset paper --scheduler tcp://HOST:8786``
prints the job script of one worker, sized for the preset; nothing is
submitted. Submit it as many times as you want workers (``sbatch``/``qsub``);
each job starts a ``dask worker`` that joins the scheduler, then
``rnnmem run --preset paper --scheduler tcp://HOST:8786`` runs the notebooks
on them. From Python, :func:`cluster` builds the dask-jobqueue cluster object
itself (its scheduler runs in the calling process; ``cluster.scale(jobs=N)``
submits).

Every job exports ``RNNMEM_STORE`` and ``RNNMEM_DATA_DIR`` (shared paths) and
runs this environment's Python, which must be on the shared file system too.
"""

from __future__ import annotations

import os
import sys

from .. import config

# One worker job per preset: what one notebook (or one unit of a grid) needs.
# paper: the text8 models and the PTB zoo train on a GPU (about 6 GPU-hours for
# a text8 model, from the seeds), so one GPU, a day of walltime, one notebook
# per worker; smoke/default fit a small CPU job.
PRESET_RESOURCES = {
    "smoke": {"cores": 1, "memory": "4GB", "walltime": "00:30:00", "gpus": 0},
    "default": {"cores": 2, "memory": "8GB", "walltime": "02:00:00", "gpus": 0},
    "paper": {"cores": 8, "memory": "32GB", "walltime": "24:00:00", "gpus": 1},
}
SYSTEMS = ("slurm", "pbs")
_JOB_ID = {"slurm": "${SLURM_JOB_ID}", "pbs": "${PBS_JOBID}"}


def job_kwargs(system: str, preset: str, **changes) -> dict:
    """The dask-jobqueue keywords of one worker job for ``preset``; ``changes``
    (cores, memory, walltime, gpus, queue, account) override the preset's."""
    if system not in SYSTEMS:
        raise config.ConfigError(
            f"unknown batch system {system!r}; choose one of {', '.join(SYSTEMS)}"
        )
    if preset not in PRESET_RESOURCES:
        raise config.ConfigError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESET_RESOURCES)}"
        )
    res = {**PRESET_RESOURCES[preset],
           **{k: v for k, v in changes.items() if v is not None}}  # fmt: skip
    gpus = int(res.pop("gpus"))
    queue, account = res.pop("queue", None), res.pop("account", None)
    from .. import store
    from ..data import corpora

    cores = int(res.pop("cores"))
    kw = {
        **res,
        # one worker per job with one thread: one notebook (or unit) at a time,
        # which gets all the job's cores
        "cores": 1,
        "processes": 1,
        "name": f"rnnmem-{_JOB_ID[system]}",  # unique per job, expanded at run time
        "job_name": f"rnnmem-{preset}",
        "queue": queue,
        "account": account,
        "python": sys.executable,
        "job_script_prologue": [
            f"export RNNMEM_STORE={os.path.abspath(store.store_root())}",
            f"export RNNMEM_DATA_DIR={os.path.abspath(corpora.data_dir())}",
            f"export OMP_NUM_THREADS={cores} MKL_NUM_THREADS={cores}",
        ],
        "worker_extra_args": ["--resources", f"GPU={gpus}"] if gpus else [],
    }
    if system == "slurm":
        kw["job_cpu"] = cores
        if gpus:
            kw["job_extra_directives"] = [f"--gres=gpu:{gpus}"]
    else:
        kw.pop("account")
        kw["resource_spec"] = f"select=1:ncpus={cores}:mem={res['memory']}" + (
            f":ngpus={gpus}" if gpus else ""
        )
    return kw


def job_script(system: str, preset: str, scheduler: str, **changes) -> str:
    """The job script of one worker joining ``scheduler``; nothing is submitted."""
    job_cls = _job_class(system)
    return job_cls(
        scheduler=scheduler, **job_kwargs(system, preset, **changes)
    ).job_script()


def cluster(system: str, preset: str, **changes):
    """The dask-jobqueue cluster (SLURMCluster, PBSCluster) for ``preset``, with
    no job submitted yet: ``cluster.scale(jobs=N)`` submits N workers."""
    from dask_jobqueue import PBSCluster, SLURMCluster

    cls = {"slurm": SLURMCluster, "pbs": PBSCluster}[system]
    kw = job_kwargs(system, preset, **changes)
    kw.pop("name")  # the cluster names its jobs itself
    return cls(**kw)


def _job_class(system: str):
    if system == "slurm":
        from dask_jobqueue.slurm import SLURMJob

        return SLURMJob
    from dask_jobqueue.pbs import PBSJob

    return PBSJob


# ---------------------------------------------------------------------------
# rnnmem cluster script ...
# ---------------------------------------------------------------------------


def add_parser(sub) -> None:
    cl = sub.add_parser("cluster", help="Dask workers on Slurm or PBS (dask-jobqueue)")
    cl_sub = cl.add_subparsers(dest="cluster_command", required=True)
    sc = cl_sub.add_parser(
        "script", help="print the job script of one worker for a preset (no submit)"
    )
    sc.add_argument("--system", required=True, choices=SYSTEMS)
    sc.add_argument("--preset", default="paper", choices=list(PRESET_RESOURCES))
    sc.add_argument(
        "--scheduler",
        default="tcp://SCHEDULER_HOST:8786",
        help="address of the running `dask scheduler` the workers join",
    )
    for name, kind in (("cores", int), ("memory", str), ("walltime", str),
                       ("gpus", int), ("queue", str), ("account", str)):  # fmt: skip
        sc.add_argument(f"--{name}", type=kind, help="override the preset's value")


def command(args) -> int:
    changes = {k: getattr(args, k) for k in
               ("cores", "memory", "walltime", "gpus", "queue", "account")}  # fmt: skip
    print(job_script(args.system, args.preset, args.scheduler, **changes))
    return 0
