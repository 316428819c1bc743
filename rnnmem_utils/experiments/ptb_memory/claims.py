"""E4's claims: Verwimp et al. (2018) sections 4.3-5 and appendix 9.

Criteria are fixed here, before any run, with the reason for each. Curves
carry 95% bootstrap bands over blocks of analysis segments
(:mod:`.analyses`); a comparison of two curves passes only beyond that
noise (every curve is measured on the same segments and resampled with the
same block weights, so draw r of one against draw r of the other is a paired
bootstrap draw of their difference). A claim the configuration cannot show
is "not run at this preset", with the reason.
"""

from __future__ import annotations

import math

import numpy as np

from ... import claims as cl
from ...data import ptb
from . import analyses, probes, zoo

SOURCE = "Verwimp et al. 2018"
PAPER_EPOCHS = 39
BAND = "95% bootstrap over blocks of analysis segments"


def claims(cfg, preset, out) -> cl.ClaimSet:
    cs = cl.ClaimSet("ptb_memory", cfg, preset)
    stats = out["extra"]["stats"]
    _table2(cs, cfg, out)
    _normalisation(cs, stats)
    _decay_shape(cs, stats)
    _seeds(cs, cfg, stats)
    _training(cs, cfg, stats)
    _cells(cs, cfg, stats, out["extra"]["ppl"])
    _sizes(cs, cfg, stats)
    _wikitext(cs, cfg, stats, out["extra"].get("wiki_stats", {}))
    _pos(cs, out["extra"]["pos_stats"])
    _frequency(cs, out["word_sigma"], cfg.seed)
    _table3(cs, out["table3"])
    _decay(cs, out["decay_fits"], cfg.seed)
    _properties(cs, out["properties"])
    return cs


def _q(x, level=95):
    """The central ``level``% interval of the draws ``x``. A draw of log10
    sigma_1 is -inf where sigma_1 fell below float32's smallest value (stored
    as 0): ranks are then taken without interpolation, which would turn
    -inf into nan."""
    x = np.asarray(x, dtype=float)
    method = "linear" if np.isfinite(x[~np.isnan(x)]).all() else "nearest"
    qs = [(100 - level) / 2, (100 + level) / 2]
    lo, hi = np.nanpercentile(x, qs, method=method)
    return [float(lo), float(hi)]


def _log_sigma(st, norm="norm"):
    """(value (D,), draws (R, D)) of log10 sigma_1 (``st[norm]``: Draws)."""
    value, boot = st[norm]["sigma_1"]
    with np.errstate(divide="ignore"):  # an exact 0 is -inf, not an error
        return np.log10(value), np.log10(boot)


def _sel(st, norm="norm"):
    return st[norm]["selectiveness"]


# ---------------------------------------------------------------------------
# Table 2
# ---------------------------------------------------------------------------


def _table2(cs, cfg, out):
    ppl = out["extra"]["ppl"]
    full = cfg.epochs >= PAPER_EPOCHS and cfg.train_tokens == 0 == cfg.eval_tokens
    for name, (_valid, test) in zoo.PUBLISHED_PPL.items():
        stmt = f"Table 2: test perplexity of {zoo.VARIANTS[name].label}"
        if name not in ppl:
            cs.not_run(f"ppl_{name}", stmt, test,
                       f"variant {name} is not trained at this preset", SOURCE)  # fmt: skip
            continue
        if not full:
            cs.not_run(
                f"ppl_{name}", stmt, test,
                f"trained {cfg.epochs} of the paper's {PAPER_EPOCHS} epochs"
                + (f" on {cfg.train_tokens:,} tokens" if cfg.train_tokens else "")
                + f": its perplexity ({ppl[name]['test']:.1f}, table2.csv) is not "
                "comparable", SOURCE,
            )  # fmt: skip
            continue
        c = cl.compare(f"ppl_{name}", stmt, test, ppl[name]["test"], rel_tol=0.1,
                       source=SOURCE)  # fmt: skip
        c.interval = _ppl_interval(ppl[name]["test_blocks"])
        c.interval_kind = "95% bootstrap over 50 blocks of the test set"
        cs.add(c)
    stmt = "the vanilla RNN's perplexity is far worse than the LSTM's (Table 2)"
    published = round(648.3 / 103.8, 2)
    if "rnn256" in ppl:
        # Ratio rather than values: holds at any training length if the claim
        # (the vanilla RNN is far worse) is true; 2x is a quarter of the paper's 6.2x
        a, b = (
            np.array(ppl["rnn256"]["test_blocks"]),
            np.array(ppl["lstm256"]["test_blocks"]),
        )
        ratio = math.exp(a.mean() - b.mean())
        boot = _paired_boot(a, b, cfg.seed)
        cs.check(
            "ppl_rnn_far_worse", stmt, published=published, ours=round(ratio, 2),
            criterion="test perplexity ratio RNN / LSTM >= 2 (the paper: 6.2)",
            passed=ratio >= 2, interval=_q(boot),
            interval_kind="95% paired bootstrap over 50 test blocks",
            holds_across_interval=bool(np.percentile(boot, 2.5) >= 2),
            source=SOURCE,
        )  # fmt: skip
    else:  # the notebook shows this claim whatever the variants
        cs.not_run("ppl_rnn_far_worse", stmt, published,
                   "variant rnn256 is not in this run's variants", SOURCE)  # fmt: skip
    for row, why in zoo.NOT_REPRODUCIBLE.items():
        cs.cannot_reproduce(f"ppl_{row.split(' (')[0].replace(' ', '_')}",
                            f"Table 2: {row}", row.split("(")[1].rstrip(")"),
                            why, SOURCE)  # fmt: skip


def _paired_boot(a, b, seed, n=2000):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n, len(a)))
    return np.exp(a[idx].mean(1) - b[idx].mean(1))


def _ppl_interval(blocks):
    rng = np.random.default_rng(0)
    b = np.asarray(blocks)
    draws = np.exp(b[rng.integers(0, len(b), size=(2000, len(b)))].mean(1))
    return _q(draws)


# ---------------------------------------------------------------------------
# Figures 4-6: curves over all words
# ---------------------------------------------------------------------------


def _normalisation(cs, stats):
    st = stats[("lstm256", "c")]
    raw, raw_b = _log_sigma(st, "raw")
    nrm, nrm_b = _log_sigma(st, "norm")
    gap = raw_b - nrm_b  # (R, D): log10(raw / normalised)
    lower = bool((np.percentile(gap, 2.5, axis=0) > 0).all())
    both_fall = bool(raw[-1] < raw[0] and nrm[-1] < nrm[0])
    rho = _spearman(raw, nrm)
    cs.check(
        "fig4a_normalisation",
        "normalisation lowers sigma_1 but keeps the trend (Figure 4a)",
        published="lower at every delay, same trend",
        ours=f"log10 raw/normalised from {gap.mean(0).min():.2f} to "
             f"{gap.mean(0).max():.2f}; Spearman(raw, normalised) {rho:.2f}",
        criterion="normalised below raw at every delay beyond the band, both fall "
                  "from delay 0 to the last, and Spearman rank correlation of the "
                  "two curves >= 0.9 (same trend)",
        passed=lower and both_fall and rho >= 0.9, partly=lower,
        interval=_q(gap.min(1)), interval_kind=BAND + " (smallest log10 ratio)",
        holds_across_interval=lower, source=SOURCE + ", section 4.3.2",
    )  # fmt: skip


def _spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _rate_ratio(logs, d):
    """Early / late decay rate of log10 sigma_1 (1 = exponential)."""
    k = max(2, d // 5)
    early = (logs[..., 0] - logs[..., k]) / k
    late = (logs[..., d - 1 - k] - logs[..., d - 1]) / k
    return early / np.where(late == 0, np.nan, late)


def _decay_shape(cs, stats):
    vals, draws = _log_sigma(stats[("lstm256", "c")])
    d = vals.shape[0]
    r, rb = _rate_ratio(vals, d), _rate_ratio(draws, d)
    cs.check(
        "fig4_not_exponential",
        "sigma_1 of the trained LSTM decays fast but not exponentially (4.3.2)",
        published="not exponential", ours=round(float(r), 2),
        criterion="decay rate of log sigma_1 over the first fifth of the delays "
                  "/ over the last fifth >= 2 (1 would be exponential)",
        passed=r >= 2, interval=_q(rb), interval_kind=BAND,
        holds_across_interval=bool(np.nanpercentile(rb, 2.5) >= 2),
        source=SOURCE + ", section 4.3.2",
    )  # fmt: skip


def _seeds(cs, cfg, stats):
    seeds = [n for n in ("lstm256_seed1", "lstm256_seed2") if (n, "c") in stats]
    stmt = "models trained with other seeds have nearly the same curves (Figure 4b)"
    if not seeds:
        cs.not_run("fig4b_seeds", stmt, "no large difference",
                   "the other seeds are not trained at this preset", SOURCE)  # fmt: skip
        return
    base, base_b = _log_sigma(stats[("lstm256", "c")])
    diffs = [np.abs(_log_sigma(stats[(n, "c")])[0] - base).max() for n in seeds]
    draws = np.max([np.abs(_log_sigma(stats[(n, "c")])[1] - base_b).max(1)
                    for n in seeds], 0)  # fmt: skip
    worst = float(max(diffs))
    cs.check(
        "fig4b_seeds", stmt, published="no large difference",
        ours=f"largest |log10 sigma_1 difference| {worst:.2f}",
        criterion="|log10 sigma_1(seed) - log10 sigma_1(baseline)| <= 0.3 (a factor "
                  "2) at every delay, on a log axis spanning decades",
        passed=worst <= 0.3, interval=_q(draws), interval_kind=BAND,
        holds_across_interval=bool(np.percentile(draws, 97.5) <= 0.3), source=SOURCE,
    )  # fmt: skip


def _training(cs, cfg, stats):
    if ("untrained", "c") not in stats:
        for i in ("fig5a_random_exponential", "fig5a_trained_longer",
                  "fig5a_trained_selective"):  # fmt: skip
            cs.not_run(i, "Figure 5a", "", "no untrained model at this preset", SOURCE)
        return
    rnd, rnd_b = _log_sigma(stats[("untrained", "c")])
    trn, trn_b = _log_sigma(stats[("lstm256", "c")])
    d = len(rnd)
    r, rb = _rate_ratio(rnd, d), _rate_ratio(rnd_b, d)
    cs.check(
        "fig5a_random_exponential",
        "with random weights sigma_1 decays exponentially (Figure 5a)",
        published="exponential", ours=round(float(r), 2),
        criterion="early / late decay rate of log sigma_1 within [0.5, 2] "
                  "(1 = a straight line on the log axis)",
        passed=0.5 <= r <= 2, interval=_q(rb), interval_kind=BAND,
        holds_across_interval=bool(0.5 <= np.nanpercentile(rb, 2.5)
                                   and np.nanpercentile(rb, 97.5) <= 2),
        source=SOURCE + ", section 4.3.2",
    )  # fmt: skip
    gap_b = trn_b - rnd_b  # (R, D) log10 trained / random
    late = slice(d // 2, d)
    above = bool((np.percentile(gap_b[:, late], 2.5, axis=0) > 0).all())
    slope_t, slope_r = trn[0] - trn[-1], rnd[0] - rnd[-1]
    cs.check(
        "fig5a_trained_longer",
        "training gives larger sigma_1 and a slower decay than random weights "
        "(Figure 5a)", published="larger, slower decay",
        ours=f"log10 trained/random at the last delay {trn[-1] - rnd[-1]:.2f}; "
             f"decades lost over the delays: trained {slope_t:.1f}, random "
             f"{slope_r:.1f}",
        criterion="trained above random beyond the band at every delay of the "
                  "second half, and fewer decades lost from delay 0 to the last",
        passed=above and slope_t < slope_r, partly=above or slope_t < slope_r,
        interval=_q(gap_b[:, -1]), interval_kind=BAND + " (log10 ratio, last delay)",
        holds_across_interval=above, source=SOURCE + ", section 4.3.2",
    )  # fmt: skip
    sel_t, sel_tb = _sel(stats[("lstm256", "c")])
    sel_r, sel_rb = _sel(stats[("untrained", "c")])
    diff, diff_b = (sel_t - sel_r).mean(), (sel_tb - sel_rb).mean(1)
    cs.check(
        "fig5a_trained_selective",
        "the trained model is more selective (sigma_1 / sum sigma) than random "
        "weights (Figure 5a)", published="larger", ours=round(float(diff), 3),
        criterion="mean over delays of the selectiveness difference trained - "
                  "random > 0 beyond the band",
        passed=bool(np.percentile(diff_b, 2.5) > 0), partly=diff > 0,
        interval=_q(diff_b), interval_kind=BAND,
        holds_across_interval=bool(np.percentile(diff_b, 2.5) > 0),
        source=SOURCE + ", section 4.3.2",
    )  # fmt: skip


def _cells(cs, cfg, stats, ppl):
    need = [("gru256", "h"), ("lstm256", "h")]
    stmt = "LSTM cell state > GRU state > LSTM hidden state in sigma_1 (Figure 5b)"
    if not all(k in stats for k in need):
        cs.not_run("fig5b_cell_order", stmt, "c > GRU > h",
                   "the GRU is not trained at this preset", SOURCE)  # fmt: skip
    else:
        curves = {k: _log_sigma(stats[k]) for k in [("lstm256", "c"), *need]}
        pairs = [(("lstm256", "c"), ("gru256", "h")),
                 (("gru256", "h"), ("lstm256", "h"))]  # fmt: skip
        mean_gap = [(curves[a][0] - curves[b][0]).mean() for a, b in pairs]
        gap_b = [(curves[a][1] - curves[b][1]).mean(1) for a, b in pairs]
        beyond = [bool(np.percentile(g, 2.5) > 0) for g in gap_b]
        cs.check(
            "fig5b_cell_order", stmt, published="c > GRU > h",
            ours="mean log10 gaps c-GRU {:.2f}, GRU-h {:.2f}".format(*mean_gap),
            criterion="mean over delays of log10 sigma_1 differences (c - GRU, "
                      "GRU - h) both > 0 beyond the band; partly: one of them",
            passed=all(beyond), partly=any(beyond),
            interval=_q(np.minimum(*gap_b)),
            interval_kind=BAND + " (smaller of the two gaps)",
            holds_across_interval=all(beyond), source=SOURCE + ", section 4.3.2",
        )  # fmt: skip
    stmt = "the vanilla RNN's sigma_1 is below 1e-10 beyond delay 20 (Figure 5b)"
    if ("rnn256", "h") not in stats or cfg.max_delay <= 21:
        cs.not_run("fig5b_rnn_tiny", stmt, "< 1e-10",
                   "no vanilla RNN or max_delay <= 21 at this preset", SOURCE)  # fmt: skip
        return
    v, b = _log_sigma(stats[("rnn256", "h")])
    worst, worst_b = v[21:].max(), b[:, 21:].max(1)
    band = _q(worst_b)
    ours = f"{10**worst:.1e}"
    if not np.isfinite(v).all():
        ours += (f" (sigma_1 underflows float32 from delay {int(np.argmin(np.isfinite(v)))}"
                 " on; 0 there)")  # fmt: skip
    if "rnn256" in ppl and ppl["rnn256"]["test"] > ptb.VOCAB_SIZE:
        ours += (f"; this RNN diverged under the paper's recipe (test perplexity "
                 f"{ppl['rnn256']['test']:.2g}, worse than a uniform guess, "
                 f"{ptb.VOCAB_SIZE:,}), as the paper's vanilla RNNs lacked "
                 "convergence")  # fmt: skip
    cs.check(
        "fig5b_rnn_tiny", stmt, published="< 1e-10", ours=ours,
        criterion="largest sigma_1 of the RNN at delays > 20 below 1e-10",
        passed=worst < -10, interval=[float(10 ** x) for x in band],
        interval_kind=BAND, holds_across_interval=bool(band[1] < -10),
        source=SOURCE + ", section 4.3.2",
    )  # fmt: skip


def _sizes(cs, cfg, stats):
    base, base_b = _log_sigma(stats[("lstm256", "c")])
    sel, sel_b = _sel(stats[("lstm256", "c")])
    stmt = "128 units: lower sigma_1 overall and more selective (Figure 6a)"
    if ("lstm128", "c") not in stats:
        cs.not_run("fig6a_128", stmt, "lower, more selective",
                   "LSTM 128 is not trained at this preset", SOURCE)  # fmt: skip
    else:
        v, b = _log_sigma(stats[("lstm128", "c")])
        s, sb = _sel(stats[("lstm128", "c")])
        lower_b, more_b = (base_b - b).mean(1), (sb - sel_b).mean(1)
        lower = bool(np.percentile(lower_b, 2.5) > 0)
        more = bool(np.percentile(more_b, 2.5) > 0)
        cs.check(
            "fig6a_128", stmt, published="lower sigma_1, more selective",
            ours=f"mean log10 gap 256-128 {(base - v).mean():.2f}; mean "
                 f"selectiveness gap 128-256 {(s - sel).mean():.3f}",
            criterion="mean over delays of log10 sigma_1(256) - log10 "
                      "sigma_1(128) > 0 and of selectiveness(128) - (256) > 0, "
                      "both beyond the band; partly: one",
            passed=lower and more, partly=lower or more, interval=_q(lower_b),
            interval_kind=BAND + " (sigma_1 gap)", holds_across_interval=lower and more,
            source=SOURCE + ", section 4.3.2",
        )  # fmt: skip
    stmt = ("512 units: more selective than the baseline at long delays "
            "(Figure 6a)")  # fmt: skip
    if ("lstm512", "c") not in stats:
        cs.not_run("fig6a_512", stmt, "more selective at long delays",
                   "LSTM 512 is not trained at this preset", SOURCE)  # fmt: skip
        return
    s, sb = _sel(stats[("lstm512", "c")])
    late = slice(len(s) * 3 // 4, len(s))
    gap_b = (sb - sel_b)[:, late].mean(1)
    cs.check(
        "fig6a_512", stmt, published="more selective at long delays",
        ours=round(float((s - sel)[late].mean()), 3),
        criterion="mean selectiveness(512) - (256) over the last quarter of the "
                  "delays > 0 beyond the band",
        passed=bool(np.percentile(gap_b, 2.5) > 0), partly=(s - sel)[late].mean() > 0,
        interval=_q(gap_b), interval_kind=BAND,
        holds_across_interval=bool(np.percentile(gap_b, 2.5) > 0),
        source=SOURCE + ", section 4.3.2",
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Figure 7: WikiText-2 (curves on its test split: .wikitext_memory)
# ---------------------------------------------------------------------------

WIKI_SHORT = 10  # "close for short delays, but start to diverge for delays > 10"
SECTION = SOURCE + ", section 4.3.2"
ACROSS = BAND + "; curves on different texts, their draws paired at random"
MAX_NOTE = " (of the largest gap over the delays, which noise only raises)"


def _wiki_missing(cfg, stats, wiki, names=(), ptb=()) -> str | None:
    """Why a Figure 7 claim cannot be shown here (None: it can)."""
    for n in names:
        if n not in wiki:
            return (
                f"variant {n} is not in this preset's variants: the WikiText-2 "
                "models train only at `paper`, and their train split is not in the "
                "public data mirror (data/wikitext.py says where to put it)"
                if n not in cfg.variants
                else f"no WikiText-2 curve of {n} in this run"
            )
    for n in ptb:
        if (n, "c") not in stats:
            return f"PTB {zoo.VARIANTS[n].label} is not trained at this preset"
    return None


def _shuffled(draws, seed):
    """Draws (R, ...) in a random order: a curve on other text is an
    independent sample, so its draw r is not paired with draw r of the other
    (the block weights coincide only by construction). One permutation per
    seed, so curves of one text (PTB 256 and 512) stay paired with each other."""
    return draws[np.random.default_rng(seed + 7).permutation(len(draws))]


def _slope(y, first):
    """Least-squares slope of ``y[..., first:]`` per delay."""
    x = np.arange(y.shape[-1])[first:]
    xc = x - x.mean()
    return (y[..., first:] * xc).sum(-1) / (xc**2).sum()


def _wikitext(cs, cfg, stats, wiki):
    _fig7a(cs, cfg, stats, wiki)
    _fig7b(cs, cfg, stats, wiki)
    cs.cannot_reproduce(
        "fig7a_wiki103", "Wiki-103 512: sigma_1 decays faster and selectiveness is "
        "considerably lower, not increasing beyond delay ~10 (Figure 7a)",
        "faster decay, lower selectiveness",
        zoo.NOT_REPRODUCIBLE["Wiki-103 512 (43.4 / 42.1)"], SECTION,
    )  # fmt: skip


def _fig7a(cs, cfg, stats, wiki):
    ids = ("fig7a_close_short", "fig7a_wiki2_larger_long", "fig7a_selectiveness")
    stmts = (
        "PTB 512 and Wiki-2 512 have close sigma_1 at short delays (Figure 7a)",
        "beyond delay 10 the Wiki-2 512 model has the larger sigma_1: a longer "
        "memory (Figure 7a)",
        "the selectiveness curves of PTB 512 and Wiki-2 512 are similar (Figure 7a)",
    )
    pubs = ("close for delays <= 10", "Wiki-2 larger beyond delay 10", "similar")
    why = _wiki_missing(cfg, stats, wiki, ("wiki2_512",), ("lstm512",))
    if why:
        for i, st, pub in zip(ids, stmts, pubs, strict=True):
            cs.not_run(i, st, pub, why, SECTION)
        return
    w, wb = _log_sigma(wiki["wiki2_512"])
    p, pb = _log_sigma(stats[("lstm512", "c")])
    pb = _shuffled(pb, cfg.seed)
    short = slice(0, min(WIKI_SHORT, len(w)))
    gap, gap_b = np.abs(w - p)[short].max(), np.abs(wb - pb)[:, short].max(1)
    cs.check(
        ids[0], stmts[0], published=pubs[0],
        ours=f"largest |log10 sigma_1 Wiki-2 - PTB| at delays < {WIKI_SHORT}: "
             f"{gap:.2f}",
        criterion=f"|log10 sigma_1(Wiki-2) - log10 sigma_1(PTB)| <= 0.3 (a factor "
                  f"2, as 'nearly the same' seeds in Figure 4b) at every delay < "
                  f"{WIKI_SHORT}",
        passed=gap <= 0.3, interval=_q(gap_b), interval_kind=ACROSS + MAX_NOTE,
        holds_across_interval=bool(np.percentile(gap_b, 97.5) <= 0.3), source=SECTION,
    )  # fmt: skip
    if len(w) < WIKI_SHORT + 2:
        cs.not_run(ids[1], stmts[1], pubs[1],
                   f"max_delay {len(w)} at this preset: fewer than two delays "
                   f"beyond the paper's {WIKI_SHORT}", SECTION)  # fmt: skip
    else:
        long = slice(WIKI_SHORT, len(w))
        diff, diff_b = (w - p)[long].mean(), (wb - pb)[:, long].mean(1)
        beyond = bool(np.percentile(diff_b, 2.5) > 0)
        cs.check(
            ids[1], stmts[1], published=pubs[1],
            ours=f"mean log10 sigma_1 Wiki-2 - PTB at delays >= {WIKI_SHORT}: "
                 f"{diff:.2f}",
            criterion=f"mean over delays >= {WIKI_SHORT} of log10 sigma_1(Wiki-2) "
                      "- log10 sigma_1(PTB) > 0 beyond the band (the paper's "
                      "'larger SVs' past delay 10); partly: > 0",
            passed=beyond, partly=bool(diff > 0), interval=_q(diff_b),
            interval_kind=ACROSS, holds_across_interval=beyond, source=SECTION,
        )  # fmt: skip
    sw, swb = _sel(wiki["wiki2_512"])
    sp, spb = _sel(stats[("lstm512", "c")])
    rel, rel_b = np.abs(sw / sp - 1).max(), np.abs(swb / _shuffled(spb, cfg.seed) - 1)
    rel_b = rel_b.max(1)
    cs.check(
        ids[2], stmts[2], published=pubs[2],
        ours=f"largest |selectiveness Wiki-2 / PTB - 1| {rel:.2f}",
        criterion="selectiveness of Wiki-2 within 20% of PTB's at every delay "
                  "(a ratio curve moves far less than sigma_1; the differences the "
                  "paper names -- training, Wiki-103 -- are larger); partly: 40%",
        passed=rel <= 0.2, partly=rel <= 0.4, interval=_q(rel_b),
        interval_kind=ACROSS + MAX_NOTE,
        holds_across_interval=bool(np.percentile(rel_b, 97.5) <= 0.2), source=SECTION,
    )  # fmt: skip


def _fig7b(cs, cfg, stats, wiki):
    both = ("wiki2_256", "wiki2_512")
    stmt = ("Wiki-2: 512 units have a higher sigma_1 than 256 at every delay, "
            "even long ones (Figure 7b)")  # fmt: skip
    why = _wiki_missing(cfg, stats, wiki, both)
    if why:
        cs.not_run("fig7b_512_higher", stmt, "consistently higher", why, SECTION)
    else:
        big, big_b = _log_sigma(wiki["wiki2_512"])
        mid, mid_b = _log_sigma(wiki["wiki2_256"])
        gap_b = big_b - mid_b  # paired: the same segments and block weights
        every = bool((np.percentile(gap_b, 2.5, axis=0) > 0).all())
        mean_above = bool(np.percentile(gap_b.mean(1), 2.5) > 0)
        cs.check(
            "fig7b_512_higher", stmt, published="consistently higher",
            ours=f"log10 sigma_1 512 - 256 from {(big - mid).min():.2f} to "
                 f"{(big - mid).max():.2f} over the delays",
            criterion="log10 sigma_1(512) - log10 sigma_1(256) > 0 beyond the band "
                      "at every delay; partly: its mean over delays > 0 beyond it",
            passed=every, partly=mean_above, interval=_q(gap_b[:, -1]),
            interval_kind=BAND + " (log10 gap at the last delay)",
            holds_across_interval=every, source=SECTION,
        )  # fmt: skip
    _fig7b_vs_ptb(cs, cfg, stats, wiki)
    _fig7b_selectiveness(cs, cfg, stats, wiki)


def _fig7b_vs_ptb(cs, cfg, stats, wiki):
    stmt = ("the sigma_1 gain from 256 to 512 units is larger on WikiText-2 than "
            "on PTB (Figure 7b vs 6a)")  # fmt: skip
    why = _wiki_missing(cfg, stats, wiki, ("wiki2_256", "wiki2_512"),
                        ("lstm256", "lstm512"))  # fmt: skip
    if why:
        cs.not_run("fig7b_gain_above_ptb", stmt, "larger difference", why, SECTION)
        return
    gain = {}
    for text, (a, b) in {"wiki": (wiki["wiki2_512"], wiki["wiki2_256"]),
                         "ptb": (stats[("lstm512", "c")],
                                 stats[("lstm256", "c")])}.items():  # fmt: skip
        (va, ba), (vb, bb) = _log_sigma(a), _log_sigma(b)
        gain[text] = ((va - vb).mean(), (ba - bb).mean(1))
    diff = gain["wiki"][0] - gain["ptb"][0]
    diff_b = gain["wiki"][1] - _shuffled(gain["ptb"][1], cfg.seed)
    beyond = bool(np.percentile(diff_b, 2.5) > 0)
    cs.check(
        "fig7b_gain_above_ptb", stmt, published="larger difference than Figure 6a",
        ours=f"mean log10 sigma_1 gain 512 - 256: WikiText-2 {gain['wiki'][0]:.2f}, "
             f"PTB {gain['ptb'][0]:.2f}",
        criterion="mean over delays of the log10 sigma_1 gain 512 - 256 on "
                  "WikiText-2 minus that on PTB > 0 beyond the band; partly: > 0",
        passed=beyond, partly=bool(diff > 0), interval=_q(diff_b),
        interval_kind=ACROSS, holds_across_interval=beyond, source=SECTION,
    )  # fmt: skip


def _fig7b_selectiveness(cs, cfg, stats, wiki):
    stmt = ("Wiki-2: the 512 model's selectiveness keeps increasing at long delays "
            "while the 256 model's is flat (Figure 7b)")  # fmt: skip
    pub = "512 keeps increasing, 256 flat"
    why = _wiki_missing(cfg, stats, wiki, ("wiki2_256", "wiki2_512"))
    d = cfg.max_delay
    if not why and d < 6:
        why = f"max_delay {d} at this preset: fewer than 3 delays in the second half"
    if why:
        cs.not_run("fig7b_selectiveness", stmt, pub, why, SECTION)
        return
    big, big_b = _sel(wiki["wiki2_512"])
    mid, mid_b = _sel(wiki["wiki2_256"])
    half = d // 2  # "long delays": the second half of the delays
    rise, rise_b = _slope(big, half), _slope(big_b, half)
    gap_b = rise_b - _slope(mid_b, half)  # paired draws
    rising = bool(np.percentile(rise_b, 2.5) > 0)
    steeper = bool(np.percentile(gap_b, 2.5) > 0)
    cs.check(
        "fig7b_selectiveness", stmt, published=pub,
        ours=f"selectiveness slope per delay over delays >= {half}: 512 {rise:.2e}, "
             f"256 {_slope(mid, half):.2e}",
        criterion=f"least-squares slope of selectiveness(512) over delays >= {half} "
                  "> 0 beyond the band, and steeper than 256's beyond the band (the "
                  "256 curve flat beside it); partly: one of the two",
        passed=rising and steeper, partly=rising or steeper, interval=_q(gap_b),
        interval_kind=BAND + " (slope 512 - slope 256)",
        holds_across_interval=rising and steeper, source=SECTION,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Figure 8: POS classes and word frequency
# ---------------------------------------------------------------------------

# the paper's order at delay 0 (ties: "then adverbs and pronouns")
PAPER_POS_RANK = {"N": 1.5, "V": 1.5, "Adj": 3, "Adv": 4.5, "Pro": 4.5,
                  "Conj-P": 6.5, "Det": 6.5}  # fmt: skip


def _pos(cs, pos):
    names = list(PAPER_POS_RANK)
    s0 = np.array([pos[n]["sigma_1"][0][0] for n in names])
    b0 = np.stack([pos[n]["sigma_1"][1][:, 0] for n in names], 1)
    order = [names[i] for i in np.argsort(-s0)]
    top, bottom = set(order[:2]), set(order[-2:])
    rank = [PAPER_POS_RANK[n] for n in names]
    rho = _spearman(-s0, rank)
    rho_b = np.array([_spearman(-row, rank) for row in b0])
    cs.check(
        "fig8a_pos_order",
        "nouns and verbs have the largest sigma_1 at delay 0, conjunctions/"
        "prepositions and determiners the smallest (Figure 8a)",
        published="N, V > Adj > Adv, Pro > Conj-P, Det", ours=" > ".join(order),
        criterion="top two classes {N, V} and bottom two {Conj-P, Det}; partly: "
                  "Spearman correlation with the paper's order >= 0.7",
        passed=top == {"N", "V"} and bottom == {"Conj-P", "Det"}, partly=rho >= 0.7,
        interval=_q(rho_b), interval_kind=BAND + " (Spearman with the paper's order)",
        holds_across_interval=bool(np.percentile(rho_b, 2.5) >= 0.7),
        spearman=rho, source=SOURCE + ", section 4.3.3",
    )  # fmt: skip
    last = np.array([pos[n]["sum_sigma"][0][-1] for n in names])
    lb = np.stack([pos[n]["sum_sigma"][1][:, -1] for n in names], 1)
    keep = _spearman(s0, last)
    keep_b = np.array([_spearman(a, c) for a, c in zip(b0, lb, strict=True)])
    cs.check(
        "fig8a_order_persists",
        "classes with the largest sigma_1 at delay 0 keep the largest sum of "
        "singular values at the last delay (Figure 8a)", published="same order",
        ours=round(keep, 2),
        criterion="Spearman correlation of sigma_1 at delay 0 with sum sigma at "
                  "the last delay across the 7 classes >= 0.7",
        passed=keep >= 0.7, interval=_q(keep_b), interval_kind=BAND,
        holds_across_interval=bool(np.percentile(keep_b, 2.5) >= 0.7),
        source=SOURCE + ", section 4.3.3",
    )  # fmt: skip


def _frequency(cs, words, seed):
    rare = words.loc[words.train_count < 10, "sigma_1"].to_numpy()
    freq = words.loc[words.train_count >= 500, "sigma_1"].to_numpy()
    if len(rare) < 5 or len(freq) < 5:
        cs.not_run("fig8b_frequency", "frequent words have small sigma_1 (8b)",
                   "", "too few rare or frequent words in the analysed text", SOURCE)  # fmt: skip
        return
    gap = np.log10(np.median(rare)) - np.log10(np.median(freq))
    draws = cl.bootstrap_interval(
        (rare,), lambda r: np.log10(np.median(r)), seed=seed
    )  # rare words' median; the frequent ones are many and tightly estimated
    lo = draws[0] - np.log10(np.median(freq))
    hi = draws[1] - np.log10(np.median(freq))
    medians = words.groupby("freq_bin")["sigma_1"].median()
    order = [b for b in analyses.freq_labels() if b in medians.index]
    falling = bool(all(np.diff(medians[order].to_numpy()) < 0))
    cs.check(
        "fig8b_frequency",
        "frequent words have small sigma_1, infrequent words large (Figure 8b)",
        published="99% of words < 10 have sigma_1 >= 3; 75% of words >= 500 "
                  "have sigma_1 < 1",
        ours=f"log10 median sigma_1 rare / frequent {gap:.2f}; medians by bin "
        f"{ {k: round(float(v), 3) for k, v in medians[order].items()} }",
        criterion="log10 median sigma_1 of words seen < 10 times minus that of "
                  "words seen >= 500 times > 0 beyond its interval, and the "
                  "median falls from bin to bin; partly: the first alone",
        passed=bool(lo > 0 and falling), partly=bool(lo > 0), interval=[float(lo), float(hi)],
        interval_kind="95% bootstrap over the rare words",
        holds_across_interval=bool(lo > 0),
        share_rare_ge3=float((rare >= 3).mean()),
        share_freq_lt1=float((freq < 1).mean()), source=SOURCE + ", section 4.3.4",
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Table 3, and what is not built yet
# ---------------------------------------------------------------------------


def with_majority(t3, data):
    """Table 3 plus each problem's majority-class share (%) over its words: a
    probe that always answers the commoner class scores this much, so
    separability needs more than it (the paper's table gives no baseline)."""
    tags = probes.word_tags(data)
    share = {}
    for name, (classes, _) in probes.PROBLEMS.items():
        n = [sum(t in cls for t in tags.values()) for cls in classes]
        share[name] = 100 * max(n) / max(1, sum(n))
    return t3.assign(majority=t3.problem.map(share))


def _table3(cs, t3):
    for row in t3.itertuples():
        stmt = f"Table 3: logistic regression {row.problem} from the embeddings"
        if not np.isfinite(row.test_ours):
            cs.not_run(f"table3_{row.problem}", stmt, row.test_paper,
                       "too few word types of these classes", SOURCE)  # fmt: skip
            continue
        err = abs(row.test_ours - row.test_paper)
        beats = bool(row.lo > row.majority)
        cs.check(
            f"table3_{row.problem}", stmt, published=row.test_paper,
            ours=f"{row.test_ours:.1f} (majority class {row.majority:.1f})",
            criterion="test accuracy within 10 points of the paper's and its "
                      "interval above the majority-class share; partly: within 20 "
                      "points and above it (embeddings, word split and classifier "
                      "settings differ)",
            passed=err <= 10 and beats, partly=err <= 20 and beats,
            interval=[row.lo, row.hi],
            interval_kind=f"95% Wilson over {row.test_words} test words",
            holds_across_interval=bool(row.lo >= row.test_paper - 10
                                       and row.hi <= row.test_paper + 10),
            source=SOURCE + ", appendix 9",
        )  # fmt: skip
    cs.cannot_reproduce(
        "table3_genitive", "Table 3: genitive vs non-genitive nouns", 89.4,
        "PTB's LM text splits 's into its own token, so no "
        "word type of this vocabulary is genitive (the authors' own "
        "normalisation kept it attached)", SOURCE,
    )  # fmt: skip


def _decay(cs, fits, seed):
    """Figure 9: sigma_1 = a exp(-b tau) per word (G grouped by source word)."""
    ok = fits[fits.ok].set_index("word")
    stmt = "sigma_1 of 'the' decays faster than of 'congressional' (Figure 9a)"
    if {"the", "congressional"} <= set(ok.index):
        the, cong = ok.loc["the"], ok.loc["congressional"]
        diff = the.b - cong.b
        se = math.hypot(the.b_se, cong.b_se)
        lo, hi = diff - 1.96 * se, diff + 1.96 * se
        cs.check(
            "fig9_the_vs_congressional", stmt, published="b = 0.66 vs 0.11",
            ours=f"b = {the.b:.2f} vs {cong.b:.2f}",
            criterion="b(the) - b(congressional) > 0 beyond its 95% interval from "
                      "the fits' standard errors; partly: > 0",
            passed=bool(lo > 0), partly=bool(diff > 0), interval=[lo, hi],
            interval_kind="95% normal interval from curve_fit's standard errors",
            holds_across_interval=bool(lo > 0), source=SOURCE + ", section 4.3.4",
        )  # fmt: skip
    else:
        cs.not_run("fig9_the_vs_congressional", stmt, "b = 0.66 vs 0.11",
                   "'congressional' does not occur (twice) in the analysed "
                   "positions at this preset", SOURCE)  # fmt: skip
    stmt = "frequent words decay faster: b grows with training frequency (9b)"
    if len(ok) < 10:
        cs.not_run("fig9b_b_by_frequency", stmt, "76% of words < 10 have b <= 0.2",
                   "fewer than 10 word fits at this preset", SOURCE)  # fmt: skip
        return
    x, y = np.log(ok.train_count.to_numpy()), ok.b.to_numpy()
    rho = _spearman(x, y)
    rng = np.random.default_rng(seed)
    draws = [_spearman(x[i], y[i]) for i in rng.integers(0, len(x), (500, len(x)))]
    lo = float(np.nanpercentile(draws, 2.5))
    cs.check(
        "fig9b_b_by_frequency", stmt, published="76% of words < 10 have b <= 0.2; "
        "frequent words mostly high b", ours=round(rho, 2),
        criterion="Spearman correlation of log training count and fitted b > 0 "
                  "beyond its interval; partly: > 0",
        passed=lo > 0, partly=rho > 0, interval=_q(draws),
        interval_kind=f"95% bootstrap over {len(x)} fitted words",
        holds_across_interval=lo > 0, source=SOURCE + ", section 4.3.4",
    )  # fmt: skip


def _properties(cs, props):
    """Figures 10-11: relative memory of property directions at delay 0."""
    rm0 = props[(props.measure == "relative_memory") & (props.delay == 0)]
    rm0 = rm0.set_index("property")
    nominal = [p for p in ("sg-pl", "common-proper") if p in rm0.index]
    verbal = [p for p in ("3rd-non-3rd", "present-past", "VBG-VBN") if p in rm0.index]
    if not nominal or not verbal:
        cs.not_run("fig10_nominal_above_verbal", "Figure 10", "", "no directions",
                   SOURCE)  # fmt: skip
        return
    n_val, v_val = rm0.loc[nominal, "value"].mean(), rm0.loc[verbal, "value"].mean()
    n_lo, v_hi = rm0.loc[nominal, "lo"].min(), rm0.loc[verbal, "hi"].max()
    cs.check(
        "fig10_nominal_above_verbal",
        "noun properties are remembered better than verb properties at delay 0 "
        "(relative memory, Figures 10-11)",
        published="nominal (genitive ~0.8, common-proper, sg-pl) > verbal",
        ours=f"mean relative memory nominal {n_val:.2f}, verbal {v_val:.2f}",
        criterion="every nominal property's lower band above every verbal "
                  "property's upper band at delay 0; partly: the means in that order",
        passed=bool(n_lo > v_hi), partly=bool(n_val > v_val),
        interval=[float(rm0.loc[nominal, "lo"].min()),
                  float(rm0.loc[nominal, "hi"].max())],
        interval_kind=BAND + " (nominal properties)",
        holds_across_interval=bool(n_lo > v_hi), source=SOURCE + ", section 5.2",
    )  # fmt: skip
    stmt = ("common-proper is remembered better than singular-plural at delay 0 "
            "(Figure 10)")  # fmt: skip
    if {"common-proper", "sg-pl"} <= set(rm0.index):
        cp, sp = rm0.loc["common-proper"], rm0.loc["sg-pl"]
        cs.check(
            "fig10_common_proper_above_sg_pl", stmt, published="common-proper > sg-pl",
            ours=f"{cp.value:.2f} vs {sp.value:.2f}",
            criterion="bands at delay 0 apart in that order; partly: values in "
                      "that order",
            passed=bool(cp.lo > sp.hi), partly=bool(cp.value > sp.value),
            interval=[float(cp.lo), float(cp.hi)],
            interval_kind=BAND + " (common-proper)",
            holds_across_interval=bool(cp.lo > sp.hi), source=SOURCE + ", section 5.2",
        )  # fmt: skip
    else:
        cs.not_run("fig10_common_proper_above_sg_pl", stmt, "common-proper > sg-pl",
                   "no relative memory of both properties in this run",
                   SOURCE + ", section 5.2")  # fmt: skip
    cs.cannot_reproduce(
        "fig10_genitive", "genitive vs non-genitive: relative memory ~0.8 at delay 0",
        "~0.8", "PTB's LM text splits 's into its own "
        "token, so no word type is genitive", SOURCE,
    )  # fmt: skip
