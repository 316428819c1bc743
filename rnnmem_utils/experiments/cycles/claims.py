"""E3's claims: each published statement of section 4.2, its criterion and our value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as cl
from ...data import cycles as data

SOURCE = "Verwimp et al. 2018, section 4.2"
PUBLISHED_PPL = {"valid": 1.2906, "test": 1.1932}  # section 4.2.1
PUBLISHED_UNEXPECTED = (15, 161_345)  # "0.009% (15 out of a total of 161,345)"
# Table 1 (test accuracy, %): representation -> (token ID, new token, counting)
PUBLISHED_TABLE1 = {
    "cell state": (93, 93, 87),
    "hidden state": (89, 93, 80),
    "cell state, counting subspace": (11, 93, 86),
    "cell state, ID subspace": (93, 93, 17),
}
TASKS = ("token ID", "new token", "counting")
# The ID subspace as first computed here: the Euclidean complement of the LDA
# directions, which leaves counting signal behind (see analysis/probes.py); a
# row of Table 1 for comparison, without a published value or a claim.
EUCLIDEAN_ID = "cell state, ID subspace (Euclidean complement)"
ERROR_KIND = {
    0: "new token (expected)",
    1: "first repeat (cycle start)",
    data.COUNT_EOS: "end of sentence",
}


# ---------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------


# Every claim of E3 rests on one trained model (seed ``cfg.seed``): a default
# run trains for ~4 minutes of its budget, so a spread over seeds does not fit.
ONE_SEED = "one seed: one trained model, no spread over seeds"


def make_claims(
    cfg, preset, ppl, errors, table1, curves, delay_acc, ideal
) -> cl.ClaimSet:
    claims = cl.ClaimSet("cycles", cfg, preset)
    _perplexity_claims(claims, ppl)
    _error_claims(claims, errors)
    _table1_claims(claims, table1)
    _curve_claims(claims, curves, cfg.max_delay, ideal)
    _delay_claims(claims, delay_acc, cfg.max_delay)
    for claim in claims.claims:
        if claim.verdict != cl.NOT_RUN:
            claim.criterion += f" [{ONE_SEED}]"
            claim.interval_kind = claim.interval_kind or ONE_SEED
    return claims


def _perplexity_claims(claims, ppl):
    for split in ("valid", "test"):
        claims.add(
            cl.compare(
                f"ppl_{split}",
                f"{split} perplexity",
                PUBLISHED_PPL[split],
                round(ppl[split], 4),
                rel_tol=0.05,
                source=SOURCE,
            )
        )
    gap_paper = PUBLISHED_PPL["test"] / ppl["min_paper"] - 1
    gap = ppl["test"] / ppl["min_paper"] - 1
    claims.check(
        "ppl_near_minimum",
        "test perplexity close to the minimum 1.1375 (appendix 8)",
        published=f"{gap_paper:+.1%} above",
        ours=f"{gap:+.1%} above",
        criterion="gap to the minimum <= the paper's gap (partly: <= twice it)",
        passed=gap <= gap_paper,
        partly=gap <= 2 * gap_paper,
        difference=f"{gap - gap_paper:+.1%} points",
        source=SOURCE,
        min_entropy_rate=ppl["min_entropy_rate"],
    )


def _error_claims(claims, errors):
    """Unexpected errors: strictly (every position but a new token) and at the
    repeats only (<eos> set apart: the line length is random, so <eos> is not
    certain, although appendix 8 treats it as certain)."""
    errs = errors.set_index("kind")["errors"]
    total = int(errors["positions"].sum())
    published = PUBLISHED_UNEXPECTED[0] / PUBLISHED_UNEXPECTED[1]
    eos = int(errs.get(ERROR_KIND[data.COUNT_EOS], 0))
    at_repeats = int(errs.sum() - errs.get(ERROR_KIND[0], 0)) - eos
    for cid, what, n in (
        ("unexpected_errors", "away from a new token", at_repeats + eos),
        ("unexpected_errors_repeats", "at a repeat (<eos> apart)", at_repeats),
    ):
        share = n / total
        claims.check(
            cid,
            f"share of predictions wrong {what}",
            published=f"{published:.4%} (15 of 161,345)",
            ours=f"{share:.4%} ({n} of {total})",
            criterion="<= 10x the published share (partly: <= 100x)",
            passed=share <= 10 * published,
            partly=share <= 100 * published,
            difference=f"{share - published:+.4%}",
            source=SOURCE,
            eos_errors=eos,
        )
    at_start = int(errs.get(ERROR_KIND[1], 0))
    claims.check(
        "unexpected_at_cycle_start",
        "errors at the repeats happen at the start of a cycle",
        published="all",
        ours=f"{at_start} of {at_repeats} (and {eos} at <eos>)",
        criterion="all repeat errors at the first repeat (partly: most); none counts as all",
        passed=at_start == at_repeats,
        partly=at_start > at_repeats / 2,
        difference=f"{at_repeats - at_start} elsewhere",
        source=SOURCE,
    )


def _acc(table1, rep, task):
    row = table1[(table1.representation == rep) & (table1.task == task)]
    return float(row.ours.iloc[0])


def _table1_claims(claims, table1):
    for rep, pub in PUBLISHED_TABLE1.items():
        _table1_row(claims, table1, rep, pub)
    _table1_subspaces(claims, table1)


def _table1_row(claims, table1, rep, pub):
    ours = [_acc(table1, rep, t) for t in TASKS]
    worst = max(abs(o - p) for o, p in zip(ours, pub, strict=True))
    is_id = rep == "cell state, ID subspace"
    euclid = "/".join(f"{_acc(table1, EUCLIDEAN_ID, t):.0f}" for t in TASKS)
    claims.check(
        f"table1_{rep.replace(' ', '_').replace(',', '')}",
        f"Table 1, {rep}: token ID / new token / counting accuracy (%)",
        published="/".join(str(p) for p in pub),
        ours="/".join(f"{o:.0f}" for o in ours),
        criterion=(
            "every accuracy within 10 points (partly: 20)"
            + (
                "; ID subspace = the complement consistent with LDA "
                "(orthogonal to span(S_w W))"
                if is_id
                else ""
            )
        ),
        passed=worst <= 10,
        partly=worst <= 20,
        difference=f"max {worst:.0f} points",
        source=SOURCE,
        **{"euclidean_complement": euclid} if is_id else {},
    )


def _table1_subspaces(claims, table1):
    def acc(rep, task):
        return _acc(table1, rep, task)

    full_c, full_id = acc("cell state", "counting"), acc("cell state", "token ID")
    count_sub, id_sub = "cell state, counting subspace", "cell state, ID subspace"
    rules = {
        "counting kept in the counting subspace": acc(count_sub, "counting")
        >= 0.9 * full_c,
        "token ID lost in the counting subspace": acc(count_sub, "token ID") <= 30,
        "token ID kept in the ID subspace": acc(id_sub, "token ID") >= 0.9 * full_id,
        "counting lost in the ID subspace": acc(id_sub, "counting") <= 0.5 * full_c,
    }
    held = [k for k, v in rules.items() if v]
    claims.check(
        "table1_subspaces",
        "counting and token ID live in separate subspaces",
        published="all 4 hold",
        ours=f"{len(held)} of 4 hold",
        criterion=(
            "counting sub: counting >= 90% of full, ID <= 30%; "
            "ID sub: ID >= 90% of full, "
            "counting <= 50% of full (partly: 3 of 4)"
        ),
        passed=len(held) == 4,
        partly=len(held) == 3,
        difference=(
            "fails: " + ", ".join(k for k in rules if k not in held)
            if len(held) < 4
            else ""
        ),
        source=SOURCE,
    )


def _curve(curves, group, statistic):
    sel = curves[(curves.group == group) & (curves.statistic == statistic)]
    return sel.sort_values("delay").value.to_numpy()


# Figure 3's drops, judged by the paper's words: the new-token curves "show
# distinct phases, decreasing at multiples of 16 steps". A drop within 2 steps
# (an eighth of the cycle) of 16 or 32 is "at" it; the data's own ideal drops,
# 17 and 32 (see ideal_drops), and the one-step shift after an <eos> lie inside.
DROP_TOLERANCE = 2
DROP_WINDOW = 7  # "near 16": delays 9..23, "near 32": 25..39 (half a cycle apart)


def one_step_drops(y: np.ndarray) -> np.ndarray:
    """``drops[tau] = log(y[tau-1] / y[tau])``: how much the curve falls on
    arriving at delay tau (tau = 1..D-1; ``drops[0]`` is nan)."""
    drops = np.full(len(y), np.nan)
    drops[1:] = np.log(y[:-1] / y[1:])
    return drops


def drop_at(y: np.ndarray, lo: int, hi: int) -> int:
    """The delay tau in lo..hi (both included) with the largest one-step drop."""
    taus = np.arange(max(lo, 1), hi + 1)
    return int(taus[np.argmax(one_step_drops(y)[taus])])


def largest_drops(y: np.ndarray, k: int = 2) -> list[int]:
    """Delays of the ``k`` largest one-step drops, in increasing order."""
    drops = one_step_drops(y)[1:]
    return sorted(int(t) + 1 for t in np.argsort(drops)[-k:])


def ideal_drops(stream: data.CycleStream) -> pd.DataFrame:
    """Where the influence of a new token x_p is no longer needed, in delays
    (delay 0 = the step the token is input, as the paper counts):

    - ``first repeat``: its repeats begin at p + 17 (p + 16 is the next new
      token), so from there the state can copy the input instead of recalling
      x_p; one step later when an <eos> follows p's cycle.
    - ``next new token``: the new token after its repeats, at p + 32, no longer
      depends on x_p (it only excludes the two tokens of the cycle before it);
      one step later when an <eos> comes in between.

    Returns the share of new tokens at each delay, per event.
    """
    news = np.flatnonzero(stream.count == 0)
    p = news[:-2]
    events = {"first repeat": news[1:-1] + 1 - p, "next new token": news[2:] - p}
    rows = [
        (event, int(d), float(np.mean(delays == d)))
        for event, delays in events.items()
        for d in np.unique(delays)
    ]
    return pd.DataFrame(rows, columns=["event", "delay", "share"])


def _ideal(ideal: pd.DataFrame, event: str) -> int:
    sel = ideal[ideal.event == event]
    return int(sel.delay.iloc[int(np.argmax(sel.share))])


def _curve_claims(claims, curves, max_delay, ideal):
    if max_delay < 32 + DROP_WINDOW + 1:
        claims.not_run(
            "new_token_drops_16",
            "new-token curves decrease at multiples of 16 steps",
            "decreasing at multiples of 16 steps",
            f"max_delay {max_delay} < {32 + DROP_WINDOW + 1}",
            SOURCE,
        )
    else:
        _drop_claim(claims, _curve(curves, "new token", "sum_sigma"), ideal)
    if max_delay < 16:
        claims.not_run(
            "new_token_dip_rise",
            "a dip then a rise before step 16 (new-token curve)",
            "decrease then increase",
            f"max_delay {max_delay} < 16",
            SOURCE,
        )
    else:
        _dip_rise_claim(claims, _curve(curves, "new token", "sum_sigma"))


def _drop_claim(claims, y, ideal):
    top = largest_drops(y, 2)
    near = [drop_at(y, m - DROP_WINDOW, m + DROP_WINDOW) for m in (16, 32)]
    hits = [abs(t - m) <= DROP_TOLERANCE for t, m in zip(top, (16, 32), strict=True)]
    best = [_ideal(ideal, "first repeat"), _ideal(ideal, "next new token")]
    claims.check(
        "new_token_drops_16",
        "new-token sum of singular values decreases at multiples of 16 steps",
        published="decreasing at multiples of 16 steps (the figure: near 16 and 32)",
        ours=(
            f"two largest one-step drops at delays {top[0]} and {top[1]}; largest "
            f"within {DROP_WINDOW} of 16: {near[0]}, of 32: {near[1]}"
        ),
        criterion=(
            f"the two largest one-step drops (delay tau-1 to tau) are within "
            f"{DROP_TOLERANCE} steps of 16 and of 32, one each: the paper's words; "
            f"{DROP_TOLERANCE} steps hold the data's ideal drops {best[0]} and "
            f"{best[1]} and the one-step <eos> shift (partly: one of the two)"
        ),
        passed=all(hits),
        partly=any(hits),
        difference=(
            f"{near[0] - best[0]:+d}, {near[1] - best[1]:+d} steps from the data's "
            f"ideal {best[0]} and {best[1]}"
        ),
        source=SOURCE,
        largest_drops=top,
        near_16_32=near,
        ideal=best,
    )


def _dip_rise_claim(claims, y):
    dip = float(y[1:15].min())
    rise = y[15] / dip - 1
    claims.check(
        "new_token_dip_rise",
        "a dip then a rise before step 16 (new-token curve)",
        published="decrease then increase",
        ours=f"min at {1 + int(np.argmin(y[1:15]))}, then {rise:+.0%} by delay 15",
        criterion=(
            "min over delays 1..14 below delay 0, and delay 15 at least 5% above "
            "that min"
        ),
        passed=dip < y[0] and rise >= 0.05,
        partly=dip < y[0] and rise > 0,
        difference=f"rise {rise:+.1%}",
        source=SOURCE,
    )


def _delay_claims(claims, delay_acc, max_delay):
    if max_delay < 40:
        claims.not_run(
            "delay_lda_until_32",
            "delay-0 input predictable until ~32 steps",
            "accurate until 31, near chance after",
            f"max_delay {max_delay} < 40",
            SOURCE,
        )
        return
    c = delay_acc[delay_acc.state == "c"].sort_values("delay").accuracy.to_numpy()
    chance = float(delay_acc.chance.iloc[0])
    early, late = float(c[:31].min()), float(c[34:].mean())
    claims.check(
        "delay_lda_until_32",
        "new token predictable from the cell state until the "
        "repeats end, near chance after ~32 steps",
        published="high until 31, just above chance after",
        ours=(
            f"min {early:.0%} for 0..30; mean "
            f"{late:.0%} for 34..{max_delay - 1} (chance {chance:.0%})"
        ),
        criterion=(
            "min accuracy over delays 0..30 >= 80% and mean over 34.. "
            "<= chance + 15 points "
            "(partly: one of the two)"
        ),
        passed=early >= 0.8 and late <= chance + 0.15,
        partly=early >= 0.8 or late <= chance + 0.15,
        difference=f"{late - chance:+.0%} above chance after 34",
        source=SOURCE,
    )
