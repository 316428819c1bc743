"""The published claims of E1 and E2 (seed 002), each with a computed verdict.

Every criterion is stated in the claim record; margins are fixed here, before
looking at results: "worse than chance" is a mean validation accuracy below
0.4 (a constant guess on a balanced validation set of 2,000 scores 0.5 +- 0.01);
"nearly as well" / "marginally" is within 0.05 or 0.1 of accuracy as stated.
"""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr

from .. import claims as cl

SOURCE = "seed 002 (Cross Validated question and answer)"


def _mean(summary, part, cell, shuffled=True) -> pd.Series:
    s = summary[
        (summary.part == part) & (summary.cell == cell) & (summary.shuffled == shuffled)
    ]
    return s.set_index("seq_len")


def _cells_present(summary, part, cells) -> bool:
    return all(len(_mean(summary, part, c)) for c in cells)


def latching_claims(cfg, preset, summary, landscape) -> cl.ClaimSet:
    cs = cl.ClaimSet("latching", cfg, preset)
    _bug_claims(cs, summary, cfg.cells)
    _tuned_claims(cs, summary, cfg)
    _grid_claims(cs, summary, cfg)
    _bengio_claim(cs, summary)
    _landscape_claim(cs, landscape)
    return cs


def _bug_claims(cs, summary, cells):
    bug = summary[summary.part == "bug"]
    unsh, sh = bug[~bug.shuffled.astype(bool)], bug[bug.shuffled.astype(bool)]
    worst = float(unsh.mean_acc.min())
    cs.add(
        cl.Claim(
            "bug_unshuffled",
            "Unshuffled validation split: zero / worse-than-chance validation accuracy",
            "0 (worse than chance)",
            round(worst, 3),
            "lowest mean val. accuracy over (cell, length) < 0.4; partly < 0.5",
            cl.verdict_from(worst < 0.4, worst < 0.5),
            f"{worst - 0.4:+.3f} vs 0.4",
            SOURCE,
            {"per_cell": unsh.groupby("cell").mean_acc.min().to_dict()},
        )
    )
    low = float(sh.mean_acc.min())
    cs.add(
        cl.Claim(
            "bug_fixed",
            "Shuffling before the split removes the worse-than-chance accuracy",
            ">= chance (0.5)",
            round(low, 3),
            "lowest mean val. accuracy over (cell, length) >= 0.45; partly >= 0.4",
            cl.verdict_from(low >= 0.45, low >= 0.4),
            f"{low - 0.45:+.3f} vs 0.45",
            SOURCE,
        )
    )


def _tuned_claims(cs, summary, cfg):
    if not _cells_present(summary, "tuned", ("srnn", "lstm", "gru")):
        for cid in ("tuned_srnn_learns", "tuned_gru_nearly", "tuned_lstm_poor"):
            cs.not_run(
                cid,
                f"tuned training: {cid}",
                "see seed 002",
                "needs cells srnn, lstm and gru",
                SOURCE,
            )
        return
    srnn, gru, lstm = (
        _mean(summary, "tuned", c).mean_acc for c in ("srnn", "gru", "lstm")
    )
    thr = cfg.success_threshold
    cs.add(
        cl.Claim(
            "tuned_srnn_learns",
            "Training tuned to converge (lengths 5, 100): the simple "
            "RNN learns the task",
            "learns",
            srnn.round(3).to_dict(),
            f"mean val. accuracy >= {thr} at every tuned length; partly at some",
            cl.verdict_from(bool((srnn >= thr).all()), bool((srnn >= thr).any())),
            f"worst {srnn.min() - thr:+.3f} vs {thr}",
            SOURCE,
        )
    )
    gap = gru - srnn
    cs.add(
        cl.Claim(
            "tuned_gru_nearly",
            "... the GRU nearly as well",
            "nearly as well",
            gru.round(3).to_dict(),
            "GRU mean >= SRNN mean - 0.1 at every tuned length; partly >= -0.2",
            cl.verdict_from(bool((gap >= -0.1).all()), bool((gap >= -0.2).all())),
            f"worst gap {gap.min():+.3f}",
            SOURCE,
        )
    )
    gap = lstm - srnn
    cs.add(
        cl.Claim(
            "tuned_lstm_poor",
            "... the one-unit LSTM trains poorly",
            "trains poorly",
            lstm.round(3).to_dict(),
            "LSTM mean <= SRNN mean - 0.1 at some tuned length; "
            "partly if below SRNN at some length",
            cl.verdict_from(bool((gap <= -0.1).any()), bool((gap < 0).any())),
            f"largest shortfall {gap.min():+.3f}",
            SOURCE,
        )
    )


def _grid_claims(cs, summary, cfg):
    s = _mean(summary, "grid", "srnn")
    if len(s) < 3:
        cs.not_run(
            "grid_srnn_falls",
            "SRNN success falls as length grows",
            "falls (Bengio 1994)",
            "needs >= 3 grid lengths with srnn",
            SOURCE,
        )
    else:
        k = max(1, len(s) // 3)
        drop = float(s.success_freq.iloc[:k].mean() - s.success_freq.iloc[-k:].mean())
        rho = float(spearmanr(s.index, s.success_freq).statistic)
        cs.add(
            cl.Claim(
                "grid_srnn_falls",
                "Over the length grid the simple RNN's success falls as "
                "length grows (consistent with Bengio 1994)",
                "falls",
                round(drop, 3),
                "success(shortest third) - success(longest third) >= 0.3; partly > 0",
                cl.verdict_from(drop >= 0.3, drop > 0),
                f"{drop - 0.3:+.3f} vs 0.3",
                SOURCE,
                {"spearman_rho": rho, "success": s.success_freq.to_dict()},
            )
        )
    if not _cells_present(summary, "grid", ("srnn", "lstm", "gru")):
        cs.not_run(
            "grid_gated_worse",
            "LSTM and GRU latch worse than the simple RNN",
            "worse",
            "needs cells srnn, lstm and gru",
            SOURCE,
        )
        return
    avg = {
        c: float(_mean(summary, "grid", c).mean_acc.mean())
        for c in ("srnn", "lstm", "gru")
    }
    worse = [avg[c] < avg["srnn"] for c in ("lstm", "gru")]
    cs.add(
        cl.Claim(
            "grid_gated_worse",
            "LSTM and GRU latch worse than the simple RNN (1 unit)",
            "LSTM, GRU < SRNN",
            {k: round(v, 3) for k, v in avg.items()},
            "mean over lengths of mean val. accuracy: both LSTM and GRU below SRNN; "
            "partly one",
            cl.verdict_from(all(worse), any(worse)),
            f"LSTM {avg['lstm'] - avg['srnn']:+.3f}, GRU {avg['gru'] - avg['srnn']:+.3f}",
            SOURCE,
        )
    )


def _bengio_claim(cs, summary):
    s = _mean(summary, "bengio", "srnn")
    if len(s) < 2:
        cs.not_run(
            "bengio_falls_fast",
            "Bengio 1994: success falls fast over 10..100",
            "falls fast",
            "needs >= 2 lengths",
            "Bengio et al. 1994, Fig. 2",
        )
        return
    drop = float(s.success_freq.iloc[0] - s.success_freq.iloc[-1])
    cs.add(
        cl.Claim(
            "bengio_falls_fast",
            f"Bengio's own setting: success frequency falls fast over "
            f"lengths {s.index[0]}..{s.index[-1]}",
            "falls fast",
            s.success_freq.round(2).to_dict(),
            "success(shortest) - success(longest) >= 0.5; partly > 0",
            cl.verdict_from(drop >= 0.5, drop > 0),
            f"drop {drop:+.2f} vs 0.5",
            "Bengio et al. 1994, Fig. 2",
        )
    )


def _landscape_claim(cs, landscape):
    peak = landscape.groupby("seq_len").slope.max()
    rho = float(spearmanr(peak.index, peak.values).statistic) if len(peak) > 2 else 0.0
    ratio = float(peak.iloc[-1] / peak.iloc[0])
    cs.add(
        cl.Claim(
            "landscape_cliffs",
            "The loss over the recurrent weight forms cliffs that "
            "steepen as the sequence grows",
            "steepen with length",
            round(ratio, 2),
            "steepest slope |dL/dw| rises with length: Spearman rho >= 0.9 and longest / "
            "shortest >= 10; partly rho > 0",
            cl.verdict_from(rho >= 0.9 and ratio >= 10, rho > 0),
            f"rho {rho:.2f}, ratio {ratio:.1f}",
            "Pascanu et al. 2013, Fig. 6",
            {"peak_slope": peak.to_dict()},
        )
    )


def _winner(summary, part) -> tuple[str, dict]:
    avg = summary[summary.part == part].groupby("cell").mean_acc.mean()
    return str(avg.idxmax()), avg.round(3).to_dict()


def bit_relay_claims(cfg, preset, summary, e1_summary) -> cl.ClaimSet:
    """E2's claims, once per cell form: ids without suffix for the Keras 2018
    cells (the asker's setting), ``*_torch`` for the modern PyTorch cells."""
    cs = cl.ClaimSet("bit_relay", cfg, preset)
    for style in cfg.styles:
        part, e1_part = (
            ("relay", "grid") if style == "keras2018" else ("relay_torch", "torch")
        )
        suffix = "" if style == "keras2018" else "_torch"
        _relay_claims(cs, summary, e1_summary, part, e1_part, suffix)
    return cs


def _relay_claims(cs, summary, e1_summary, part, e1_part, suffix):
    src = "seed 002 (answer's task 2; asker's update 2018-04-19)"
    form = "Keras 2018 cells" if not suffix else "modern PyTorch cells"
    if not _cells_present(summary, part, ("srnn", "lstm", "gru")):
        for cid in ("relay_gru_best", "relay_lstm_marginal", "task_specific"):
            cs.not_run(
                cid + suffix,
                f"{cid} ({form})",
                "see seed 002",
                "needs cells srnn, lstm and gru",
                src,
            )
        return
    best, avg = _winner(summary, part)
    per_len = summary[summary.part == part].pivot(
        index="seq_len", columns="cell", values="mean_acc"
    )
    share = float((per_len.idxmax(axis=1) == "gru").mean())
    cs.add(
        cl.Claim(
            "relay_gru_best" + suffix,
            f"Bit relay: the GRU performs best ({form})",
            "GRU best",
            avg,
            "GRU has the highest mean val. accuracy over lengths; "
            "partly if highest at >= half of the lengths",
            cl.verdict_from(best == "gru", share >= 0.5),
            f"winner {best}; GRU best at {share:.0%} of lengths",
            src,
        )
    )
    d = avg["lstm"] - avg["srnn"]
    cs.add(
        cl.Claim(
            "relay_lstm_marginal" + suffix,
            "LSTM at most marginally better than the simple "
            f"RNN (answer: marginally better; asker: equally bad) ({form})",
            "LSTM - SRNN ~ 0",
            round(d, 3),
            "|mean LSTM - mean SRNN| <= 0.05; partly if LSTM is worse by more",
            cl.verdict_from(abs(d) <= 0.05, d < -0.05),
            f"{d:+.3f}",
            src,
        )
    )
    if e1_summary is None or not (e1_summary.part == e1_part).any():
        cs.not_run(
            "task_specific" + suffix,
            f"The winning cell is task-specific ({form})",
            "different winners",
            f"E1 results for {e1_part!r} absent",
            src,
        )
        return
    e1_best, e1_avg = _winner(e1_summary, e1_part)
    cs.add(
        cl.Claim(
            "task_specific" + suffix,
            f"The winning cell is task-specific, latching vs bit relay ({form})",
            "SRNN wins latching, GRU wins bit relay",
            f"E1 {e1_best}, E2 {best}",
            "the cell with the highest mean accuracy differs between E1 and E2 (E1: "
            "lengths of its own run of this form)",
            cl.verdict_from(e1_best != best),
            "" if e1_best != best else "same winner",
            src,
            {"e1": e1_avg, "e2": avg},
        )
    )
