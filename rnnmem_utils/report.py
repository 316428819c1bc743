"""Build ``results/<preset>/REPORT.md`` and ``REPORT.html`` from the claims files.

One section per experiment: how and when it ran, a verdict summary, a table of
every checked claim with the published value next to ours, the criterion, the
verdict and by how much a number misses, then the figures. The report only
reads files: it never imports torch or reruns anything.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from . import claims as C
from . import config, io

_BADGE = {C.REPRODUCED: "✅", C.PARTLY: "🟡", C.NOT_REPRODUCED: "❌", C.NOT_RUN: "⏸"}
_COLUMNS = ("claim", "published", "ours", "criterion", "verdict", "difference")


def fmt(value) -> str:
    """A short human form of a published or reproduced value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        inner = ", ".join(fmt(v) for v in value[:8])
        return f"[{inner}{', …' if len(value) > 8 else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in list(value.items())[:8])
    return str(value)


def _load(preset: str):
    root = io.results_root() / preset
    for exp in config.EXPERIMENTS.values():
        out = root / exp.name
        data = (
            io.read_json(out / "claims.json")
            if (out / "claims.json").exists()
            else None
        )
        run = io.read_json(out / "run.json") if (out / "run.json").exists() else None
        figures = (
            sorted((out / "figures").glob("*.png"))
            if (out / "figures").exists()
            else []
        )
        yield exp, out, data, run, figures


def _rows(data) -> list[tuple[str, ...]]:
    return [
        (
            c["statement"],
            fmt(c["published"]),
            fmt(c["reproduced"]),
            c["criterion"],
            f"{_BADGE[c['verdict']]} {c['verdict']}",
            c.get("difference") or "",
        )
        for c in data["claims"]
    ]


def _counts(data) -> dict[str, int]:
    counts = dict.fromkeys(C.VERDICTS, 0)
    for c in data["claims"]:
        counts[c["verdict"]] += 1
    return counts


def _run_line(preset, run, data) -> str:
    if run is None:
        return (
            f"Claims written, but no run record: run outside `rnnmem run` or interrupted; "
            f"configuration {data['config_hash']}."
        )
    extra = (
        f", overrides `{json.dumps(run['overrides'])}`" if run.get("overrides") else ""
    )
    return (
        f"Preset `{preset}`{extra}; started {run['started']}, took "
        f"{run['elapsed_s'] / 60:.1f} min; configuration `{run['config_hash']}`."
    )


def build(preset: str) -> tuple[Path, Path]:
    """Write REPORT.md and REPORT.html for ``preset``; return their paths."""
    root = io.results_root() / preset
    loaded = list(_load(preset))
    md = [
        f"# rnnmem: reproduction report (`{preset}` preset)",
        "",
        "Published numbers next to ours, one table per experiment. Verdicts are "
        "computed from the numbers by each notebook (criterion column); "
        "`not run at this preset` means the preset is too small to check that claim.",
        "",
        "| experiment | " + " | ".join(C.VERDICTS) + " |",
        "| --- |" + " --- |" * len(C.VERDICTS),
    ]
    for exp, _, data, _, _ in loaded:
        cells = (
            [str(v) for v in _counts(data).values()]
            if data
            else ["—"] * len(C.VERDICTS)
        )
        md.append(f"| {exp.title} | " + " | ".join(cells) + " |")
    body_html = []
    for exp, _out, data, run, figures in loaded:
        md += ["", f"## {exp.title}", ""]
        body_html.append(f"<h2>{html.escape(exp.title)}</h2>")
        if data is None:
            msg = (
                f"Not run at this preset yet: `rnnmem run {exp.name} --preset {preset}` "
                f"(notebook `notebooks/{exp.notebook}`)."
            )
            md.append(msg)
            body_html.append(f"<p>{html.escape(msg)}</p>")
            continue
        line = _run_line(preset, run, data)
        md += [
            line,
            "",
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + " --- |" * len(_COLUMNS),
        ]
        md += [
            "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in _rows(data)
        ]
        body_html.append(f"<p>{html.escape(line)}</p>" + _html_table(_rows(data)))
        for fig in figures:
            rel = fig.relative_to(root).as_posix()
            md += ["", f"![{fig.stem}]({rel})"]
            body_html.append(
                f'<figure><img src="{rel}" alt="{fig.stem}">'
                f"<figcaption>{html.escape(fig.stem)}</figcaption></figure>"
            )
    md_path = io.write_text(root / "REPORT.md", "\n".join(md) + "\n")
    html_path = io.write_text(root / "REPORT.html", _html_page(preset, md, body_html))
    return md_path, html_path


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _html_table(rows) -> str:
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_page(preset: str, md: list[str], body: list[str]) -> str:
    summary = [line for line in md if line.startswith("| ")][
        : len(config.EXPERIMENTS) + 1
    ]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in summary]
    table = (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        + "</tr></thead><tbody>"
        + "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
            for r in rows[1:]
        )
        + "</tbody></table>"
    )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px "
        "solid #ccc;padding:4px 8px;vertical-align:top;font-size:90%}img{max-width:100%}"
        "figure{margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>rnnmem report "
        f"({preset})</title><style>{style}</style></head><body>"
        f"<h1>rnnmem: reproduction report (<code>{preset}</code> preset)</h1>"
        f"{table}{''.join(body)}</body></html>\n"
    )
