"""The connectivity explorer as a reader sees it: Debian's chromium, headless,
driven by Playwright with ``executable_path`` (Playwright's own browser download
cannot be fetched here). Skipped, with the reason shown by ``pytest -ra``, where
no browser or no playwright can be had; ``make test`` runs ``make browser``
first, so CI always runs it."""

from pathlib import Path

import numpy as np
import pytest
from test_connectivity import CharModel

from rnnmem_utils import explorer
from rnnmem_utils.analysis import connectivity as conn

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WORDS = ["<eos>", "<unknown>", "the", "study", "of", "grammar", "is", "a", "formal"]
SIZES = (len(explorer.ALPHABET), 8, 8, len(WORDS))
TEXT = "the formal study of grammar is a study of the formal grammar"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (`make browser` installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no browser driver: playwright is not installed (pip '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def shown_values(page) -> list[str]:
    return page.eval_on_selector_all("#text span.ch", "ss => ss.map(s => s.dataset.v)")


def expected(model, t) -> list[str]:
    """What the page must show at position t: thousandths of row t up to t."""
    _, inputs, targets = explorer.align(TEXT, WORDS)
    row = conn.connectivity(model, inputs, targets)[t]
    n = len(inputs)
    return [str(int(np.rint(row[s] * 1000))) if s <= t else "" for s in range(n)]


def test_hover_click_and_switch_models(browser, tmp_path):
    models = {
        "GRU": CharModel("gru", sizes=SIZES, seed=1),
        "LSTM": CharModel("lstm", sizes=SIZES, seed=2),
    }
    path = tmp_path / "explorer.html"
    explorer.page(models, TEXT, words=WORDS, path=path, title="Explorer test")

    page = browser.new_page(viewport={"width": 900, "height": 500})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request", lambda r: None if r.url.startswith("file:") else errors.append(r.url)
    )
    page.goto(path.as_uri(), wait_until="load")
    n = len(" " + TEXT)
    assert page.eval_on_selector_all("#text span.ch", "ss => ss.length") == n
    assert set(shown_values(page)) == {""}, "nothing highlighted before a hover"

    spans = page.locator("#text span.ch")
    spans.nth(40).hover()
    assert shown_values(page) == expected(models["GRU"], 40)
    first = shown_values(page)
    spans.nth(50).hover()
    assert shown_values(page) == expected(models["GRU"], 50) != first
    bg = page.eval_on_selector_all(
        "#text span.ch", "ss => ss.map(s => getComputedStyle(s).backgroundColor)"
    )
    assert len(set(bg[:51])) > 3 and set(bg[51:]) == {"rgba(0, 0, 0, 0)"}
    panel = page.inner_text("#panel")
    target = WORDS[explorer.align(TEXT, WORDS)[2][50]]
    assert "GRU, position 50" in panel and f"target word: {target}" in panel
    top = conn.top_k(conn.logits(models["GRU"], explorer.align(TEXT, WORDS)[1]), WORDS)
    rows = page.eval_on_selector_all(
        "#suggestions tr", "rs => rs.map(r => r.cells[0].innerText)"
    )
    assert rows == [w for w, _ in top[50]]

    spans.nth(50).click()  # lock: moving away keeps position 50
    spans.nth(10).hover()
    page.click("#models >> text=LSTM")
    assert "LSTM, position 50" in page.inner_text("#panel")
    assert shown_values(page) == expected(models["LSTM"], 50)
    assert page.get_attribute("#models button.active", "data-key") == "1"
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    assert (tmp_path / "explorer.png").stat().st_size > 1000
    assert errors == []
    page.close()
