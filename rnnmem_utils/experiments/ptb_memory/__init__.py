"""E4 what PTB language models remember: Verwimp et al. (2018), sections 4.3-5.

``run(cfg, out_dir, preset=...)`` aligns the treebank sample with PTB (the
gold-tagged, held-out analysis set), trains the model zoo (in the store,
``cfg.workers`` models at a time in single-threaded processes), measures
perplexities (Table 2), state-gradient curves with bootstrap bands (Figures
4-6), per-POS and per-word memory (Figure 8), embedding probes (Table 3), and
writes the claims (``claims.json`` last).

Every unit (a model, a curve, a per-word table) is a store unit: run again,
and finished units are loaded; a unit is computed in a worker process when
``cfg.workers > 1`` and then loaded here from the store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ... import io
from ..harness import results, single_thread
from . import claims as make
from . import units, zoo

EXPERIMENT = "ptb_memory"


def run(cfg, out_dir, *, preset="default", needs=None, progress=True):
    """Run E4 end to end; see the module docstring."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zoo.check_available(cfg)
    with single_thread():
        data = units.prepare(cfg)
        io.write_json(out_dir / "alignment.json", units.alignment_report(data))
        jobs = units.plan(cfg)
        units.run_parallel(cfg, jobs, out_dir, progress)
        out = units.collect(cfg, data, jobs, out_dir, progress)
        out["table3"] = make.with_majority(out["table3"], data)
    tables = _write_tables(out, out_dir)
    claims = make.claims(cfg, preset, out)
    claims.write(out_dir)
    return results(EXPERIMENT, preset, claims, **tables, **out["extra"])


def _write_tables(out: dict, out_dir: Path) -> dict[str, pd.DataFrame]:
    tables = {k: v for k, v in out.items() if isinstance(v, pd.DataFrame)}
    for name, table in tables.items():
        io.write_csv(out_dir / f"{name}.csv", table)
    return tables
