"""E2's published claims (seed 002, the answer's task 2 and the asker's update),
each with a computed verdict; criteria and intervals as in
:mod:`rnnmem_utils.experiments.latching.claims`."""

from __future__ import annotations

from ... import claims as cl
from ..latching.claims import (
    BOOT,
    _acc,
    _all_cells,
    _diff_interval,
    _winner,
    per_length_wins,
)  # fmt: skip

SRC = "seed 002 (answer's task 2; asker's update 2018-04-19)"


def bit_relay_claims(cfg, preset, summary, e1_summary, runs) -> cl.ClaimSet:
    """E2's claims, once per cell form: ids without suffix for the Keras 2018
    cells (the asker's setting), ``*_torch`` for the modern PyTorch cells."""
    cs = cl.ClaimSet("bit_relay", cfg, preset)
    for style in cfg.styles:
        part, e1_part = (
            ("relay", "grid") if style == "keras2018" else ("relay_torch", "torch")
        )
        suffix = "" if style == "keras2018" else "_torch"
        _relay_claims(cs, summary, runs, e1_summary, part, e1_part, suffix)
    return cs


def gru_best_verdict(lo: float, hi: float) -> str:
    """GRU minus the strongest other cell, 95% interval [lo, hi]: a win if the
    whole interval is above 0; a loss if it is below; "within noise" (partly:
    the GRU is not distinguishable from the best) if it straddles 0."""
    return cl.verdict_from(lo > 0, hi >= 0)


def lstm_marginal_verdict(d: float) -> str:
    """Both sources: the LSTM is at least as good as the SRNN (the answer:
    "better, but only marginally"; the asker: "equally bad"). Within 0.05 of
    the SRNN or marginally (<= 0.1) above it agrees with both; clearly better
    (> 0.1) agrees with "at least as good" only (partly); worse by more than
    0.05 contradicts both (not reproduced)."""
    return cl.verdict_from(-0.05 <= d <= 0.1, d > 0.1)


def _relay_claims(cs, summary, runs, e1_summary, part, e1_part, suffix):
    form = "Keras 2018 cells" if not suffix else "modern PyTorch cells"
    ids = ("relay_gru_best", "relay_lstm_marginal", "task_specific")
    missing = [(cid + suffix, f"{cid} ({form})", "see seed 002") for cid in ids]
    if not _all_cells(cs, summary, part, missing, SRC):
        return
    best, avg = _winner(summary, part)
    _relay_gru_best(cs, summary, runs, part, avg, form, suffix)
    _relay_lstm_marginal(cs, runs, part, avg, form, suffix)
    _task_specific(cs, e1_summary, e1_part, best, avg, form, suffix)


def _relay_gru_best(cs, summary, runs, part, avg, form, suffix):
    rival = max(("rnn", "lstm"), key=lambda c: avg[c])
    ci = _diff_interval(_acc(runs, part, "gru"), _acc(runs, part, rival))
    alone, tied, n = per_length_wins(summary, part, "gru")
    verdict = gru_best_verdict(*ci)
    word = {cl.REPRODUCED: "GRU ahead", cl.PARTLY: "within noise"}.get(
        verdict, f"{rival.upper()} ahead"
    )
    cs.check(
        "relay_gru_best" + suffix,
        f"Bit relay: the GRU performs best ({form})",
        published="GRU best",
        ours=avg,
        criterion=(
            "95% paired bootstrap interval of mean(GRU) - mean(best other cell) "
            "over all runs: above 0 = GRU best; straddling 0 = within noise "
            "(partly); below 0 = not reproduced"
        ),
        verdict=verdict,
        difference=(
            f"GRU - {rival.upper()} {avg['gru'] - avg[rival]:+.3f}, {word}; GRU "
            f"best alone at {alone} of {n} lengths, tied at {tied}"
        ),
        source=SRC,
        per_length={"gru_alone": alone, "gru_tied": tied, "lengths": n},
        interval=ci,
        interval_kind=f"{BOOT}, GRU - {rival.upper()}",
        holds_across_interval=bool(ci[0] > 0 or ci[1] < 0),
    )


def _relay_lstm_marginal(cs, runs, part, avg, form, suffix):
    d = avg["lstm"] - avg["rnn"]
    ci = _diff_interval(_acc(runs, part, "lstm"), _acc(runs, part, "rnn"))
    cs.check(
        "relay_lstm_marginal" + suffix,
        "LSTM at least as good as the simple RNN, at most marginally better "
        f"(answer: marginally better; asker: equally bad) ({form})",
        published="LSTM - SRNN ~ 0 or marginally > 0",
        ours=round(d, 3),
        criterion=(
            "mean LSTM - mean SRNN in [-0.05, +0.1]: agrees with both sources; "
            "> +0.1 partly (at least as good, not marginal); < -0.05 not "
            "reproduced (worse contradicts both)"
        ),
        verdict=lstm_marginal_verdict(d),
        difference=f"{d:+.3f}",
        source=SRC,
        interval=ci,
        interval_kind=f"{BOOT}, LSTM - SRNN",
        holds_across_interval=(
            lstm_marginal_verdict(ci[0]) == lstm_marginal_verdict(ci[1])
        ),
    )


def _task_specific(cs, e1_summary, e1_part, best, avg, form, suffix):
    if e1_summary is None or not (e1_summary.part == e1_part).any():
        cs.not_run(
            "task_specific" + suffix,
            f"The winning cell is task-specific ({form})",
            "different winners",
            f"E1 results for {e1_part!r} absent",
            SRC,
        )
        return
    e1_best, e1_avg = _winner(e1_summary, e1_part)
    cs.check(
        "task_specific" + suffix,
        f"The winning cell is task-specific, latching vs bit relay ({form})",
        published="SRNN wins latching, GRU wins bit relay",
        ours=f"E1 {e1_best}, E2 {best}",
        criterion=(
            "the cell with the highest mean accuracy differs between E1 and E2 (E1: "
            "lengths of its own run of this form; a tie wins nothing)"
        ),
        passed=e1_best != best and "tie" not in (e1_best, best),
        difference="" if e1_best != best else "same winner",
        source=SRC,
        e1=e1_avg,
        e2=avg,
    )
