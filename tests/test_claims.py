"""Claims: verdicts computed from numbers; the claims file is the completion marker."""

import pytest

from rnnmem_utils import claims as C
from rnnmem_utils import config, io


def test_compare_verdicts_and_difference():
    ok = C.compare("a", "ppl", published=100.0, reproduced=104.0, rel_tol=0.05)
    assert ok.verdict == C.REPRODUCED and ok.difference == "+4 (+4.0%)"
    partly = C.compare("a", "ppl", published=100.0, reproduced=108.0, rel_tol=0.05)
    assert partly.verdict == C.PARTLY
    bad = C.compare("a", "ppl", published=100.0, reproduced=114.0, rel_tol=0.05)
    assert bad.verdict == C.NOT_REPRODUCED and "+14.0%" in bad.difference
    absolute = C.compare("a", "acc", published=0.5, reproduced=0.45, abs_tol=0.1)
    assert absolute.verdict == C.REPRODUCED
    assert (
        C.compare("a", "x", 1.0, float("nan"), rel_tol=0.1).verdict == C.NOT_REPRODUCED
    )


def test_compare_needs_a_tolerance_and_verdicts_are_checked():
    with pytest.raises(ValueError):
        C.compare("a", "x", 1.0, 1.0)
    with pytest.raises(ValueError, match="options are"):
        C.Claim("a", "x", 1, 1, "c", "sort of")


def test_claimset_writes_marker_with_config_hash(tmp_path):
    cfg = config.resolve("latching", "smoke")
    cs = C.ClaimSet("latching", cfg, "smoke")
    cs.add(C.compare("a", "x", 1.0, 1.0, rel_tol=0.1))
    cs.not_run("b", "y", 2.0, "needs paper preset")
    cs.cannot_reproduce("c", "z", 3.0, "the corpus is not public")
    with pytest.raises(ValueError, match="duplicate"):
        cs.add(C.compare("a", "x", 1.0, 1.0, rel_tol=0.1))
    cs.write(tmp_path)
    data = io.read_json(tmp_path / "claims.json")
    assert data["config_hash"] == config.config_hash(cfg)
    assert [c["verdict"] for c in data["claims"]] == [
        C.REPRODUCED,
        C.NOT_RUN,
        C.CANNOT,
    ]
    assert data["claims"][2]["reproduced"] is None
    assert data["claims"][2]["criterion"] == "the corpus is not public"
    assert (tmp_path / "claims.csv").exists()


def test_wilson_interval_matches_closed_form():
    import math

    from rnnmem_utils.claims import wilson_interval

    k, n, z = 5, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo, hi = wilson_interval(k, n)
    assert abs(lo - (centre - half)) < 1e-9 and abs(hi - (centre + half)) < 1e-9
    assert wilson_interval(0, 10)[0] == 0.0


def test_bootstrap_interval_covers_the_mean_and_collapses_without_spread():
    import numpy as np

    from rnnmem_utils.claims import Claim, bootstrap_interval

    x = np.random.default_rng(1).normal(3.0, 1.0, 200)
    lo, hi = bootstrap_interval(x)
    assert lo < x.mean() < hi and hi - lo < 0.5
    assert bootstrap_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))
    with pytest.raises(ValueError):
        Claim("a", "s", 1, 1, "c", "reproduced", interval=[2, 1])


def test_table_shows_the_asked_claims_and_names_the_known_ones():
    cs = C.ClaimSet("latching", config.resolve("latching", "smoke"), "smoke")
    cs.add(
        C.Claim(
            "a",
            "first",
            0.5,
            0.625,
            "c",
            C.REPRODUCED,
            interval=[0.3, 0.8],
            interval_kind="95% Wilson over 8 runs",
        )
    )
    cs.add(C.Claim("b", "second", 1, 2, "c", C.NOT_REPRODUCED))
    text = cs.table("a")
    assert "first" in text and "0.625" in text and "0.3 to 0.8" in text
    assert "second" not in text
    with pytest.raises(KeyError, match="a', 'b"):
        cs.table("zz")
