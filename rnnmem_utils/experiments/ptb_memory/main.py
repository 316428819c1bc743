"""The run of E4 what PTB language models remember (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ... import io
from ..harness import results, single_thread
from . import claims as make
from . import units, wikitext_memory, zoo

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
        units.run_parallel(cfg, jobs, out_dir)
        wikitext_memory.run_parallel(cfg, out_dir)  # Figure 7
        out = units.collect(cfg, data, jobs, out_dir, progress)
        out["wiki_curves"], out["extra"]["wiki_stats"] = wikitext_memory.collect(
            cfg, out_dir, progress
        )
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
