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
    with pytest.raises(ValueError, match="duplicate"):
        cs.add(C.compare("a", "x", 1.0, 1.0, rel_tol=0.1))
    cs.write(tmp_path)
    data = io.read_json(tmp_path / "claims.json")
    assert data["config_hash"] == config.config_hash(cfg)
    assert [c["verdict"] for c in data["claims"]] == [C.REPRODUCED, C.NOT_RUN]
    assert (tmp_path / "claims.csv").exists()
