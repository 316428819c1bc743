"""The store: trained models and long computations, kept under their own identity.

A *unit* (a trained model, a long sweep) is addressed by what its numbers
depend on, and nothing else:

- its name (``"cycles/model"``);
- the configuration fields it actually reads, with their values;
- the hashes of the data files it reads;
- a code version it declares: the digest of the modules its numbers depend on
  (``code=("rnnmem_utils.models.lm", ...)``) and an explicit ``version`` to
  bump when its math changes in a module not listed.

So a prose edit, a plotting change or a change to another experiment never
invalidates a trained model, while a change to its configuration or its model
code always does. Any notebook that asks for the same unit gets the same
stored value.

The code version hashes the modules' bytes, so a key reads the same under
every Python. An edit to a comment, a docstring or the layout of a listed
module changes those bytes and not one number, so each unit also records its
*code text*: the digest of the modules' syntax trees without docstrings
(:func:`code_of`), tagged with the Python version that parsed them. A unit
whose key is not in the store takes over a unit made from the same fields and
data whose code text is the same today (:meth:`Store.stage`): a docstring
fixed in the model's module does not retrain hours of models. A unit keyed on
another unit's key (an analysis of a model) follows it, through the ``was``
list of keys each such unit keeps. Units made before the code text was kept
learn theirs the next time a run uses them.

Layout (``$RNNMEM_STORE``, else ``store/`` at the repository root; a cluster
puts it on a shared file system)::

    <root>/<name>/<key>/meta.json      what it was made from, payload hashes, users
    <root>/<name>/<key>/value.<ext>    .pt (tensors, state dicts), .json, .csv
    <root>/<name>/<key>/key.json       what a unit being computed is made from
    <root>/<name>/<key>/checkpoint.pt  progress of a unit being computed
    <root>/<name>/<key>/.lock          one process computes a unit at a time

Payloads are written atomically (:func:`rnnmem_utils.io.atomic_path`), loaded
with ``torch.load(weights_only=True)`` (a state dict, never pickled code), and
verified against the sha256 in ``meta.json``: a wrong hash or a truncated file
is refused and the unit recomputed. ``meta.json`` is written last: a unit is
complete when it exists. A unit begun and not complete (being computed now,
or left by an interrupted run) is *unfinished*: :meth:`Store.unfinished`
lists it with its progress, and :meth:`Store.prune` removes it only when no
process holds it and nothing in it can be resumed.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import io

META = "meta.json"
KEY = "key.json"
CHECKPOINT = "checkpoint.pt"
_KINDS = {"json": ".json", "csv": ".csv", "torch": ".pt"}
# what a unit taken over must share with the key (its fields, up to former keys)
_SAME_UNIT = ("name", "modules", "version", "data", "code_text")


class StoreError(RuntimeError):
    """A store entry that cannot be used; the message names it and the fix."""


def store_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` if given, else ``$RNNMEM_STORE``, else ``<repo>/store``."""
    return Path(root or os.environ.get("RNNMEM_STORE") or io.REPO_ROOT / "store")


def code_version(modules: Iterable[str], version: int | str = 1) -> str:
    """Digest of the source of ``modules`` (dotted names) and ``version``.

    A package's name means its ``__init__.py`` alone (an experiment's package
    keeps its claims apart, and a claim's edit must not retrain anything);
    ``"pkg.*"`` means every ``.py`` file under the package. The modules are
    located without being imported, so the CLI can compute keys without
    loading torch.
    """
    h = hashlib.sha256(f"v{version}".encode())
    for label, path in _module_files(modules):
        h.update(label.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _module_files(modules: Iterable[str]) -> list[tuple[str, Path]]:
    """(label, file) of each listed module, in the order the digests read
    them: a module under its name, a package's files (``"pkg.*"``) under their
    path inside it."""
    out = []
    for name in sorted(set(modules)):
        whole = name.endswith(".*")
        spec = importlib.util.find_spec(name.removesuffix(".*"))
        if spec is None or not spec.origin:
            raise StoreError(f"code version: no module {name!r}")
        origin = Path(spec.origin)
        if whole and not spec.submodule_search_locations:
            raise StoreError(f"code version: {name!r}: not a package")
        if not whole:
            out.append((name, origin))
            continue
        for path in sorted(origin.parent.rglob("*.py")):
            out.append((str(path.relative_to(origin.parent)), path))
    return out


def code_text(modules: Iterable[str], version: int | str = 1) -> str:
    """Digest of the code of ``modules`` without comments, docstrings and
    layout (:func:`code_of`), tagged ``py<major>.<minor>:`` with the Python that
    parsed it (another Python may write the same tree differently)."""
    h = hashlib.sha256(f"v{version}".encode())
    for label, path in _module_files(modules):
        st = path.stat()
        h.update(label.encode())
        h.update(code_at(str(path), (st.st_mtime_ns, st.st_size)).encode())
    return f"py{sys.version_info.major}.{sys.version_info.minor}:{h.hexdigest()[:16]}"


_DEFINES_DOC = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_of(path: Path) -> str:
    """A module's code without its comments and docstrings: the syntax tree,
    docstrings dropped, written back out (``ast.unparse``). A prose edit
    cannot change a number; any edit to the code itself changes this text."""
    tree = ast.parse(Path(path).read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, _DEFINES_DOC) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


@lru_cache(maxsize=1024)
def code_at(path: str, stamp: tuple[int, int]) -> str:
    """:func:`code_of` once per version of a file (``stamp``: its mtime and
    size); the store's code texts and the runner's fingerprints share it."""
    return code_of(Path(path))


@dataclass(frozen=True)
class UnitKey:
    """What a unit's value depends on; its :attr:`digest` names its directory."""

    name: str
    fields: dict = field(default_factory=dict)  # config field -> value
    data: dict = field(default_factory=dict)  # data file -> sha256
    code: str = ""  # code_version(...) of the modules it depends on
    modules: tuple[str, ...] = ()
    version: int | str = 1

    @property
    def digest(self) -> str:
        blob = json.dumps(
            [self.name, self.fields, self.data, self.code],
            sort_keys=True,
            default=_plain,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "key": self.digest,
            "fields": json.loads(json.dumps(self.fields, default=_plain)),
            "data": dict(self.data),
            "code": self.code,
            "modules": list(self.modules),
            "version": self.version,
            "code_text": code_text(self.modules, self.version),
        }


def _plain(obj):
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    raise TypeError(f"not part of a store key: {type(obj).__name__}")


class Store:
    """A folder of units (see the module docstring).

    ``user``: the results directory of the run using the store; every unit it
    loads or computes is listed in ``<user>/units.json``, which the runner
    keeps in the run record (what the result was made from).
    """

    def __init__(self, root: str | os.PathLike | None = None, *, user=None):
        self.root = store_root(root)
        self.user = Path(user) if user else None

    # -- keys ---------------------------------------------------------------
    def key(
        self,
        name: str,
        cfg=None,
        fields: Iterable[str] = (),
        *,
        extra: dict | None = None,
        data: dict | None = None,
        code: Iterable[str] = (),
        version: int | str = 1,
    ) -> UnitKey:
        """The key of unit ``name``: the listed ``fields`` of ``cfg``, ``extra``
        values (a seed, a cell name), data hashes and the code it depends on."""
        values = {f: _field(cfg, f) for f in fields}
        overlap = set(values) & set(extra or {})
        if overlap:
            raise StoreError(f"{name}: {sorted(overlap)} given twice (fields, extra)")
        values.update(extra or {})
        modules = tuple(sorted(set(code)))
        code_digest = code_version(modules, version)
        return UnitKey(name, values, dict(data or {}), code_digest, modules, version)

    def path(self, key: UnitKey) -> Path:
        return self.root / key.name / key.digest

    # -- values -------------------------------------------------------------
    def stage(
        self,
        key: UnitKey,
        compute: Callable[[], Any],
        *,
        kind: str | None = None,
    ) -> Any:
        """The stored value of ``key``, or ``compute()`` stored atomically.

        This is the one resume primitive: a run killed after some units
        resumes from them. Two processes asking for the same unit (two
        notebooks, two Dask workers) compute it once; the second waits and
        loads it.
        """
        with self._lock(key):
            where = self.path(key)
            value, meta = self._load(key)
            begun = (where / KEY).exists() or (where / CHECKPOINT).exists()
            if value is _MISSING and not begun and self._take_over(key):
                value, meta = self._load(key)
            if value is not _MISSING:
                self._note_code_text(where / META, key, meta)
            else:
                if (where / KEY).exists():
                    self._note_code_text(where / KEY, key, io.read_json(where / KEY))
                else:  # what an unfinished unit is
                    started = datetime.now(UTC).isoformat(timespec="seconds")
                    io.write_json(where / KEY, {**key.describe(), "started": started})
                value = compute()
                self.save(key, value, kind=kind)
        self._record_use(key)
        return value

    def _take_over(self, key: UnitKey) -> bool:
        """Move into ``key``'s place a unit (complete, or unfinished with its
        checkpoint) made from the same fields and data by code that differs
        from ``key``'s only in comments, docstrings and layout; whether one
        was found. A unit that a process computes now is waited for."""
        import filelock

        want = key.describe()
        same = [want[k] for k in _SAME_UNIT]
        aliases = None
        for where in sorted((self.root / key.name).glob("*/.lock")):
            where = where.parent
            info = _info(where)
            if where == self.path(key) or info is None:
                continue
            if same != [info.get(k) for k in _SAME_UNIT]:
                continue
            if info.get("fields") != want["fields"]:
                aliases = self._aliases() if aliases is None else aliases
                fields = {k: aliases.get(v, v) if isinstance(v, str) else v
                          for k, v in info.get("fields", {}).items()}  # fmt: skip
                if fields != want["fields"]:
                    continue
            with filelock.FileLock(str(where / ".lock")):
                if self._move(where, key):
                    return True
        return False

    def _move(self, old: Path, key: UnitKey) -> bool:
        """Move unit ``old`` to ``key`` (both locked by the caller): its files
        linked in, its record rewritten under ``key`` with the keys it had in
        ``was``, the old folder removed last (an interrupted move leaves the
        old unit whole)."""
        new = self.path(key)
        info = _info(old)  # again, under the lock: it may have completed
        if info is None:
            return False
        was = [info["key"], *info.get("was", [])]  # two checkouts may move it back
        record = {**info, **key.describe(),
                  "was": [w for w in dict.fromkeys(was) if w != key.digest]}  # fmt: skip
        if (old / META).exists():
            _link(old / info["payload"], new / info["payload"])
            io.write_json(new / META, record)
        elif (old / CHECKPOINT).exists():
            _link(old / CHECKPOINT, new / CHECKPOINT)
            io.write_json(new / KEY, record)
        else:  # begun, nothing saved: nothing to take over
            return False
        shutil.rmtree(old, ignore_errors=True)
        return True

    def _aliases(self) -> dict[str, str]:
        """Former key -> key of every unit moved by :meth:`_take_over`."""
        return {w: m["key"] for m in self.entries() for w in m.get("was", [])}

    def _note_code_text(self, path: Path, key: UnitKey, info: dict) -> None:
        """Record today's code text in a unit whose code is ``key``'s byte for
        byte (a unit made before the code text was kept, or under another
        Python), so that a later prose edit can find it. ``info``: the record
        at ``path``, as read by the caller."""
        text = code_text(key.modules, key.version)
        if info.get("code") == key.code and info.get("code_text") != text:
            io.write_json(path, {**info, "code_text": text})

    def has(self, key: UnitKey) -> bool:
        return (self.path(key) / META).exists()

    def load(self, key: UnitKey) -> Any:
        """The value of ``key`` if stored and intact, else the :data:`_MISSING`
        marker (a corrupt entry is removed with a warning naming it)."""
        return self._load(key)[0]

    def _load(self, key: UnitKey) -> tuple[Any, dict | None]:
        """:meth:`load`'s value and the entry's ``meta.json`` (read once)."""
        where = self.path(key)
        if not (where / META).exists():
            return _MISSING, None
        try:
            meta = io.read_json(where / META)
            payload = where / meta["payload"]
            got = _sha256(payload)
            if got != meta["sha256"]:
                raise StoreError(
                    f"sha256 {got[:12]}... but meta.json says {meta['sha256'][:12]}..."
                )
            return _read(payload, meta["kind"]), meta
        except Exception as e:  # noqa: BLE001 -- any unreadable entry is recomputed
            warnings.warn(
                f"store entry {where} is unreadable ({e}); it is removed and "
                "recomputed",
                stacklevel=3,
            )
            shutil.rmtree(where, ignore_errors=True)
            return _MISSING, None

    def save(self, key: UnitKey, value: Any, *, kind: str | None = None) -> Path:
        kind = kind or _kind_of(value)
        if kind not in _KINDS:
            raise StoreError(
                f"{key.name}: unknown kind {kind!r}; options {list(_KINDS)}"
            )
        where = self.path(key)
        where.mkdir(parents=True, exist_ok=True)
        payload = where / f"value{_KINDS[kind]}"
        _write(payload, value, kind)
        meta = {
            **key.describe(),
            "kind": kind,
            "payload": payload.name,
            "sha256": _sha256(payload),
            "bytes": payload.stat().st_size,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        io.write_json(where / META, meta)  # last: the entry is complete
        (where / CHECKPOINT).unlink(missing_ok=True)
        (where / KEY).unlink(missing_ok=True)
        return where

    # -- checkpoints --------------------------------------------------------
    def load_checkpoint(self, key: UnitKey) -> dict | None:
        """The progress saved by :meth:`save_checkpoint`, or None."""
        path = self.path(key) / CHECKPOINT
        if not path.exists():
            return None
        import torch

        try:
            return torch.load(path, weights_only=True)
        except Exception as e:  # noqa: BLE001 -- a bad checkpoint restarts the unit
            warnings.warn(
                f"checkpoint {path} unreadable ({e}); starting over", stacklevel=2
            )
            return None

    def save_checkpoint(self, key: UnitKey, state: dict) -> None:
        """Save a unit's progress (tensors, state dicts, numbers, strings)."""
        _write(self.path(key) / CHECKPOINT, state, "torch")

    # -- bookkeeping --------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, key: UnitKey) -> Iterator[None]:
        import filelock

        where = self.path(key)
        where.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(where / ".lock")):
            yield

    def _record_use(self, key: UnitKey) -> None:
        if self.user is None:
            return
        import filelock

        path = self.user / "units.json"
        entry = {"name": key.name, "key": key.digest}
        path.parent.mkdir(parents=True, exist_ok=True)
        # units of one run may finish in several processes (map_units); their
        # lock lives in the store, so a result directory never holds one
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        with filelock.FileLock(str(locks / f"units-{name}.lock")):
            used = io.read_json(path) if path.exists() else []
            if entry not in used:
                io.write_json(path, [*used, entry])

    def entries(self) -> list[dict]:
        """Every complete entry's metadata (plus its path and size on disk)."""
        out = []
        for meta_path in sorted(self.root.glob(f"*/**/{META}")):
            try:
                meta = io.read_json(meta_path)
            except (OSError, ValueError) as e:
                meta = {"name": str(meta_path.parent), "unreadable": str(e)}
            meta["path"] = str(meta_path.parent)
            meta["bytes_on_disk"] = sum(
                p.stat().st_size for p in meta_path.parent.iterdir() if p.is_file()
            )
            out.append(meta)
        return out

    def unfinished(self) -> list[dict]:
        """Units begun and not complete, each with ``path``, ``bytes_on_disk``,
        ``updated`` (its newest file), ``running`` (a process holds its lock
        now), ``checkpoint`` (progress saved: a run resumes from it),
        ``progress`` (the checkpoint's counters: ``epoch``, ``batch``,
        ``step``...), ``code_current`` (None when it has no ``key.json``,
        begun by an older version of this module) and what ``key.json`` says."""
        out = []
        for lock in sorted(self.root.glob("*/**/.lock")):
            where = lock.parent
            if (where / META).exists():
                continue
            try:
                info = io.read_json(where / KEY)
            except (OSError, ValueError):
                info = {"name": str(where.parent.relative_to(self.root)),
                        "key": where.name}  # fmt: skip
            files = [p for p in where.iterdir() if p.is_file()]
            ckpt = where / CHECKPOINT
            info.update(
                path=str(where),
                bytes_on_disk=sum(p.stat().st_size for p in files),
                updated=datetime.fromtimestamp(
                    max(p.stat().st_mtime for p in files), UTC
                ).isoformat(timespec="seconds"),
                running=_held(lock),
                checkpoint=ckpt.exists(),
                progress=_counters(ckpt) if ckpt.exists() else {},
                code_current=_current(info) if "modules" in info else None,
            )
            out.append(info)
        return out

    def prune(self, keep: set[str], *, dry_run: bool = False) -> list[dict]:
        """Remove what no current configuration can reach.

        A complete entry is reachable when a run lists it in its record
        (``keep``: their keys; the caller counts unfinished and failed runs
        too, whose rerun resumes from it) and the code it was made from is
        still the current code of its modules. An unfinished unit is left
        alone while a process holds it, and kept while its checkpoint can be
        resumed (its code current, or not known); the rest, a unit whose code
        has changed or one begun with no progress saved, is removed. The
        removed ones are returned (``unfinished`` True for the latter).
        """
        import filelock

        removed = []
        for meta in self.entries():
            reached = {meta.get("key"), *meta.get("was", [])} & keep
            if reached and _current(meta):
                continue
            if not dry_run:
                shutil.rmtree(meta["path"], ignore_errors=True)
            removed.append({**meta, "unfinished": False})
        for part in self.unfinished():
            if part["running"]:
                continue
            if part["checkpoint"] and part["code_current"] is not False:
                continue
            try:  # removed under its lock: a run cannot begin it meanwhile
                with filelock.FileLock(str(Path(part["path"]) / ".lock"), timeout=0):
                    if not dry_run:
                        shutil.rmtree(part["path"], ignore_errors=True)
            except filelock.Timeout:  # begun since it was listed
                continue
            removed.append({**part, "unfinished": True})
        return removed


def progress_text(unit: dict) -> str:
    """An unfinished unit's checkpoint counters in words, each out of its
    total where the unit's key has one (``epoch`` of ``epochs``, ``step`` of
    ``steps``): ``"epoch 8/39, batch 50"``; "" when nothing was saved."""
    fields = unit.get("fields") or {}
    return ", ".join(
        f"{k} {v}/{fields[k + 's']}" if k + "s" in fields else f"{k} {v}"
        for k, v in unit.get("progress", {}).items()
    )


def _current(meta: dict) -> bool:
    """Whether ``meta``'s code is its modules' code today: byte for byte, or
    but for comments, docstrings and layout (a run takes such a unit over)."""
    modules, version = meta.get("modules", []), meta.get("version", 1)
    try:
        if code_version(modules, version) == meta.get("code"):
            return True
        return code_text(modules, version) == meta.get("code_text")
    except (StoreError, SyntaxError, OSError):  # a module gone or broken
        return False


def _info(where: Path) -> dict | None:
    """What unit folder ``where`` records of itself: ``meta.json`` when
    complete, else ``key.json``; None when neither can be read."""
    for name in (META, KEY):
        try:
            return io.read_json(where / name)
        except (OSError, ValueError):
            continue
    return None


def _link(src: Path, dst: Path) -> None:
    """``dst`` made the same file as ``src`` (a hard link; a copy across file
    systems)."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _held(lock: Path) -> bool:
    """Whether a process (this one included) holds the unit lock ``lock``."""
    import filelock

    try:
        with filelock.FileLock(str(lock), timeout=0):
            return False
    except filelock.Timeout:
        return True


def _counters(checkpoint: Path) -> dict:
    """The plain numbers and strings at a checkpoint's top level (where a
    training loop keeps its epoch, batch or step), read without loading the
    tensors; {} when it cannot be read."""
    try:
        import torch

        ck = torch.load(checkpoint, weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 -- a listing never fails on one bad file
        return {}
    if not isinstance(ck, dict):
        return {}
    return {
        k: v
        for k, v in ck.items()
        if isinstance(v, int | float | str) and not isinstance(v, bool)
    }


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def _field(cfg, name: str):
    if cfg is None or not hasattr(cfg, name):
        raise StoreError(
            f"configuration {type(cfg).__name__} has no field {name!r} to key a unit on"
        )
    return getattr(cfg, name)


def _kind_of(value) -> str:
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return "csv"
    except ImportError:  # pragma: no cover
        pass
    if _has_tensor(value):
        return "torch"
    return "json"


def _has_tensor(value) -> bool:
    if type(value).__module__.startswith("torch"):
        return True
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_tensor(v) for v in value)
    return False


def _write(path: Path, value, kind: str) -> None:
    if kind == "json":
        io.write_json(path, value)
    elif kind == "csv":
        io.write_csv(path, value)
    else:
        io.save_torch(path, value)


def _read(path: Path, kind: str):
    if kind == "json":
        return io.read_json(path)
    if kind == "csv":
        import pandas as pd

        return pd.read_csv(path)
    import torch

    return torch.load(path, weights_only=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached(
    out_dir,
    name: str,
    cfg,
    compute: Callable[[], Any],
    *,
    fields: Iterable[str] | None = None,
    extra: dict | None = None,
    code: Iterable[str] = (),
    version: int | str = 1,
    kind: str | None = None,
    root=None,
) -> Any:
    """The one resume primitive of the experiments: unit ``name`` of the run
    writing to ``out_dir``, from the store or computed and stored.

    ``fields``: the configuration fields the unit reads (None: all of them,
    the safe default for a unit whose inputs are many); ``extra``: other
    inputs (a cell name, the key of the model it analyses); ``code``: the
    modules its numbers depend on. The store is ``root``, else the run's
    (``$RNNMEM_STORE``, which the runner sets from the run's own location).
    """
    import dataclasses

    if fields is None:
        fields = [f.name for f in dataclasses.fields(cfg)]
    store = Store(root, user=out_dir)
    key = store.key(name, cfg, fields, extra=extra, code=code, version=version)
    return store.stage(key, compute, kind=kind)
