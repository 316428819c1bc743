"""E5 end to end at smoke (slow), and its claims on made-up scores (fast)."""

import numpy as np
import pandas as pd
import pytest

from rnnmem_utils import claims as cl
from rnnmem_utils import config, io
from rnnmem_utils.experiments import autocomplete as ac
from rnnmem_utils.experiments.autocomplete import claims, evaluate, published


def fake_scores(acc: dict, ce: dict, n=40, seed=0):
    """Per-sequence scores with the given accuracy and cross entropy levels."""
    rng = np.random.default_rng(seed)
    out = {}
    for kind in acc:
        n_known = rng.integers(100, 150, n).astype(float)
        hits = np.stack([rng.binomial(n_known.astype(int), min(acc[kind] * f, 1))
                         for f in (1, 1.2, 1.3)], 1).astype(float)  # fmt: skip
        total = np.tile(n_known[:, None] / 10, (1, 22))
        curve = np.clip(np.linspace(0.2, 0.9, 22) * acc[kind] / 0.5, 0, 1)
        curve[8:] = curve[7] - 0.05 * np.arange(14)  # a peak after 7 characters
        seen = total[..., None] * np.clip(curve, 0, 1)[None, :, None] * [1, 1.1, 1.2]
        out[kind] = {
            "ce_sum": n_known * ce[kind] + rng.normal(0, 2, n),
            "n_known": n_known, "hits_known": hits, "hits_real": hits,
            "n_real": n_known, "seen_hits": seen, "seen_total": total,
        }  # fmt: skip
    return out


def test_claims_follow_the_numbers_they_are_given():
    cfg = config.resolve("autocomplete", "smoke")
    scores = fake_scores({"gru": 0.5, "lstm": 0.5, "nlstm": 0.4},
                         {"gru": 2.1, "lstm": 2.12, "nlstm": 2.5})  # fmt: skip
    w = evaluate.resample_weights(40, 300, 0)
    by_chars = evaluate.by_chars_seen(scores, w)
    params = ac.paper_parameter_counts()
    shares = {"gru": {"share_sum": np.full(40, 60.0), "n": np.full(40, 100.0)},
              "lstm": {"share_sum": np.full(40, 40.0), "n": np.full(40, 100.0)}}  # fmt: skip
    cs = claims.make_claims(cfg, "smoke", scores, w, params, by_chars, shares)
    verdict = {c.id: c.verdict for c in cs.claims}
    assert verdict["parameter_counts"] == cl.REPRODUCED
    assert verdict["nlstm_worst"] == cl.REPRODUCED
    assert verdict["gru_lstm_close"] == cl.REPRODUCED
    assert verdict["early_characters"] == cl.REPRODUCED
    assert verdict["gru_longer_context"] == cl.REPRODUCED
    assert verdict["cross_entropy_gru"] == cl.NOT_RUN  # only at paper
    # the ranking reversed: the Nested LSTM best
    scores = fake_scores({"gru": 0.4, "lstm": 0.4, "nlstm": 0.5},
                         {"gru": 2.5, "lstm": 2.5, "nlstm": 2.1})  # fmt: skip
    cs = claims.make_claims(cfg, "smoke", scores, w, params, by_chars, {})
    verdict = {c.id: c.verdict for c in cs.claims}
    assert verdict["nlstm_worst"] == cl.NOT_REPRODUCED
    assert verdict["early_characters"] == cl.NOT_REPRODUCED
    assert verdict["gru_longer_context"] == cl.NOT_RUN


def test_published_curves_have_the_posts_numbers():
    gru = published.ACCURACY_BY_CHARS["gru"]
    assert [round(v, 3) for v in gru[0][:4]] == [0.165, 0.383, 0.556, 0.658]
    assert max(gru[2]) == pytest.approx(0.820, abs=5e-4)  # top-3 peak
    nl = published.ACCURACY_BY_CHARS["nlstm"][0]
    assert int(np.argmax(nl)) == 7 and max(nl) == pytest.approx(0.635, abs=5e-4)
    assert len(" " + published.PROBE_SENTENCE) == 198


@pytest.mark.slow
def test_smoke_run_writes_every_result_and_reuses_its_models(tmp_path):
    cfg = config.resolve("autocomplete", "smoke")
    out = tmp_path / "out"
    r = ac.run(cfg, out, preset="smoke", progress=False)
    for name in ("metrics", "accuracy_by_chars", "training_log", "walkthrough",
                 "reach", "probe_suggestions", "parameters"):  # fmt: skip
        assert isinstance(r[name], pd.DataFrame) and (out / f"{name}.csv").exists()
    data = io.read_json(out / "claims.json")
    assert {c["id"] for c in data["claims"]} >= {"nlstm_worst", "early_characters",
                                                 "gru_longer_context"}  # fmt: skip
    page = (out / r.explorer_pages[0]).read_text()
    assert "<script" in page and "http" not in page.split("<script")[1][:2000]
    walk = r.walkthrough
    assert set(walk.position) == set(published.WALKTHROUGH)
    assert np.isclose(walk.groupby(["model", "position"]).value.max(), 1).all()
    units = io.read_json(out / "units.json")
    assert sum(u["name"].startswith("autocomplete/") for u in units) >= 3
    # a second run trains nothing: every model comes from the store
    again = ac.run(cfg, tmp_path / "again", preset="smoke", progress=False)
    for kind in cfg.models:
        a, b = r.models[kind].state_dict(), again.models[kind].state_dict()
        assert all(np.array_equal(a[k], b[k]) for k in a)
