"""Atomic writes and result directories (resumable units live in :mod:`.store`).

Every artifact is written to a temporary file in its own directory and moved
into place with :func:`os.replace`, which is atomic on POSIX: a reader (or a
rerun after ``kill -9``) sees either the old complete file or the new complete
file, never half of one. Temporary files are named ``.<name>.tmp-<random>`` and
are ignored (and cleaned up) by everything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TMP_MARK = ".tmp-"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask (the only portable way is to set it)


def results_root() -> Path:
    """``$RNNMEM_RESULTS_DIR`` if set, else ``results/`` at the repository root."""
    return Path(os.environ.get("RNNMEM_RESULTS_DIR", REPO_ROOT / "results"))


def results_dir(
    preset: str, experiment: str, out_dir: str | os.PathLike | None = None
) -> Path:
    """The directory a notebook writes into (created): ``out_dir`` if given (the
    runner passes its staging directory), else ``results/<preset>/<experiment>/``.

    In a notebook run directly with papermill, parameters the notebook does not
    declare are refused here (papermill itself only warns), and so is an
    ``out_dir`` that is not a directory or holds another experiment's results.
    """
    from .config import ConfigError

    check_notebook_parameters()
    if out_dir is not None and not isinstance(out_dir, str | os.PathLike):
        raise ConfigError(f"out_dir must be a path or None, got {out_dir!r}")
    path = Path(out_dir) if out_dir else results_root() / preset / experiment
    if path.exists() and not path.is_dir():
        raise ConfigError(f"out_dir {path} exists and is not a directory")
    claims = path / "claims.json"
    if claims.exists():
        try:
            other = read_json(claims).get("experiment")
        except (ValueError, AttributeError):
            other = None
        if other not in (None, experiment):
            raise ConfigError(
                f"out_dir {path} holds the results of {other!r}, not {experiment!r};"
                " choose another directory"
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_notebook_parameters() -> None:
    """Refuse parameters that papermill injected but the notebook does not declare.

    Papermill inserts an ``# Parameters`` cell right after the cell tagged
    ``parameters`` and only warns about names that cell does not define, so a
    typo (``-p presett smoke``) would run the default silently. Outside a
    papermill run this does nothing.
    """
    import ast
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    history = shell.user_ns.get("In", []) if shell else []
    injected = [i for i, src in enumerate(history) if src.startswith("# Parameters")]
    if not injected or injected[-1] == 0:
        return

    def names(source: str) -> set[str]:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return set()
        return {
            t.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }

    given = names(history[injected[-1]])
    declared = names(history[injected[-1] - 1])
    unknown = sorted(given - declared)
    if unknown:
        from .config import ConfigError

        raise ConfigError(
            f"unknown notebook parameter(s) {unknown}; this notebook declares "
            f"{sorted(declared)} (configuration fields go in overrides, e.g. "
            "-p overrides '{\"repeats\": 30}')"
        )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    >>> with atomic_path("out.csv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}{TMP_MARK}", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give results the usual mode
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path, obj: Any) -> Path:
    return write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n"
    )


def read_json(path) -> Any:
    return json.loads(Path(path).read_text())


def write_csv(path, df, **kwargs) -> Path:
    """Write a pandas DataFrame as CSV, atomically (index off unless asked)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def save_torch(path, obj: Any) -> Path:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def clean_temporaries(directory) -> int:
    """Remove temporary files left by an interrupted run; return how many."""
    n = 0
    for p in Path(directory).rglob(f"*{TMP_MARK}*"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
