"""The connectivity explorer's page: structure, self-containment, and that its
embedded data are the library's connectivity and suggestions."""

import json
import re

import numpy as np
import pytest
from test_connectivity import CharModel

from rnnmem_utils import explorer
from rnnmem_utils.analysis import connectivity as conn

WORDS = ["<eos>", "<unknown>", "the", "study", "of", "grammar", "is", "a", "formal"]
SIZES = (len(explorer.ALPHABET), 8, 8, len(WORDS))
TEXT = "the formal study of grammar is a study"


def models():
    return {
        "GRU": CharModel("gru", sizes=SIZES, seed=1),
        "LSTM": CharModel("lstm", sizes=SIZES, seed=2),
    }


def embedded(html: str) -> dict:
    m = re.search(
        r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S
    )
    return json.loads(m.group(1))


def test_align_follows_the_posts_encoding():
    shown, inputs, targets = explorer.align("the  grammar\nzebra", WORDS)
    assert shown == " the grammar zebra"
    assert inputs[:4] == [1, 21, 9, 6]  # space, t, h, e
    assert targets == [2] * 4 + [5] * 8 + [1] * 6  # zebra -> <unknown>
    with pytest.raises(ValueError, match=r"\['!', 'T'\]"):
        explorer.align("The end!", WORDS)
    with pytest.raises(ValueError, match="no words"):
        explorer.align("   ", WORDS)


def test_payload_equals_computed_connectivity_and_suggestions():
    ms = models()
    data = explorer.payload(ms, TEXT, words=WORDS, k=2)
    (entry,) = data["texts"]
    shown, inputs, targets = explorer.align(TEXT, WORDS)
    assert entry["text"] == shown and data["models"] == ["GRU", "LSTM"]
    assert entry["targets"] == [WORDS[t] for t in targets]
    for name, model in ms.items():
        want = conn.connectivity(model, inputs, targets)
        rows = entry["models"][name]["conn"]
        assert [len(r) for r in rows] == list(range(1, len(shown) + 1))
        for t, row in enumerate(rows):
            np.testing.assert_allclose(
                np.array(row) / 1000, want[t, : t + 1], atol=5e-4
            )
            assert max(row) == 1000, "each row is scaled to its maximum"
        top = conn.top_k(conn.logits(model, inputs), WORDS, k=2)
        got = entry["models"][name]["suggest"]
        assert [[w for w, _ in r] for r in got] == [[w for w, _ in r] for r in top]
        assert got[5][0][1] == pytest.approx(top[5][0][1], abs=5e-4)


def test_page_is_self_contained_and_escaped(tmp_path):
    path = tmp_path / "sub" / "explorer.html"
    html = explorer.page(
        models(), [TEXT, "a grammar zebra"], words=WORDS, title="<GRU> & co", path=path
    )
    assert path.read_text() == html
    assert "&lt;GRU&gt; &amp; co" in html and "<GRU>" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    data = embedded(html)
    assert [t["text"] for t in data["texts"]] == [" " + TEXT, " a grammar zebra"]
    assert data["texts"][1]["targets"][-1] == "<unknown>"
    assert "<unknown>" not in html and "\\u003cunknown\\u003e" in html
    assert data["norm"] == "squared L2 norm"
    assert len(html) < 40_000, "small pages: lower triangle, 3 decimals"


def test_suggestions_given_or_computed_by_a_callable():
    ms = models()
    n = len(" a grammar")
    fixed = {name: [["grammar", ("a", 0.51234)]] * n for name in ms}
    data = explorer.payload(ms, "a grammar", words=WORDS, suggest=fixed)
    assert data["texts"][0]["models"]["GRU"]["suggest"][0] == [
        ["grammar", None],
        ["a", 0.512],
    ]

    def by_hand(name, model, tokens):
        return [[(name.lower(), 1.0)]] * len(tokens)

    data = explorer.payload(ms, ["a grammar"], words=WORDS, suggest=by_hand)
    assert data["texts"][0]["models"]["LSTM"]["suggest"][3] == [["lstm", 1.0]]
    with pytest.raises(ValueError, match="positions"):
        explorer.payload(ms, "a", words=WORDS, suggest={k: [] for k in ms})


def test_l2_norm_bad_input_and_non_causal_models():
    ms = models()
    data = explorer.payload(ms, "a study", words=WORDS, norm="l2")
    shown, inputs, targets = explorer.align("a study", WORDS)
    want = conn.connectivity(ms["GRU"], inputs, targets, norm="l2")
    got = data["texts"][0]["models"]["GRU"]["conn"][-1]
    np.testing.assert_allclose(np.array(got) / 1000, want[-1], atol=5e-4)
    with pytest.raises(ValueError, match="options are"):
        explorer.payload(ms, "a", words=WORDS, norm="max")
    with pytest.raises(ValueError, match="at least one"):
        explorer.payload({}, "a", words=WORDS)
    with pytest.raises(ValueError, match="not causal"):
        explorer.lower_triangle(np.ones((3, 3)))


def test_show_wraps_the_page_in_an_iframe():
    pytest.importorskip("IPython")
    out = explorer.show({"GRU": models()["GRU"]}, "a", words=WORDS, height=300)
    assert out.data.startswith("<div><iframe srcdoc=") and "300px" in out.data
    assert "<script" not in out.data, "the page is escaped inside srcdoc"
