"""REPORT.html and a lesson as a reader sees them: Debian's chromium, headless,
driven by Playwright (tests/report_tree.py builds the results).

Never skipped: without /usr/bin/chromium this test fails and says `make browser`
(Playwright's own browser download is not used; it cannot be fetched here).
"""

from pathlib import Path

import pytest
from report_tree import PRESET, make_tree

from rnnmem_utils import report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (as root it installs "
            "Debian's chromium with apt-get)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: pip install -e '.[dev]'", pytrace=False
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _open(browser, path: Path):
    """Load ``path``; return the page and the console errors it raised."""
    page = browser.new_page()
    errors = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors


def _broken_images(page) -> list[str]:
    return page.eval_on_selector_all(
        "img",
        "is => is.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)",
    )


def test_report_page_in_headless_chromium(browser, results_root):
    make_tree(results_root)
    _, html = report.build(PRESET)
    page, errors = _open(browser, html)

    rows = page.eval_on_selector_all(
        "#summary tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))"
    )
    titles = [r[0] for r in rows]
    assert titles == [s.heading for s in report.sections(PRESET)]
    assert titles[-1] == "E4 What PTB language models remember", (
        "the last experiment is shown"
    )
    assert not [r for r in rows if any(set(c.strip()) <= set("-: ") for c in r)]

    assert page.eval_on_selector_all("img", "is => is.length") == 1
    assert _broken_images(page) == []
    assert errors == []

    text = page.inner_text("body")
    assert "`" not in text, "inline code is rendered, not shown as backticks"
    assert page.inner_text("section#foundations table code") == "L = 25"
    labels = page.eval_on_selector_all(
        ".verdict",
        "vs => vs.map(v => [v.innerText, getComputedStyle(v).backgroundColor])",
    )
    assert {t for t, _ in labels} >= {"reproduced", "partly", "not reproduced"}
    assert all(bg != "rgba(0, 0, 0, 0)" for _, bg in labels), "each has its colour"
    assert page.is_visible("text=changes within its interval")
    assert "unreadable: results/smoke/cycles/claims.json" in text

    # the summary's links land on their sections, the lesson link on its page
    page.click("#summary >> text=E1 Information latching @ cells=gru,repeats=30")
    assert page.url.endswith("#latching--cells=gru-repeats=30")
    page.click("text=lessons/01_information_latching.html")
    page.wait_for_load_state("load")
    assert page.url.endswith("lessons/01_information_latching.html")
    assert _broken_images(page) == []
    body = page.inner_text("body")
    assert "The latch lesson" in body and "/work/" not in body
    assert 'out_dir = "' not in body, "papermill's injected cell is gone"
    page.close()
