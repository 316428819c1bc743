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


def fake_facts(ranks: dict, probs: dict, earlier: dict, context: dict, vocab=True):
    """walkthrough_facts-shaped lines: ranks[m] = (rank at 106, ranks of
    'grammar' after 1..4, rank at 141); probs[m] = (p at 106, p after 1)."""
    rows = []
    for m in ("gru", "lstm", "nlstm"):
        r106, rg, r141 = ranks[m]
        rows.append((m, 106, 106, 2, "learning", vocab, r106, probs[m][0],
                     earlier[m][0], context[m]))  # fmt: skip
        for k, r in enumerate(rg, start=1):
            p = probs[m][1] if k == 1 else 0.5
            rows.append((m, 159, 158 + k, k, "grammar", vocab, r, p,
                         earlier[m][1], 0.0))  # fmt: skip
        rows.append((m, 141, 141, 1, "schools", True, r141, 0.01, earlier[m][2], 0.0))
    return pd.DataFrame(rows, columns=["model", "position", "at", "chars_seen", "word",
                                       "in_vocabulary", "rank", "probability",
                                       "earlier_share", "context_share"])  # fmt: skip


def walk_verdicts(facts, vocab_size=16_384):
    cfg = config.resolve("autocomplete", "smoke")
    cs = cl.ClaimSet("autocomplete", cfg, "smoke")
    claims.walkthrough_claims(cs, facts, vocab_size)
    return {c.id: c.verdict for c in cs.claims}


POSTED = dict(  # the walkthrough as the post tells it
    ranks={"gru": (1, [1, 1, 1, 1], 2), "lstm": (2, [4, 2, 1, 1], 7),
           "nlstm": (9, [5, 3, 2, 1], 3)},
    probs={"gru": (0.4, 0.6), "lstm": (0.2, 0.1), "nlstm": (0.01, 0.05)},
    earlier={"gru": (0.5, 0.6, 0.3), "lstm": (0.4, 0.3, 0.7),
             "nlstm": (0.05, 0.1, 0.2)},
    context={"gru": 0.3, "lstm": 0.2, "nlstm": 0.01},
)  # fmt: skip


def test_walkthrough_claims_follow_the_facts():
    as_posted = fake_facts(**POSTED)
    v = walk_verdicts(as_posted)
    assert v == {"walkthrough_learning": cl.REPRODUCED,
                 "walkthrough_grammar": cl.REPRODUCED,
                 "walkthrough_schools": cl.REPRODUCED}  # fmt: skip
    # the LSTM sure of 'learning' (above the GRU), the Nested LSTM on 'grammar'
    # from one character, the LSTM's row on the last characters only
    f = as_posted.copy()
    f.loc[(f.model == "lstm") & (f.position == 106), "probability"] = 0.9
    f.loc[(f.model == "nlstm") & (f["at"] == 159), "rank"] = 1
    f.loc[(f.model == "lstm") & (f.position == 141), "earlier_share"] = 0.1
    v = walk_verdicts(f)
    assert set(v.values()) == {cl.PARTLY}
    f.loc[(f.model == "gru") & (f.position == 106), "rank"] = 5
    f.loc[(f.model == "gru") & (f["at"] == 159), "rank"] = 2
    f.loc[(f.model == "lstm") & (f.position == 141), "rank"] = 1
    assert set(walk_verdicts(f).values()) == {cl.NOT_REPRODUCED}
    # words outside the preset's vocabulary: not run, saying why
    cfg = config.resolve("autocomplete", "smoke")
    cs = cl.ClaimSet("autocomplete", cfg, "smoke")
    claims.walkthrough_claims(cs, fake_facts(**POSTED, vocab=False), 1_024)
    by_id = {c.id: c for c in cs.claims}
    assert by_id["walkthrough_learning"].verdict == cl.NOT_RUN
    assert "1,024" in by_id["walkthrough_learning"].criterion
    assert by_id["walkthrough_schools"].verdict == cl.REPRODUCED
    assert set(walk_verdicts(None).values()) == {cl.NOT_RUN}


def test_models_train_as_units_of_the_executor(monkeypatch, tmp_path):
    """E5's models go through the one unit scheduler (map_units: a local pool
    of ``workers`` processes or the Dask cluster), one model a unit, each in a
    single thread; one worker trains them in the run's own process."""
    import torch

    from rnnmem_utils.experiments.autocomplete import main

    cfg = config.resolve("autocomplete", "smoke", {"workers": 2})
    calls, trained = [], []
    monkeypatch.setattr(main, "make_dataset", lambda c: "dataset")
    monkeypatch.setattr(main, "trained_models", lambda c, d, out, progress: trained.append(
        (c.models, d, out, progress, torch.get_num_threads())))  # fmt: skip

    def fake_map(fn, items, *, jobs, out_dir, label):
        calls.append(([label(x) for x in items], jobs, out_dir))
        return [fn(x) for x in items]

    monkeypatch.setattr(main, "map_units", fake_map)
    main.train_parallel(cfg, tmp_path)
    assert calls == [(["model gru", "model lstm", "model nlstm"], 2, tmp_path)]
    assert trained == [((k,), "dataset", tmp_path, False, 1) for k in cfg.models]
    main.train_parallel(config.resolve("autocomplete", "smoke"), tmp_path)
    assert len(calls) == 1  # one worker: they train in the run, one by one
