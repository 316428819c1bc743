"""What every experiment shares: its entry-point signature, its result type and
its thread guard.

An experiment is a package ``rnnmem_utils/experiments/<name>/`` declared by one
entry in :data:`rnnmem_utils.config.EXPERIMENTS`. Its entry point has one
signature::

    def run(cfg, out_dir, *, preset="default", needs=None, progress=True) -> Results

``cfg`` is the resolved configuration, ``out_dir`` the (staging) directory the
run writes into, ``needs`` maps an experiment this one reads to its published
result directory. Units of work that are worth keeping (trained models, long
analyses) go through :func:`rnnmem_utils.store.cached`, the one resume
primitive. The entry point returns :class:`Results`: the claims, the tables
the notebook plots from (each also written as a CSV), and anything else under
``extra``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Results:
    """One experiment run: claims, named tables, and other named values.

    Tables and extras read as attributes (``results.perplexity``) or items
    (``results["perplexity"]``); an unknown name lists the known ones.
    """

    experiment: str
    preset: str
    claims: Any  # rnnmem_utils.claims.ClaimSet
    tables: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("tables", "extra"):
            raise AttributeError(name)
        for where in (self.tables, self.extra):
            if name in where:
                return where[name]
        raise AttributeError(
            f"{self.experiment} results have no {name!r}; "
            f"tables: {sorted(self.tables)}, extra: {sorted(self.extra)}"
        )

    def __getitem__(self, name: str):
        if name == "claims":
            return self.claims
        try:
            return getattr(self, name)
        except AttributeError as e:
            raise KeyError(str(e)) from None

    def __contains__(self, name: str) -> bool:
        return name == "claims" or name in self.tables or name in self.extra

    def get(self, name: str, default=None):
        return self[name] if name in self else default

    def keys(self):
        return ["claims", *self.tables, *self.extra]


def results(experiment: str, preset: str, claims, **values) -> Results:
    """Build :class:`Results`: pandas DataFrames go to ``tables``, the rest to
    ``extra``."""
    import pandas as pd

    tables = {k: v for k, v in values.items() if isinstance(v, pd.DataFrame)}
    extra = {k: v for k, v in values.items() if k not in tables}
    return Results(experiment, preset, claims, tables, extra)


@contextlib.contextmanager
def single_thread(threads: int = 1):
    """Run the body with ``threads`` torch and BLAS threads (default one).

    Small recurrent models (tens to a few hundred units) gain nothing from
    splitting each op across cores; on a shared CPU extra threads only add
    synchronisation (measured on E3: LDA fits 10x slower with 2 BLAS threads).
    Independent models then run in parallel as processes instead.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def lookup(table: Mapping, name: str, what: str):
    """``table[name]``, or a KeyError that lists the valid names."""
    try:
        return table[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(str(name), [str(k) for k in table], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(
            f"unknown {what} {name!r}{hint}; valid: {sorted(map(str, table))}"
        ) from None
