"""Figure 7 (E4): memory curves of the WikiText-2 models on held-out WikiText-2
text, their claims and figures, end to end on a tiny synthetic WikiText-2
(the real train split is not in the data mirror); and "not run" where the
preset has no WikiText-2 model."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from rnnmem_utils import claims as cl
from rnnmem_utils import config, plotting
from rnnmem_utils.analysis import memory as mem
from rnnmem_utils.data import wikitext
from rnnmem_utils.experiments.ptb_memory import analyses, units, zoo
from rnnmem_utils.experiments.ptb_memory import claims as make
from rnnmem_utils.experiments.ptb_memory import wikitext_memory as wm
from rnnmem_utils.plotting import ptb_memory as pp

FIG7 = ("fig7a_close_short", "fig7a_wiki2_larger_long", "fig7a_selectiveness",
        "fig7b_512_higher", "fig7b_gain_above_ptb", "fig7b_selectiveness")  # fmt: skip
TINY = {  # seconds of work: small embedding, short unroll, few tokens
    "variants": ["lstm256", "lstm512", "wiki2_256", "wiki2_512"],
    "embedding_size": 8, "batch_size": 4, "seq_len": 20, "train_tokens": 2000,
    "eval_tokens": 400, "max_delay": 14, "positions": 1600, "gradient_streams": 8,
    "bootstrap": 50,
}  # fmt: skip


def _text(rng, n_lines, words) -> str:
    """WikiText-like lines (a leading space, tokens, blank lines between
    paragraphs), words drawn with Zipf-like frequencies."""
    p = 1 / np.arange(1, len(words) + 1)
    lines = []
    for i in range(n_lines):
        n = rng.integers(4, 16)
        lines.append(" " + " ".join(rng.choice(words, size=n, p=p / p.sum())) + " ")
        if i % 7 == 6:
            lines.append(" ")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_wiki(tmp_path, monkeypatch):
    """A data directory: PTB and the treebank from the mirror, a synthetic
    WikiText-2 whose blob ids stand in for the real ones."""
    shared = Path(os.environ["RNNMEM_DATA_DIR"])
    data = tmp_path / "data"
    (data / "wikitext-2").mkdir(parents=True)
    for d in ("ptb", "nltk_data"):
        (data / d).symlink_to(shared / d)
    rng = np.random.default_rng(0)
    words = ["the", "of", ",", ".", "<unk>", "and", "in", "a", "@-@", "="]
    words += [f"w{i}" for i in range(40)]
    blobs = {}
    for split, n in (("train", 300), ("valid", 40), ("test", 260)):
        text = _text(rng, n, words)
        (data / "wikitext-2" / f"wiki.{split}.tokens").write_text(text)
        blobs[split] = wikitext.git_blob_sha1(text.encode())
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(data))
    monkeypatch.setattr(wikitext, "BLOBS", blobs)
    # tiny models: a variant's hidden size is the zoo's, not a config field
    for name, h in (("lstm256", 12), ("lstm512", 24), ("wiki2_256", 12),
                    ("wiki2_512", 24)):  # fmt: skip
        v = dataclasses.replace(zoo.VARIANTS[name], hidden_size=h)
        monkeypatch.setitem(zoo.VARIANTS, name, v)
    zoo._wikitext.cache_clear()
    yield data
    zoo._wikitext.cache_clear()


def _ptb_curve(cfg, name, out):
    """A PTB model's cell-state curve on the held-out treebank lines."""
    m, _, _ = units.model(cfg, name, out)
    value = units._curve(cfg, m, units.prepare(cfg), "c")
    return {k: analyses.unpack(value[k]) for k in ("raw", "norm")}


def _in_process(fn, items, **kw):
    """A stand-in for the unit processes (spawned workers would not see this
    test's synthetic blob ids): runs each unit at once, here."""
    return [fn(x) for x in items]


def test_figure7_curves_claims_and_figures_on_a_tiny_wikitext(
    tiny_wiki, tmp_path, monkeypatch
):
    cfg = config.resolve("ptb_memory", "smoke", {**TINY, "workers": 2})
    out = tmp_path / "out"
    zoo.check_available(cfg)  # the synthetic files verify
    calls = []
    curve = units._curve
    monkeypatch.setattr(units, "_curve", lambda *a: calls.append(a) or curve(*a))
    monkeypatch.setattr(wm, "map_units", _in_process)
    wm.run_parallel(cfg, out)  # the workers store both curves
    table, wiki = wm.collect(cfg, out, progress=False)  # ... and this loads them
    assert len(calls) == 2
    monkeypatch.setattr(units, "_curve", curve)

    # both models, raw and normalised, every delay, on the WikiText-2 test text
    assert set(wiki) == {"wiki2_256", "wiki2_512"}
    assert set(table.model) == set(wiki) and set(table.text) == {wm.TEXT}
    assert set(table.normalisation) == {"raw", "norm"}
    assert sorted(set(table.delay)) == list(range(cfg.max_delay))
    assert {"sigma_1", "selectiveness"} <= set(table.statistic)
    assert (table["count"] > 0).all() and np.isfinite(table.value).all()
    assert (table.hi > table.lo).all(), "a bootstrap band on every point"

    # the stored unit is the engine's curve of the model on the test split
    corpus = zoo.load_corpus("wiki2_512", None, cfg.train_tokens)
    m, _, _ = zoo.trained(cfg, "wiki2_512", corpus, out, False)
    again = units._curve(cfg, m, {"ids": corpus.test}, "c")
    np.testing.assert_allclose(
        wiki["wiki2_512"]["norm"].value, again["norm"]["value"].numpy()
    )
    assert wm.collect(cfg, out, progress=False)[0].equals(table)  # from the store

    stats = {(n, "c"): _ptb_curve(cfg, n, out) for n in ("lstm256", "lstm512")}
    cs = cl.ClaimSet("ptb_memory", cfg, "smoke")
    make._wikitext(cs, cfg, stats, wiki)
    verdicts = {c.id: c for c in cs.claims}
    for i in FIG7:
        c = verdicts[i]
        assert c.verdict != cl.NOT_RUN, (i, c.criterion)
        assert len(c.interval) == 2 and c.interval[0] <= c.interval[1], i
    assert verdicts["fig7a_wiki103"].verdict == cl.CANNOT
    assert (
        "WikiText-103 is not in the data mirror" in verdicts["fig7a_wiki103"].criterion
    )

    ptb = analyses.tidy({"all": stats[("lstm512", "c")]["norm"]}, model="lstm512",
                        state="c", normalisation="norm")  # fmt: skip
    figs = pp.wikitext(ptb, table)
    assert set(figs) == {"fig7a_wikitext", "fig7b_wikitext_sizes"}
    for name, fig in figs.items():
        plotting.save_figure(fig, out, name)
        assert (out / "figures" / f"{name}.png").exists()


def test_figure7_not_run_without_wikitext_models(tmp_path):
    cfg = config.resolve("ptb_memory", "default")
    assert not wm.variants(cfg)
    table, wiki = wm.collect(cfg, tmp_path, progress=False)  # reads no data
    assert table.empty and list(table.columns) == list(wm.COLUMNS) and wiki == {}
    assert pp.wikitext(table, table) == {}
    cs = cl.ClaimSet("ptb_memory", cfg, "default")
    make._wikitext(cs, cfg, {}, wiki)
    verdicts = {c.id: c for c in cs.claims}
    assert set(verdicts) == {*FIG7, "fig7a_wiki103"}
    assert all(verdicts[i].verdict == cl.NOT_RUN for i in FIG7)
    assert verdicts["fig7a_wiki103"].verdict == cl.CANNOT
    for i in FIG7:
        assert "is not in this preset's variants" in verdicts[i].criterion, i
        assert "train only at `paper`" in verdicts[i].criterion, i


def _draws(level, rng, d=8):
    """Synthetic curves: sigma_1 = level * exp(-0.1 tau), flat ratios, 20
    draws within +-5% (the shapes of :class:`memory.Draws`: (S, D), (R, S, D))."""
    sigma = level * np.exp(-0.1 * np.arange(d))
    value = np.stack([sigma, np.full(d, 0.3), np.full(d, 0.5), 3 * sigma])
    boot = value * rng.uniform(0.95, 1.05, size=(20, 1, d))
    st = mem.Draws(value, boot, np.full(d, 100), analyses.STATISTICS)
    return {"raw": st, "norm": st}


def test_figure7_says_what_is_missing_and_decides_on_the_bands():
    cfg = config.resolve("ptb_memory", "smoke", {**TINY, "max_delay": 8})
    rng = np.random.default_rng(0)
    wiki = {"wiki2_256": _draws(1.0, rng), "wiki2_512": _draws(2.5, rng)}
    cs = cl.ClaimSet("ptb_memory", cfg, "smoke")
    make._wikitext(cs, cfg, {("lstm256", "c"): _draws(1.0, rng)}, wiki)
    v = {c.id: c for c in cs.claims}
    assert "PTB LSTM 512 is not trained" in v["fig7a_close_short"].criterion
    assert "PTB LSTM 512 is not trained" in v["fig7b_gain_above_ptb"].criterion
    assert v["fig7b_512_higher"].verdict == cl.REPRODUCED  # 2.5x at every delay
    ptb = {(n, "c"): _draws(1.0, rng) for n in ("lstm256", "lstm512")}
    cs = cl.ClaimSet("ptb_memory", cfg, "smoke")
    make._wikitext(cs, cfg, ptb, wiki)
    v = {c.id: c for c in cs.claims}
    assert "fewer than two delays beyond" in v["fig7a_wiki2_larger_long"].criterion
    assert v["fig7a_close_short"].verdict == cl.NOT_REPRODUCED  # 2.5x: not close
    assert v["fig7a_selectiveness"].verdict == cl.REPRODUCED  # the same ratios
    assert v["fig7b_gain_above_ptb"].verdict == cl.REPRODUCED  # PTB gains nothing
    # flat selectiveness for both: the 512 curve does not keep rising
    assert v["fig7b_selectiveness"].verdict == cl.NOT_REPRODUCED
