"""Build ``results/<preset>/REPORT.md`` and ``REPORT.html`` from the published results.

One section per published result: the preset's own configuration of each
experiment (``results/<preset>/<experiment>/``), then its variants
(``<experiment>@<variant>/``, a run with overrides). Each section says how,
when and where it ran (machine, kernel ISA, threads, library versions, data
hashes), then a table of every checked claim with the published value next to
ours and its interval, the criterion, the verdict (flagged when it changes
within the interval) and by how much a number misses, then the figures.

The executed notebooks are published beside the report as HTML lessons
(``results/<preset>/lessons/<notebook>.html``, nbconvert) with no machine paths.

Both files are rendered from the same structured rows: the Markdown by hand
(it is plain text), the HTML with a Jinja2 template whose prose cells go
through mistune, so the page never re-parses the Markdown. The report only
reads files: it never imports torch or reruns anything. A malformed record is
shown as unreadable, with its path and the reason, never as a traceback.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from . import claims as cl
from . import config, io

LESSONS = "lessons"  # results/<preset>/lessons/: the published executed notebooks
MAX_ITEMS = 12  # longer lists and dictionaries are cut with "… (N more)"
_COLUMNS = ("claim", "published", "ours", "criterion", "verdict", "difference")
_SHORT_VERDICT = {
    cl.NOT_RUN: "not run",
    cl.CANNOT: "cannot run",
}  # the summary's column heads
_NOT_ACROSS = "changes within its interval"


class NoResultsError(RuntimeError):
    """There is nothing to report for this preset (no experiment has run)."""


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def fmt(value, digits: int = 4) -> str:
    """A short human form of a published or reproduced value.

    Lists and dictionaries longer than :data:`MAX_ITEMS` are cut with an
    explicit "… (N more)", so a reader knows entries are missing.
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        return "[" + _cut([fmt(v, digits) for v in value]) + "]"
    if isinstance(value, dict):
        return _cut([f"{k}: {fmt(v, digits)}" for k, v in value.items()])
    return str(value)


def _cut(items: list[str]) -> str:
    if len(items) <= MAX_ITEMS:
        return ", ".join(items)
    return ", ".join(items[:MAX_ITEMS]) + f", … ({len(items) - MAX_ITEMS} more)"


# ---------------------------------------------------------------------------
# Reading the results tree
# ---------------------------------------------------------------------------


@dataclass
class Row:
    """One claim as the report shows it (plain text; Markdown in prose fields)."""

    statement: str
    published: str
    ours: str
    criterion: str
    verdict: str
    fragile: bool  # the verdict is not the same across the interval of "ours"
    difference: str


@dataclass
class Section:
    """One published result: an experiment at the preset, or one of its variants."""

    experiment: str
    title: str
    variant: str  # "" for the preset's own configuration
    directory: Path
    notebook: str | None
    claims: dict | None = None
    run: dict | None = None
    figures: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lesson: str | None = None  # link to the published lesson, relative to the report
    stale: str | None = None  # why this checkout would not compute this result

    @property
    def heading(self) -> str:
        return f"{self.title} @ {self.variant}" if self.variant else self.title

    @property
    def anchor(self) -> str:
        return self.directory.name.replace("@", "--").replace(",", "-")

    @property
    def found(self) -> bool:
        """Something was published here (readable or not)."""
        return self.claims is not None or self.run is not None or bool(self.problems)

    def rows(self) -> list[Row]:
        return [_row(c) for c in self.claims["claims"]] if self.claims else []

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(cl.VERDICTS, 0)
        for c in self.claims["claims"]:
            counts[c["verdict"]] += 1
        return counts

    def fragile(self) -> int:
        return sum(r.fragile for r in self.rows())


def _shown(path: Path) -> str:
    """``path`` relative to the folder holding the results tree (``results/...``),
    so no machine path reaches a published page."""
    base = io.results_root().parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _read_json(path: Path, check) -> tuple[dict | None, str | None]:
    """``(data, None)``, ``(None, None)`` if absent, ``(None, problem)`` if unreadable."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        check(data)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"unreadable: {_shown(path)} ({reason})"
    return data, None


def _check_claims(data) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError("no list of claims")
    for i, c in enumerate(data["claims"]):
        if not isinstance(c, dict) or not isinstance(c.get("statement"), str):
            raise ValueError(f"claim {i + 1} has no statement")
        if c.get("verdict") not in cl.VERDICTS:
            raise ValueError(f"claim {i + 1} has verdict {c.get('verdict')!r}")
        interval = c.get("interval")
        if interval is not None and not (
            isinstance(interval, list)
            and len(interval) == 2
            and all(isinstance(v, int | float) for v in interval)
        ):
            raise ValueError(f"claim {i + 1} has interval {interval!r}")


def _check_run(data) -> None:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key, typ in (("elapsed_s", int | float), ("overrides", dict)):
        if key in data and not isinstance(data[key], typ):
            raise ValueError(f"{key} is {data[key]!r}")
    for key in ("machine", "versions", "data"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ValueError(f"{key} is {data[key]!r}")


def _read_section(name: str, directory: Path) -> Section:
    exp = config.EXPERIMENTS.get(name)
    variant = directory.name.partition("@")[2]
    s = Section(
        name,
        exp.title if exp else name,
        variant,
        directory,
        exp.notebook if exp else _notebook_of(directory),
    )
    s.claims, bad_claims = _read_json(directory / "claims.json", _check_claims)
    s.run, bad_run = _read_json(directory / "run.json", _check_run)
    s.problems += [p for p in (bad_claims, bad_run) if p]
    if s.run and not variant and s.run.get("variant"):
        s.variant = str(s.run["variant"])  # an old layout: the variant in the record
    figures = directory / "figures"
    if figures.is_dir():
        s.figures = sorted(p for p in figures.glob("*.png") if not p.name[0] == ".")
    return s


def _notebook_of(directory: Path) -> str | None:
    """The executed notebook of an experiment the registry does not know."""
    found = [
        p.name
        for p in sorted(directory.glob("*.ipynb"))
        if not p.name.startswith(".") and not p.name.endswith(".failed.ipynb")
    ]
    return found[0] if len(found) == 1 else None


def sections(preset: str) -> list[Section]:
    """Every experiment of the registry (run or not) and every published result
    directory of ``preset``, each experiment's own configuration first, then its
    variants. Directories starting with "." (staging, failed runs, locks) are
    never results."""
    root = io.results_root() / preset
    dirs = (
        [
            p
            for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".") and p.name != LESSONS
        ]
        if root.is_dir()
        else []
    )
    by_name: dict[str, list[Path]] = {}
    for d in dirs:
        by_name.setdefault(d.name.partition("@")[0], []).append(d)
    names = list(config.EXPERIMENTS) + sorted(set(by_name) - set(config.EXPERIMENTS))
    out = []
    for name in names:
        found = sorted(by_name.get(name, []), key=lambda d: (d.name != name, d.name))
        if name in config.EXPERIMENTS and root / name not in found:
            found.insert(0, root / name)  # shown as "not run at this preset yet"
        for d in found:
            s = _read_section(name, d)
            if s.found or (name in config.EXPERIMENTS and not s.variant):
                out.append(s)
    return out


# ---------------------------------------------------------------------------
# Text of a section
# ---------------------------------------------------------------------------


def _row(c: dict) -> Row:
    ours = fmt(c.get("reproduced"))
    if c.get("interval"):
        lo, hi = c["interval"]
        kind = f", {c['interval_kind']}" if c.get("interval_kind") else ""
        ours += f" ({fmt(float(lo), 3)}–{fmt(float(hi), 3)}{kind})"
    fragile = c.get("holds_across_interval") is False
    return Row(
        c["statement"],
        fmt(c.get("published")),
        ours,
        str(c.get("criterion") or ""),
        c["verdict"],
        fragile,
        str(c.get("difference") or ""),
    )


def _run_lines(s: Section, preset: str) -> list[str]:
    """How, when and where the run ran, as Markdown sentences."""
    run, data = s.run, s.claims
    if run is None and data is None:
        return []  # both unreadable or absent: the problems above say which
    if run is None:
        where = f"configuration `{data.get('config_hash', '?')}`" if data else ""
        return [
            "Claims written, but no run record: run outside `rnnmem run` or "
            f"interrupted; {where}."
        ]
    how = f"Preset `{run.get('preset', preset)}`"
    if run.get("overrides"):
        how += f", overrides `{json.dumps(run['overrides'], sort_keys=True)}`"
    when = f"started {run.get('started', '?')}"
    if isinstance(run.get("elapsed_s"), int | float):
        when += f", took {run['elapsed_s'] / 60:.1f} min"
    lines = [f"{how}; {when}; configuration `{run.get('config_hash', '?')}`."]
    return lines + [_machine_line(run)] + _data_line(run)


def _machine_line(run: dict) -> str:
    machine, versions = run.get("machine") or {}, run.get("versions") or {}
    if not machine and not versions:
        return (
            f"Ran with Python {run.get('python', '?')}; machine and library versions "
            "not recorded (a run record older than them)."
        )
    parts = [
        str(machine[k]) for k in ("isa", "platform") if machine.get(k) not in (None, "")
    ]
    if machine.get("threads") is not None:
        parts.insert(1 if machine.get("isa") else 0, f"{machine['threads']} threads")
    where = f"{machine.get('cpu') or 'an unrecorded CPU'}" + (
        f" ({', '.join(parts)})" if parts else ""
    )
    libs = [f"Python {run['python']}"] if run.get("python") else []
    libs += [f"{k} {v}" for k, v in sorted(versions.items())]
    return f"Ran on {where} with {', '.join(libs) or 'unrecorded versions'}." + (
        _placed(run.get("where") or {})
    )


def _placed(where: dict) -> str:
    """Where a run's notebook and units ran, when that was a Dask cluster."""
    nb = where.get("notebook") or {}
    units = [u for u in where.get("units") or [] if u.get("worker")]
    if nb.get("executor") != "dask" and not units:
        return ""  # ran here, as the machine line says
    text = ""
    if nb.get("executor") == "dask":
        text += f" The notebook ran on Dask worker {nb.get('name') or nb.get('worker', '?')}"
        text += f" ({nb['host']})." if nb.get("host") else "."
    if units:
        workers = sorted({str(u.get("name") or u["worker"]) for u in units})
        text += f" Its {len(units)} units ran on {len(workers)} Dask worker(s): {', '.join(workers)}."
    return text


def _data_line(run: dict) -> list[str]:
    data = run.get("data") or {}
    if not data:
        return []
    files = [f"`{path}` (sha256 `{str(h)[:12]}…`)" for path, h in sorted(data.items())]
    return [f"Data: {', '.join(files)}."]


def _not_run_text(s: Section, preset: str) -> str:
    text = (
        f"Not run at this preset yet: `rnnmem run {s.experiment} --preset {preset}` "
        f"(notebook `notebooks/{s.notebook}`)."
    )
    exp = config.EXPERIMENTS.get(s.experiment)
    if preset == "paper" and exp is not None and exp.paper_cost:
        text += f" What it costs: {exp.paper_cost}."
    return text


def _stale(s: Section, preset: str) -> str | None:
    """Why a published result is not what this checkout computes (its record's
    fingerprint against today's code, notebook and parameters), or None."""
    if not s.run or s.experiment not in config.EXPERIMENTS:
        return None
    from .runner.plan import record_is_current

    rerun = f"`rnnmem run {s.experiment} --preset {preset}`" + (
        " with the overrides above" if s.run.get("overrides") else ""
    )
    try:
        if record_is_current(s.run, io.results_root()):
            return None
        why = "by other code, notebook or parameters than this checkout's"
    except config.ConfigError as e:
        why = f"with parameters this checkout refuses ({str(e).splitlines()[0]})"
    except Exception as e:  # noqa: BLE001 -- the report never raises on a record
        s.problems.append(f"not checked against this checkout's code: {_reason(e)}")
        return None
    return f"Stale: computed {why}; {rerun} recomputes it."


def _summary_heading(s: Section) -> str:
    return s.heading + (" (stale)" if s.stale else "")


def _summary_cells(s: Section) -> list[str]:
    if s.claims is None:
        state = "unreadable" if s.problems else "—"
        return [state] + ["—"] * len(cl.VERDICTS)
    return [str(v) for v in s.counts().values()] + [str(s.fragile())]


_SUMMARY_HEAD = (
    ["experiment"]
    + [_SHORT_VERDICT.get(v, v) for v in cl.VERDICTS]
    + ["verdict changes within its interval"]
)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

_INTRO = (
    "Published numbers next to ours, one table per result. Verdicts are computed "
    "from the numbers by each notebook (criterion column); `not run at this "
    "preset` means the preset is too small to check that claim; `cannot be "
    "reproduced here` that no preset can (the criterion column says why: data "
    "that is not public, say). Where a number "
    "carries an interval from the repeats, it follows in parentheses, and a "
    f"verdict that is not the same across it is marked *{_NOT_ACROSS}*."
)


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_verdict(r: Row) -> str:
    return r.verdict + (f" ({_NOT_ACROSS})" if r.fragile else "")


def _markdown(preset: str, secs: list[Section]) -> str:
    md = [f"# rnnmem: reproduction report (`{preset}` preset)", "", _INTRO, ""]
    md += [
        "| " + " | ".join(_SUMMARY_HEAD) + " |",
        "|" + " --- |" * len(_SUMMARY_HEAD),
    ]
    md += [
        f"| {_md_cell(_summary_heading(s))} | " + " | ".join(_summary_cells(s)) + " |"
        for s in secs
    ]
    lessons = [s for s in secs if s.lesson]
    if lessons:
        md += [
            "",
            "Lessons with their outputs: "
            + ", ".join(f"[{s.heading}]({s.lesson})" for s in lessons)
            + ".",
        ]
    for s in secs:
        md += ["", f"## {s.heading}", ""]
        for p in [*s.problems, *([s.stale] if s.stale else [])]:
            md += [f"**{p}**", ""]
        if not s.found:
            md.append(_not_run_text(s, preset))
            continue
        for line in _run_lines(s, preset):
            md += [line, ""]
        if s.lesson:
            md += [f"The lesson with its outputs: [{s.lesson}]({s.lesson}).", ""]
        if s.claims:
            md += _md_table(s.rows())
        for fig in s.figures:
            md += ["", f"![{fig.stem}]({_href(fig, io.results_root() / preset)})"]
    return "\n".join(md) + "\n"


def _md_table(rows: list[Row]) -> list[str]:
    out = ["| " + " | ".join(_COLUMNS) + " |", "|" + " --- |" * len(_COLUMNS)]
    for r in rows:
        cells = (
            r.statement,
            r.published,
            r.ours,
            r.criterion,
            _md_verdict(r),
            r.difference,
        )
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return out


def _href(path: Path, base: Path) -> str:
    return urllib.parse.quote(path.relative_to(base).as_posix())


# ---------------------------------------------------------------------------
# HTML (Jinja2 template; prose through mistune)
# ---------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;
margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:90%}
th{background:#f3f3f3;text-align:left}
td.n{text-align:right}
img{max-width:100%}figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.verdict{display:inline-block;padding:1px 6px;border-radius:3px;font-weight:600;
white-space:nowrap}
.v-reproduced{background:#d4edda;color:#155724}
.v-partly{background:#fff3cd;color:#7a5a00}
.v-not-reproduced{background:#f8d7da;color:#721c24}
.v-not-run{background:#e2e3e5;color:#383d41}
.v-cannot{background:#e2e3e5;color:#383d41;font-style:italic}
.fragile{display:block;margin-top:3px;color:#721c24;font-size:85%}
.problem{color:#721c24;font-weight:600}
.run{color:#333}
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rnnmem report ({{ preset }})</title><style>{{ css }}</style></head>
<body>
<h1>rnnmem: reproduction report (<code>{{ preset }}</code> preset)</h1>
{{ intro | md }}
<table id="summary"><thead><tr>
{%- for h in summary_head %}<th>{{ h }}</th>{% endfor -%}
</tr></thead><tbody>
{%- for s in sections %}
<tr><td><a href="#{{ s.anchor }}">{{ summary_heading(s) }}</a></td>
{%- for c in summary(s) %}<td class="n">{{ c }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
{%- if lessons %}
<p>Lessons with their outputs:
{% for s in lessons %}<a href="{{ s.lesson }}">{{ s.heading }}</a>
{%- if not loop.last %}, {% endif %}{% endfor %}.</p>
{%- endif %}
{%- for s in sections %}
<section id="{{ s.anchor }}">
<h2>{{ s.heading }}</h2>
{%- for p in s.problems %}<p class="problem">{{ p }}</p>{% endfor %}
{%- if s.stale %}<p class="problem">{{ s.stale | mdi }}</p>{% endif %}
{%- if not s.found %}
{{ not_run(s) | md }}
{%- else %}
<div class="run">{% for line in run_lines(s) %}{{ line | md }}{% endfor %}</div>
{%- if s.lesson %}
<p>The lesson with its outputs: <a href="{{ s.lesson }}">{{ s.lesson }}</a>.</p>
{%- endif %}
{%- if s.claims %}
<table><thead><tr>
{%- for h in columns %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{%- for r in s.rows() %}
<tr><td>{{ r.statement | mdi }}</td><td>{{ r.published }}</td><td>{{ r.ours }}</td>
<td>{{ r.criterion | mdi }}</td>
<td><span class="verdict v-{{ verdict_class(r.verdict) }}">{{ r.verdict }}</span>
{%- if r.fragile %}<span class="fragile">{{ not_across }}</span>{% endif %}</td>
<td>{{ r.difference }}</td></tr>
{%- endfor %}
</tbody></table>
{%- endif %}
{%- for f in s.figures %}
<figure><img src="{{ href(f) }}" alt="{{ f.stem }}">
<figcaption>{{ f.stem }}</figcaption></figure>
{%- endfor %}
{%- endif %}
</section>
{%- endfor %}
</body></html>
"""


def _verdict_class(verdict: str) -> str:
    return {cl.NOT_RUN: "not-run", cl.CANNOT: "cannot"}.get(
        verdict, verdict.replace(" ", "-")
    )


def _html(preset: str, secs: list[Section]) -> str:
    import jinja2
    import mistune
    from markupsafe import Markup

    render = mistune.create_markdown(escape=True)  # raw HTML in a claim is text

    def inline(text) -> Markup:  # one paragraph, without its <p>
        out = render(str(text)).strip()
        if out.startswith("<p>") and out.endswith("</p>"):
            out = out[3:-4]
        return Markup(out)

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["md"] = lambda text: Markup(render(str(text)))
    env.filters["mdi"] = inline
    root = io.results_root() / preset
    return env.from_string(_TEMPLATE).render(
        preset=preset,
        css=Markup(_CSS),
        intro=_INTRO,
        summary_head=_SUMMARY_HEAD,
        summary=_summary_cells,
        summary_heading=_summary_heading,
        sections=secs,
        lessons=[s for s in secs if s.lesson],
        columns=_COLUMNS,
        not_run=lambda s: _not_run_text(s, preset),
        run_lines=lambda s: _run_lines(s, preset),
        verdict_class=_verdict_class,
        not_across=_NOT_ACROSS,
        href=lambda f: _href(f, root),
    )


# ---------------------------------------------------------------------------
# Published lessons (executed notebooks as HTML)
# ---------------------------------------------------------------------------


def _lesson_name(s: Section) -> str:
    stem = Path(s.notebook).stem
    return f"{stem}@{s.variant}.html" if s.variant else f"{stem}.html"


def publish_lessons(preset: str, secs: list[Section]) -> list[Path]:
    """Render each section's executed notebook to ``lessons/<notebook>.html``;
    remove lessons of results that are gone. Sets ``Section.lesson``.

    A result committed without its executed notebook (a fresh clone: executed
    notebooks stay out of git) keeps the lesson published with it, recognised
    by the result's fingerprint stamped in the page (:func:`lesson_stamp`)."""
    out = io.results_root() / preset / LESSONS
    written = []
    for s in secs:
        nb = s.directory / Path(s.notebook).name if s.notebook else None
        page_path, fp = out / _lesson_name(s), (s.run or {}).get("fingerprint")
        if not s.found:
            continue
        if nb is None or not nb.is_file():
            if fp and page_path.is_file() and lesson_stamp(page_path) == fp:
                written.append(page_path)
                s.lesson = f"{LESSONS}/{urllib.parse.quote(_lesson_name(s))}"
            continue
        try:
            page = render_lesson(nb, title=s.heading, ran_with=_ran_with(s, preset))
        except Exception as e:  # nbformat and nbconvert raise many types
            s.problems.append(f"lesson not rendered: {_shown(nb)} ({_reason(e)})")
            continue
        page, css = shared_style(page)
        if fp:
            meta = f'<meta name="{_STAMP}" content="{html.escape(str(fp))}">\n'
            page = page.replace("</head>", meta + "</head>", 1)
        written += [
            _write(io.results_root() / STATIC / css_name(css), css),
            _write(page_path, page),
        ]
        s.lesson = f"{LESSONS}/{urllib.parse.quote(_lesson_name(s))}"
    if out.is_dir():
        for old in [*out.glob("*.html"), *out.glob("*.css")]:
            if old not in written:
                old.unlink()
    _prune_styles()
    return written


_STAMP = "rnnmem-result"  # <meta name=...>: the fingerprint of the lesson's result
_STAMP_RE = re.compile(rf'<meta name="{_STAMP}" content="([^"]*)">')


def lesson_stamp(page: Path) -> str | None:
    """The fingerprint of the result a published lesson was rendered from."""
    head = page.read_text(errors="replace").partition("</head>")[0]
    m = _STAMP_RE.search(head)
    return html.unescape(m.group(1)) if m else None


# Lessons of every preset share their stylesheet in the results root: the
# theme is some 250 kB, the same for all (``results/_static/lesson-<hash>.css``).
STATIC = "_static"


def _style_href(name: str) -> str:
    """A lesson's link to a shared stylesheet (lessons sit in <preset>/lessons/)."""
    return f"../../{STATIC}/{name}"


def _prune_styles() -> None:
    """Remove the stylesheets no lesson of any preset links to any more."""
    static = io.results_root() / STATIC
    link = re.compile(re.escape(_style_href("")) + r'([^"]+\.css)"')
    linked = {
        m
        for page in io.results_root().glob(f"*/{LESSONS}/*.html")
        for m in link.findall(page.read_text())
    }
    for css in static.glob("*.css") if static.is_dir() else ():
        if css.name not in linked:
            css.unlink()


_HEAD_STYLE = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)


def css_name(css: str) -> str:
    """``lesson-<hash>.css``: pages rendered alike share one file; a changed
    theme gets a file of its own, so a page never links to another's style."""
    return f"lesson-{hashlib.sha256(css.encode()).hexdigest()[:10]}.css"


def shared_style(page: str) -> tuple[str, str]:
    """Move the ``<style>`` blocks of the page's head (nbconvert's theme, some
    250 kB, the same in every lesson) to one stylesheet the lessons share;
    styles inside the body (a table's own) stay where they are."""
    head, sep, body = page.partition("</head>")
    css = "\n".join(
        m.group(0).split(">", 1)[1].rsplit("</style>", 1)[0]
        for m in _HEAD_STYLE.finditer(head)
    )
    link = f'<link rel="stylesheet" href="{_style_href(css_name(css))}">\n'
    return _HEAD_STYLE.sub("", head) + link + sep + body, css


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# JupyterLab's page without require.js (fetched from a CDN, only for widgets,
# which the lessons do not use) and without the mermaid loader (some 420 lines
# of script in every page, which would fetch mermaid from a CDN for diagrams
# the lessons do not have); MathJax stays for the equations.
_LESSON_TEMPLATE = "rnnmem_lesson.html.j2"
_LESSON_J2 = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def _ran_with(s: Section, preset: str) -> str:
    run = s.run or {}
    text = f"This lesson ran at preset `{run.get('preset', preset)}`"
    if run.get("overrides"):
        text += f" with overrides `{json.dumps(run['overrides'], sort_keys=True)}`"
    return f"*{text}: the runner's parameters, which replace the defaults above.*"


def render_lesson(notebook: Path, title: str = "", ran_with: str = "") -> str:
    """One executed notebook as a standalone HTML page for a reader.

    Drops papermill's injected-parameters cell (it holds the runner's
    ``out_dir``; ``ran_with``, Markdown, takes its place), stderr streams (library warnings, which print installation
    paths) and widget outputs (tqdm's progress bars: saved without their state
    they read "0%", and they pull widget scripts from a CDN); any machine path
    left in an output is written relative to the repository, the results or
    the home directory.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)
    injected = [
        i
        for i, c in enumerate(nb.cells)
        if "injected-parameters" in c.metadata.get("tags", [])
    ]
    if injected and ran_with:  # say what the removed cell set, without its paths
        # a fixed id: nbformat draws a random one, and the page would differ
        # at every rebuild of the same result
        cell = nbformat.v4.new_markdown_cell(ran_with, id="rnnmem-ran-with")
        nb.cells.insert(injected[0], cell)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [_scrubbed(o) for o in cell.outputs if not _noise(o)]
    exporter = HTMLExporter(
        template_name="lab",
        template_file=_LESSON_TEMPLATE,
        extra_loaders=[jinja2.DictLoader({_LESSON_TEMPLATE: _LESSON_J2})],
        embed_images=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"injected-parameters"}), enabled=True
    )
    meta = {"name": title or notebook.stem}
    # nbconvert warns for every figure without alt text (and fills one in);
    # matplotlib outputs never have one, so the warning is noise here.
    level = exporter.log.level
    exporter.log.setLevel(logging.ERROR)
    try:
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": meta})
    finally:
        exporter.log.setLevel(level)
    return body


def _noise(output) -> bool:
    widget = any(m.startswith(_WIDGET) for m in output.get("data") or {})
    return widget or output.get("name") == "stderr"


_WIDGET = "application/vnd.jupyter.widget"


def _machine_paths() -> list[tuple[str, str]]:
    """Absolute prefixes and what a published page says instead, longest first."""
    pairs = [
        (str(io.results_root().resolve()), "results"),
        (str(io.REPO_ROOT), "."),
        (sys.prefix, "<python>"),
        (str(Path.home()), "~"),
    ]
    pairs = [(a, b) for a, b in pairs if a not in ("", "/")]
    return sorted(set(pairs), key=lambda p: -len(p[0]))


def _scrubbed(output):
    def clean(text: str) -> str:
        for prefix, short in _machine_paths():
            text = text.replace(prefix + os.sep, short + "/").replace(prefix, short)
        return text

    if "text" in output:
        output["text"] = clean(output["text"])
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("text/") and isinstance(value, str):
            output["data"][mime] = clean(value)
    return output


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def build(preset: str, lessons: bool = True) -> tuple[Path, Path]:
    """Write REPORT.md and REPORT.html for ``preset`` (and its lessons); return
    the two paths. Raises :class:`NoResultsError` when nothing was published."""
    root = io.results_root() / preset
    secs = sections(preset)
    if not any(s.found for s in secs):
        raise NoResultsError(
            f"no results for preset {preset!r} in {root}: run "
            f"`rnnmem run --preset {preset}` first"
        )
    for s in secs:
        s.stale = _stale(s, preset)
    if lessons:
        publish_lessons(preset, secs)
    md_path = _write(root / "REPORT.md", _markdown(preset, secs))
    html_path = _write(root / "REPORT.html", _html(preset, secs))
    return md_path, html_path


def _write(path: Path, text: str) -> Path:
    """Atomically, in UTF-8 whatever the locale (the pages hold "—" and "…")."""
    with io.atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
