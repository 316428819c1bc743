"""Plan: what to run, in which order, what is up to date. Nothing executes here.

A :class:`Run` is plain data (picklable, JSON-able): the experiment, preset and
overrides, and every location it needs -- the results root, the store, the
data directory, the notebook, the published results it reads (``needs``) --
passed explicitly, never through environment variables or module globals, so
any executor (a local process pool, a Dask worker on another machine) can
carry it.

Run identity. The preset's own configuration publishes to
``results/<preset>/<experiment>/``; a run with overrides publishes beside it
under a readable variant name, ``results/<preset>/<experiment>@<variant>/``
(``latching@cells=gru,repeats=30``). A published result is *complete* when its
run record, claims and executed notebook are there, and *up to date* when its
fingerprint equals the one planned now. The fingerprint covers the resolved
configuration, the notebook's code cells (prose is not a result), the
library's result code (not the CLI, runner, store or report), the hashes of
the data files the experiment reads and the fingerprints of the results it
reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import config, io
from .. import store as _store
from . import closure

NOTEBOOK_DIR = io.REPO_ROOT / "notebooks"
RECORD = "run.json"
CLAIMS = "claims.json"
HIDDEN = (".staging", ".failed", ".locks")  # never results


@dataclass(frozen=True)
class Run:
    """One notebook execution, as plain data."""

    experiment: str
    preset: str
    overrides: dict
    results_root: str
    store_root: str
    data_dir: str
    notebook: str  # absolute path of the source notebook
    fingerprint: str
    config_hash: str = ""
    needs: dict = field(default_factory=dict)  # experiment -> published dir
    data: dict = field(default_factory=dict)  # data file -> sha256
    force: bool = False
    env: dict = field(default_factory=dict)  # e.g. thread counts for the kernel

    @property
    def variant(self) -> str:
        """The overrides that change the result, by name ("" for the preset's
        own: ``-p workers=1`` alone publishes the preset's result)."""
        return variant_name(config.result_overrides(self.experiment, self.overrides))

    @property
    def dirname(self) -> str:
        return result_dirname(self.experiment, self.variant)

    @property
    def label(self) -> str:
        return f"{self.dirname} ({self.preset})"

    @property
    def preset_dir(self) -> Path:
        return Path(self.results_root) / self.preset

    @property
    def target(self) -> Path:
        """Where the result is published."""
        return self.preset_dir / self.dirname

    @property
    def staging(self) -> Path:
        return self.preset_dir / ".staging" / self.dirname

    @property
    def failed(self) -> Path:
        return self.preset_dir / ".failed" / self.dirname

    @property
    def lock(self) -> Path:
        return self.preset_dir / ".locks" / f"{self.dirname}.lock"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Run:
        return cls(**json.loads(text))


@dataclass
class Task:
    run: Run
    state: str  # "up to date" | "to run"
    reason: str = ""


def variant_name(overrides: dict) -> str:
    """A readable, file-system-safe name for a set of overrides ("" for none)."""
    parts = []
    for k in sorted(overrides):
        v = overrides[k]
        text = (
            ",".join(str(x) for x in v)
            if isinstance(v, list | tuple)
            else str(v).lower()
            if isinstance(v, bool)
            else str(v)
        )
        parts.append(f"{k}={text}")
    name = re.sub(r"[^A-Za-z0-9=,._+-]", "_", ",".join(parts))
    if len(name) > 80:  # keep paths short; the run record holds the full set
        digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode())
        name = f"{name[:60]}...{digest.hexdigest()[:8]}"
    return name


def result_dirname(experiment: str, variant: str) -> str:
    """``<experiment>`` for the preset's own result, else ``<experiment>@<variant>``."""
    return experiment + (f"@{variant}" if variant else "")


def notebook_path(experiment: str, notebook_dir: Path | None = None) -> Path:
    return Path(notebook_dir or NOTEBOOK_DIR) / config.EXPERIMENTS[experiment].notebook


def code_digest(experiment: str, notebook: Path) -> str:
    """Hash of the library source that can change ``experiment``'s result: the
    import closure of its entry point and of the modules its notebook's code
    uses (:mod:`.closure`), so an edit elsewhere leaves it up to date."""
    return _code_digest(experiment, _code_cells(notebook))


def _code_digest(experiment: str, cells: list[str]) -> str:
    entry = config.EXPERIMENTS[experiment].entry.partition(":")[0]
    return closure.digest([entry, *closure.notebook_modules("\n".join(cells))])


def notebook_digest(path: Path) -> str:
    """Hash of a notebook's code cells: a prose edit does not make results stale,
    an edit to a code cell does."""
    return _cells_digest(_code_cells(path))


def _cells_digest(cells: list[str]) -> str:
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]


def _code_cells(path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def data_hashes(experiment: str, cfg) -> dict:
    """Verify the data files ``experiment`` reads under ``cfg``; their hashes.

    Raises :class:`rnnmem_utils.data.corpora.DataError` (missing, corrupt or too
    short) before any work starts.
    """
    from ..data import corpora

    return corpora.prepare(experiment, cfg)


def fingerprint(
    experiment, cfg, cells: list[str], data: dict, needs: dict, code: str
) -> str:
    """``cells``: the notebook's code cells; ``code``: :func:`code_digest` of
    the experiment."""
    h = hashlib.sha256()
    for part in (
        experiment,
        config.config_hash(cfg),
        _cells_digest(cells),
        code,
        json.dumps(data, sort_keys=True),
        json.dumps(needs, sort_keys=True),
    ):
        h.update(part.encode())
    return h.hexdigest()[:16]


def _overrides_for(experiment: str, overrides: dict) -> dict:
    """The part of ``overrides`` that configures ``experiment`` (a dependency
    runs with the fields it shares with the experiment that needs it)."""
    names = {f.name for f in dataclasses.fields(config.schema_of(experiment))}
    return {k: v for k, v in overrides.items() if k in names}


def plan(
    experiments,
    preset: str,
    overrides: dict | None = None,
    *,
    force: bool = False,
    results_root=None,
    store_root=None,
    data_dir=None,
    notebook_dir=None,
    with_needs: bool = True,
) -> list[Task]:
    """Resolve, verify and order the runs of ``experiments`` (dependencies
    first, added when ``with_needs``); mark what is up to date.

    Every configuration is resolved and every data file verified here, so bad
    input stops everything before any notebook starts.
    """
    from ..data import corpora

    overrides = dict(overrides or {})
    results_root = str(Path(results_root or io.results_root()).resolve())
    store_root = str(_store.store_root(store_root).resolve())
    data_dir = str(Path(data_dir or corpora.data_dir()).resolve())
    order = _order(list(dict.fromkeys(experiments)), with_needs)
    own = {  # a dependency runs with the overrides it shares with what needs it
        n: overrides if n in experiments else _overrides_for(n, overrides)
        for n in order
    }
    # every configuration first: bad input is refused before any file is read
    cfgs = {n: config.resolve(n, preset, own[n]) for n in order}
    runs: dict[str, Run] = {}
    tasks = []
    for name in order:
        cfg = cfgs[name]
        nb = notebook_path(name, notebook_dir)
        if not nb.exists():
            raise config.ConfigError(f"{name}: notebook {nb} is missing")
        cells = _code_cells(nb)  # read once, for both digests
        data = data_hashes(name, cfg)
        needs = {}
        for dep in config.EXPERIMENTS[name].needs:
            dep_run = runs.get(dep) or _published_run(
                dep, preset, _overrides_for(dep, overrides), results_root
            )
            needs[dep] = dep_run
        run = Run(
            name,
            preset,
            own[name],
            results_root,
            store_root,
            data_dir,
            str(nb),
            _fingerprint_of(name, cfg, cells, data, needs),
            config.config_hash(cfg),
            {k: str(v.target) for k, v in needs.items()},
            data,
            force and name in experiments,
        )
        runs[name] = run
        fresh = not run.force and is_complete(run.target, run.fingerprint)
        if name in experiments or not fresh:
            tasks.append(
                Task(run, "up to date" if fresh else "to run", _why(run, fresh))
            )
    return tasks


def record_is_current(record: dict, results_root=None) -> bool:
    """Whether a published result's run record was computed by this checkout
    (:func:`current_fingerprint`)."""
    return current_fingerprint(record, results_root) == record.get("fingerprint")


def current_fingerprint(record: dict, results_root=None) -> str:
    """The fingerprint this checkout gives the result a run record describes:
    today's notebook code cells, library code (:func:`code_digest`'s closure),
    resolved configuration and the published results it needs, with the data
    hashes the record holds taken as they are (no data file is read, so a
    fresh clone without the data can tell).

    Raises :class:`rnnmem_utils.config.ConfigError` when the recorded
    experiment, preset or overrides no longer resolve."""
    name, preset = record.get("experiment"), record.get("preset")
    overrides = record.get("overrides") or {}
    cfg = config.resolve(name, preset, overrides)
    cells = _code_cells(notebook_path(name))
    root = str(Path(results_root or io.results_root()))
    needs = {
        dep: _published_run(dep, preset, _overrides_for(dep, overrides), root)
        for dep in config.EXPERIMENTS[name].needs
    }
    return _fingerprint_of(name, cfg, cells, record.get("data") or {}, needs)


def _fingerprint_of(name, cfg, cells, data: dict, needs: dict) -> str:
    """:func:`fingerprint` of a run of ``name`` whose needed runs are ``needs``
    (name -> :class:`Run`), its code digested from ``cells``."""
    fps = {k: v.fingerprint for k, v in needs.items()}
    return fingerprint(name, cfg, cells, data, fps, _code_digest(name, cells))


def _published_run(experiment, preset, overrides, results_root) -> Run:
    """A stand-in for a dependency that is not planned: its published result."""
    variant = variant_name(config.result_overrides(experiment, overrides))
    record = read_record(
        Path(results_root) / preset / result_dirname(experiment, variant)
    )
    return Run(
        experiment,
        preset,
        overrides,
        results_root,
        "",
        "",
        "",
        (record or {}).get("fingerprint", "missing"),
    )


def _order(names: list[str], with_needs: bool) -> list[str]:
    """``names`` and (``with_needs``) what they need, dependencies first."""
    seen: list[str] = []

    def visit(name, stack=()):
        if name in stack:
            raise config.ConfigError(f"circular needs: {' -> '.join(stack + (name,))}")
        config.schema_of(name)  # an unknown name lists the valid ones
        deps = config.EXPERIMENTS[name].needs
        for dep in deps:
            if with_needs or dep in names:
                visit(dep, stack + (name,))
        if name not in seen:
            seen.append(name)

    for n in names:
        visit(n)
    return seen


def _why(run: Run, fresh: bool) -> str:
    if fresh:
        return "up to date"
    if run.force:
        return "forced"
    if _published_state(run.target, run.fingerprint) == "committed":
        return "committed without its executed notebook"
    if read_record(run.target) is None:
        return "not run" if not run.target.exists() else "incomplete"
    return "changed since the last run"


# ---------------------------------------------------------------------------
# Reading published results (never raises on a malformed file)
# ---------------------------------------------------------------------------


def read_record(directory: Path) -> dict | None:
    """The run record of a published result, or None if missing or unreadable."""
    try:
        record = io.read_json(Path(directory) / RECORD)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_complete(directory: Path, fp: str | None = None) -> bool:
    return _published_state(Path(directory), fp) == "complete"


def _published_state(directory: Path, fp: str | None) -> str | None:
    """The result published in ``directory`` against fingerprint ``fp`` (None:
    any), from one read of its record: "complete" or "stale" when executed
    here, "committed" or "committed, stale" when its executed notebook is
    absent; None without a readable record or claims.

    The executed notebook stays out of git: a fresh clone holds the committed
    results but reruns them, and a local rerun skips what it has executed."""
    record = read_record(directory)
    if record is None or not (directory / CLAIMS).exists():
        return None
    notebook = record.get("notebook")
    executed = bool(notebook) and (directory / Path(notebook).name).is_file()
    fresh = fp is None or record.get("fingerprint") == fp
    state = "complete" if fresh else "stale"
    return state if executed else f"committed{'' if fresh else ', stale'}"


def published(preset: str, results_root=None) -> list[Path]:
    """The published result directories of ``preset`` (variants included)."""
    root = Path(results_root or io.results_root()) / preset
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        # an experiment's name (with a variant), or anything a run recorded;
        # not the report's lessons/ folder
        and (p.name.split("@")[0] in config.EXPERIMENTS or (p / RECORD).exists())
    )


def status(
    experiment: str, preset: str, overrides: dict | None = None, *, results_root=None
) -> str:
    """'complete', 'stale', 'committed', 'committed, stale', 'incomplete',
    'unreadable', 'failed', 'not run' or 'running' (see :func:`status_of`)."""
    try:
        tasks = plan(
            [experiment],
            preset,
            overrides or {},
            results_root=results_root,
            with_needs=False,
        )
    except Exception as e:  # noqa: BLE001 -- list must survive any bad record
        return f"unplannable: {str(e).splitlines()[0]}"
    run = tasks[0].run
    return status_of(run)


def status_of(run: Run) -> str:
    """Where ``run``'s result stands. A result committed to git without its
    executed notebook (a fresh clone) is "committed" while its fingerprint
    matches this checkout's code and parameters, "committed, stale" once it
    does not; either way a run re-executes it."""
    if run.lock.exists() and _locked(run.lock):
        return "running"
    if not run.target.exists():
        return "failed" if run.failed.exists() else "not run"
    state = _published_state(run.target, run.fingerprint)
    if state is None:
        unreadable = (run.target / RECORD).exists() and read_record(run.target) is None
        return "unreadable" if unreadable else "incomplete"
    return state


def _locked(path: Path) -> bool:
    import fcntl

    try:
        with open(path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False
