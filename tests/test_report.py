"""The report: layout, values, intervals, run records, robustness, lessons.

Every test builds its own results tree (tests/report_tree.py) in a temporary
directory; none reads the committed results. The page in a real browser is
tests/test_report_browser.py.
"""

import json
import re
from html.parser import HTMLParser

import pytest
from report_tree import BENGIO, LONG, PRESET, make_tree

import rnnmem_utils as rm
from rnnmem_utils import cli, io, report


@pytest.fixture
def tree(results_root):
    return make_tree(results_root)


@pytest.fixture
def built(tree):
    md, html = report.build(PRESET)
    return tree, md.read_text(), html.read_text()


# --- values ---------------------------------------------------------------


def test_fmt_shows_a_ten_entry_dictionary_whole():
    # the Bengio row used to stop at 80: 90 and 100 went missing without a mark
    text = report.fmt(BENGIO)
    assert text.startswith("10: 0.36") and text.endswith("90: 0.04, 100: 0")
    assert "…" not in text


def test_fmt_cuts_long_values_with_an_ellipsis_and_a_count():
    assert report.fmt(LONG).endswith("k11: 11, … (18 more)")
    assert report.fmt(list(range(20))) == (
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, … (8 more)]"
    )
    assert report.fmt(list(range(12))).endswith("11]")


def test_fmt_scalars():
    assert report.fmt(None) == "—"
    assert report.fmt(True) == "yes"
    assert report.fmt(float("nan")) == "nan"
    assert report.fmt(0.123456) == "0.1235"


# --- layout ---------------------------------------------------------------


def test_sections_follow_the_registry_then_variants_and_skip_dot_dirs(tree):
    secs = report.sections(PRESET)
    names = list(rm.config.EXPERIMENTS)  # registry order, a variant after its base
    names.insert(names.index("latching") + 1, "latching@cells=gru,repeats=30")
    assert [s.directory.name for s in secs] == names
    assert [s.variant for s in secs][2] == "cells=gru,repeats=30"
    assert not secs[3].found, "bit_relay has only hidden partial runs"


def test_an_experiment_the_registry_does_not_know_is_still_shown(tree):
    (tree / "extra").mkdir()
    (tree / "extra" / "claims.json").write_text(
        (tree / "latching@cells=gru,repeats=30" / "claims.json").read_text()
    )
    (tree / "notes").mkdir()  # a folder without records is not a result
    names = [s.directory.name for s in report.sections(PRESET)]
    assert names[-1] == "extra" and "notes" not in names


def test_summary_has_one_row_per_section_and_hidden_runs_never_count(built):
    _, md, html = built
    summary = md.split("\n## ")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(rm.config.EXPERIMENTS) + 1  # head, rule, each, variant
    assert rows[0].startswith("| experiment | reproduced | partly")
    assert (
        "| E1 Information latching @ cells=gru,repeats=30 | 1 | 0 | 0 | 0 | 0 | 0 |"
        in md
    )
    assert "| Foundations: how RNNs remember and forget | 3 | 0 | 0 | 0 | 0 | 1 |" in md
    assert "| E2 Bit relay | — | — | — | — | — | — |" in md
    assert "| E3 Synthetic cycles | unreadable |" in md
    assert "HIDDEN PARTIAL RUN" not in md + html
    assert md.index("## E1 Information latching\n") < md.index(
        "## E1 Information latching @ cells=gru,repeats=30"
    )


def test_figures_are_linked_relative_and_temporary_files_are_not(built):
    _, md, html = built
    assert "![success_vs_length](latching/figures/success_vs_length.png)" in md
    assert 'src="latching/figures/success_vs_length.png"' in html
    assert ".tmp-" not in md + html


# --- claims, intervals, run records ----------------------------------------


def test_intervals_are_shown_and_fragile_verdicts_flagged(built):
    _, md, html = built
    row = next(line for line in md.splitlines() if "latches at" in line)
    assert "| 0.51 (0.237–0.763, 95% Wilson over 10 runs) |" in row
    assert "reproduced (changes within its interval)" in row
    row = next(line for line in md.splitlines() if "falls with length" in line)
    assert "0.313 (0.31–0.5, 95% bootstrap over 10 seeds)" in row
    assert "changes within" not in row, "holds across its interval"
    assert html.count('class="fragile"') == 1


def test_verdicts_read_as_text_labels_without_emoji(built):
    _, md, html = built
    for mark in "✅❌🟡⏸":
        assert mark not in md + html
    assert '<span class="verdict v-partly">partly</span>' in html
    assert '<span class="verdict v-not-run">not run at this preset</span>' in html
    assert ".v-not-reproduced{" in html, "each label has its colour"


def test_bengio_row_keeps_90_and_100(built):
    _, md, _ = built
    row = next(line for line in md.splitlines() if "Bengio" in line)
    assert "90: 0.04, 100: 0" in row


def test_a_pipe_in_a_claim_stays_in_its_cell(built):
    _, md, _ = built
    row = next(line for line in md.splitlines() if "stays in its cell" in line)
    assert row.count(" | ") == 5, row  # six cells, the escaped pipes are no border


def test_run_record_says_where_and_with_what(built):
    _, md, html = built
    assert (
        "Ran on Intel Xeon Platinum 8480C (AVX512, 2 threads, Linux-6.1-x86_64) "
        "with Python 3.11.7, numpy 1.26.4, torch 2.13.0." in md
    )
    assert "Data: `text8/text8.prefix` (sha256 `0123456789ab…`)." in md
    assert "machine and library versions not recorded" in md  # the old record
    assert 'overrides `{"cells": ["gru"], "repeats": 30}`' in md
    assert "AVX512, 2 threads" in html


# --- robustness -------------------------------------------------------------


def test_a_truncated_claims_file_is_shown_as_unreadable(built):
    _, md, html = built
    line = next(line for line in md.splitlines() if "unreadable:" in line)
    assert line.startswith("**unreadable: results/smoke/cycles/claims.json (")
    assert "Expecting" in line and "Traceback" not in md
    assert "unreadable: results/smoke/cycles/claims.json" in html


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("run.json", "", "Expecting value"),
        ("run.json", "[1, 2]", "not a JSON object"),
        ("run.json", '{"elapsed_s": "soon"}', "elapsed_s is 'soon'"),
        ("run.json", '{"machine": "x86"}', "machine is 'x86'"),
        ("claims.json", '{"claims": {}}', "no list of claims"),
        ("claims.json", '{"claims": [{"statement": "s"}]}', "claim 1 has verdict None"),
        ("claims.json", b"\xff\xfe{", "codec"),
        ("claims.json", '{"claims": [1]}', "claim 1 has no statement"),
    ],
)
def test_malformed_records_never_raise(tree, name, text, reason):
    path = tree / "latching" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    md, _ = report.build(PRESET, lessons=False)
    line = next(x for x in md.read_text().splitlines() if f"latching/{name}" in x)
    assert f"unreadable: results/{PRESET}/latching/{name} (" in line
    assert reason in line


def test_no_results_is_an_error(results_root, capsys):
    with pytest.raises(report.NoResultsError, match="no results for preset 'smoke'"):
        report.build(PRESET)
    # partial runs in hidden folders are not results either
    (results_root / PRESET / ".staging" / "latching").mkdir(parents=True)
    (results_root / PRESET / ".staging" / "latching" / "claims.json").write_text("{}")
    with pytest.raises(report.NoResultsError):
        report.build(PRESET)
    assert cli.main(["report", "--preset", PRESET]) == 1
    err = capsys.readouterr().err
    assert "rnnmem: error: no results" in err and "rnnmem run --preset smoke" in err
    assert not (results_root / PRESET / "REPORT.md").exists()


# --- HTML -------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of each cell of the summary table."""

    def __init__(self):
        super().__init__()
        self.rows, self._in, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "summary") in attrs:
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_html_summary_has_every_section_and_no_separator_row(built):
    _, _, html = built
    parser = _Tables()
    parser.feed(html)
    titles = [r[0] for r in parser.rows[1:]]
    want = [e.title for e in rm.config.EXPERIMENTS.values()]
    want.insert(2, "E1 Information latching @ cells=gru,repeats=30")
    assert titles == want
    assert not any(set(c) <= set("-: ") for r in parser.rows for c in r)


def test_html_renders_inline_code_and_escapes_raw_html(tree):
    f = tree / "foundations" / "claims.json"
    data = json.loads(f.read_text())
    data["claims"][2]["statement"] = "A <script>alert(1)</script> in `code`"
    f.write_text(json.dumps(data))
    _, html = report.build(PRESET, lessons=False)
    text = html.read_text()
    assert "<code>L = 25</code>" in text and "<code>code</code>" in text
    assert "<code>smoke</code>" in text, "the run line's inline code"
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert not re.search(r"`[^`<]+`", re.sub(r"<[^>]+>", "", text))


# --- lessons ----------------------------------------------------------------


def test_lessons_are_published_without_machine_paths(built, tmp_path):
    tree, md, html = built
    page = tree / "lessons" / "01_information_latching.html"
    assert page.exists()
    text = page.read_text()
    assert "data:image/png;base64," in text, "figures travel inside the page"
    assert "<code>latch</code>" in text
    assert "This lesson ran at preset <code>smoke</code>" in text
    assert "out_dir = &quot;" not in text and "injected-parameters" not in text
    assert "UserWarning" not in text, "stderr noise dropped"
    assert "it/s" not in text, "progress bars dropped"
    assert "widget-view" not in text and "widget-state" not in text
    assert "unpkg.com" not in text, "no widget scripts fetched"
    for machine in ("/work/", "/home/", str(tmp_path), str(io.REPO_ROOT)):
        assert machine not in text, machine
    assert "wrote results/smoke/latching/figures/a.png" in text
    assert "require.min.js" not in text
    assert "mermaid" not in text, "no diagram loader for diagrams a lesson lacks"
    link = "lessons/01_information_latching.html"
    assert f"]({link})" in md and f'href="{link}"' in html
    assert len(text) < 400_000, "the page is the lab CSS plus the images"
    # the stylesheet it links exists, shared by every preset's lessons
    (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', text)
    assert href.startswith("../../_static/") and (page.parent / href).is_file()
    assert not list((tree / "lessons").glob("*.css"))


def test_a_lesson_of_a_variant_has_its_own_page_and_stale_ones_go(built):
    tree, _, _ = built
    var = tree / "latching@cells=gru,repeats=30"
    (var / "01_information_latching.ipynb").write_bytes(
        (tree / "latching" / "01_information_latching.ipynb").read_bytes()
    )
    (tree / "latching" / "01_information_latching.ipynb").unlink()
    record = json.loads((tree / "latching" / "run.json").read_text())
    record["fingerprint"] = "a rerun without its notebook"
    (tree / "latching" / "run.json").write_text(json.dumps(record))
    md, _ = report.build(PRESET)
    pages = sorted(p.name for p in (tree / "lessons").glob("*.html"))
    assert pages == ["01_information_latching@cells=gru,repeats=30.html"]
    assert "lessons/01_information_latching%40cells%3Dgru%2Crepeats%3D30.html" in (
        md.read_text()
    )


def test_a_fresh_clone_keeps_the_lessons_committed_with_its_results(built):
    """Executed notebooks stay out of git: in a fresh clone the report is
    rebuilt from the committed results alone, and must keep the lesson
    published with each of them (it once deleted every lesson)."""
    tree, md, _ = built
    page = tree / "lessons" / "01_information_latching.html"
    first = page.read_bytes()
    record = json.loads((tree / "latching" / "run.json").read_text())
    assert report.lesson_stamp(page) == record["fingerprint"]
    (tree / "latching" / "01_information_latching.ipynb").unlink()  # a fresh clone
    md2, _ = report.build(PRESET)
    assert page.read_bytes() == first
    assert "](lessons/01_information_latching.html)" in md2.read_text()
    assert md2.read_text() == md
    (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', first.decode())
    assert (page.parent / href).is_file(), "its stylesheet is kept too"


def test_a_result_from_other_code_or_parameters_is_marked_stale(tree):
    """A result committed and then left behind by a code or parameter change
    is shown with its numbers, marked stale, with the command that recomputes
    it; the tree's records are current (report_tree writes them so)."""
    md = report.build(PRESET, lessons=False)[0].read_text()
    assert "(stale)" not in md and "Stale:" not in md
    record = json.loads((tree / "latching" / "run.json").read_text())
    (tree / "latching" / "run.json").write_text(
        json.dumps({**record, "fingerprint": "0" * 16})
    )
    variant = tree / "latching@cells=gru,repeats=30" / "run.json"
    old = json.loads(variant.read_text())
    variant.write_text(json.dumps({**old, "overrides": {"cells": ["lstmx"]}}))
    md_path, html_path = report.build(PRESET, lessons=False)
    md, page = md_path.read_text(), html_path.read_text()
    assert "| E1 Information latching (stale) | 0 | 1 | 1 |" in md
    assert (
        "**Stale: computed by other code, notebook or parameters than this "
        "checkout's; `rnnmem run latching --preset smoke` recomputes it.**" in md
    )
    assert "Stale: computed with parameters this checkout refuses (" in md
    assert "with the overrides above recomputes it" in md
    assert "Foundations: how RNNs remember and forget (stale)" not in md
    assert page.count('<p class="problem">Stale: computed') == 2
    assert "E1 Information latching (stale)</a>" in page


def test_a_broken_notebook_is_reported_not_raised(tree):
    (tree / "latching" / "01_information_latching.ipynb").write_text("{")
    md, _ = report.build(PRESET)
    assert (
        "lesson not rendered: results/smoke/latching/01_information_latching.ipynb"
        in (md.read_text())
    )


def test_save_figure_returns_nothing_to_print(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnmem_utils import plotting

    fig = plt.figure(figsize=(1, 1))
    assert plotting.save_figure(fig, tmp_path, "f") is None
    plt.close(fig)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "f.png",
        "f.svg",
    ]


@pytest.mark.slow
def test_a_lesson_from_a_real_papermill_run_shows_no_machine_path(toy, tmp_path):
    from rnnmem_utils import runner

    runner.run_one("toy", "smoke")
    executed = (tmp_path / "results" / PRESET / "toy" / "toy.ipynb").read_text()
    assert "injected-parameters" in executed and str(tmp_path) in executed
    report.build(PRESET)
    page = (tmp_path / "results" / PRESET / "lessons" / "toy.html").read_text()
    assert "Toy experiment (tests only)" in page
    assert "dataframe" in page, "the run's outputs are in the lesson"
    for machine in ("/work/", "/home/", str(tmp_path), "injected-parameters"):
        assert machine not in page, machine


def test_lessons_share_one_stylesheet_and_keep_body_styles():
    head = '<html><head><style type="text/css">a{color:red}</style>\n<title>t</title>'
    body = "<style scoped>td{x:1}</style><p>hi</p></body></html>"
    page, css = report.shared_style(head + "</head><body>" + body)
    assert css == "a{color:red}" and "color:red" not in page
    href = f"../../_static/{report.css_name(css)}"  # one file for every preset
    assert f'<link rel="stylesheet" href="{href}">' in page
    assert body in page, "a table's own style stays in the body"


def test_a_cluster_run_says_where_it_ran():
    where = {
        "notebook": {"executor": "dask", "name": "w-1", "host": "node7"},
        "units": [
            {"worker": "tcp://a:1", "name": "w-1"},
            {"worker": "tcp://b:2", "name": "w-2"},
        ],
    }
    text = report._placed(where)
    assert "notebook ran on Dask worker w-1 (node7)" in text
    assert "2 units ran on 2 Dask worker(s): w-1, w-2" in text
    assert report._placed({"notebook": {"executor": "local", "host": "x"}}) == ""


def test_paper_results_not_run_say_what_they_cost(results_root):
    """An experiment not yet run at `paper` says what the run needs (issue 10)."""
    where = results_root / "paper" / "ptb_memory"
    sec = report.Section("ptb_memory", "E4", "", where, "04_ptb_memory.ipynb")
    text = report._not_run_text(sec, "paper")
    assert "rnnmem run ptb_memory --preset paper" in text
    assert "What it costs: about 20 CPU-hours" in text
    assert "What it costs" not in report._not_run_text(sec, "default")


def test_rebuilding_a_lesson_gives_the_same_page(built):
    """The page depends on the result only: a rebuild of the same notebook
    (the report is rebuilt after every run) must not churn the committed page
    (the inserted "ran with" cell once drew a random cell id each time)."""
    tree, _, _ = built
    page = tree / "lessons" / "01_information_latching.html"
    first = page.read_bytes()
    report.build(PRESET)
    assert page.read_bytes() == first


def test_save_figure_gives_the_same_bytes_in_another_process(tmp_path):
    """A rerun that changes nothing changes no committed figure: no date in the
    SVG, element ids from a fixed salt (a fresh interpreter, as a rerun is)."""
    import subprocess
    import sys

    script = (
        "import matplotlib, sys; matplotlib.use('Agg');"
        "import matplotlib.pyplot as plt; from rnnmem_utils import plotting;"
        "plotting.set_theme(); fig, ax = plt.subplots(); ax.plot([1, 3, 2]);"
        "ax.set_title('t'); plotting.save_figure(fig, sys.argv[1], 'f')"
    )
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run)], check=True)
    for fmt in ("png", "svg"):
        a, b = (tmp_path / r / "figures" / f"f.{fmt}" for r in "ab")
        assert a.read_bytes() == b.read_bytes(), fmt
    assert "<dc:date>" not in (tmp_path / "a" / "figures" / "f.svg").read_text()
