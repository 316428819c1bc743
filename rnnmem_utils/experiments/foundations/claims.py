"""The lecture's statements, our measurements, verdicts from code."""

from __future__ import annotations

import numpy as np

from ... import claims as cl
from ... import timing
from .parts import EXPERIMENT, SOURCE, TIME_TOLERANCE, UNIT_BLOCKS

# ---------------------------------------------------------------------------
# Claims: the lecture's statements, our measurements, verdicts from code
# ---------------------------------------------------------------------------


def build_claims(cfg, preset: str, results: dict) -> cl.ClaimSet:
    cs = cl.ClaimSet(EXPERIMENT, cfg, preset)
    for add in (
        _repeat_claims,
        _truncation_claims,
        _gradient_claims,
        _unit_claims,
        _dropout_layer_claims,
    ):
        add(cs, results)
    return cs


def _claim(cs, id_, statement, published, ours, criterion, passed, partly=False,
           difference="", *, holds=None, **kw):  # fmt: skip
    """:meth:`ClaimSet.check` with this lesson's source. ``criterion`` says the
    rule and why it was chosen (fixed before any result was seen); ``interval``
    / ``holds``: the uncertainty of the number the verdict hangs on, from the
    repeats, and whether the verdict is the same at both ends of it."""
    cs.check(
        id_, statement, published=published, ours=ours, criterion=criterion,
        passed=passed, partly=partly, difference=difference, source=SOURCE,
        holds_across_interval=None if holds is None else bool(holds), **kw,
    )  # fmt: skip


def _repeat_claims(cs, results) -> None:
    r = results["repeat"]
    n = r["n_sequences"]
    _claim(
        cs,
        "handbuilt_repeat_detector",
        "Hand-chosen W_xh, W_hh and readout (state: current, previous, bias; ReLU) "
        "detect repeats exactly",
        f"correct on all {n}",
        f"{r['hand_correct']}/{n}",
        f"every step of all {n} binary sequences of length {r['seq_len']} right "
        "(the lecture says exact; exhaustive, so no sampling error)",
        r["hand_correct"] == n,
        difference=f"{r['hand_correct'] - n} sequences",
    )
    _claim(
        cs,
        "learned_repeat_detector",
        "The same 3-unit architecture can be learned by gradient descent",
        f"correct on all {n}",
        f"{r['learned_correct']}/{n}",
        "best of the restarts right on every step of every sequence (the task has "
        "an exact solution, so anything less is a failure to learn it); partly if "
        ">= 95% of them (learned, up to a few inputs)",
        r["learned_correct"] == n,
        r["learned_correct"] >= 0.95 * n,
        difference=f"{r['learned_correct'] - n} sequences",
    )
    corr = np.abs(r["unit_correlation"])
    _claim(
        cs,
        "learned_units_match_handbuilt",
        "Learned weights parallel the hand-built ones (units: current, previous, bias)",
        "same units",
        f"matched |r| = {np.round(corr, 2).tolist()}",
        "each hand-built unit has a learned unit with |r| >= 0.9 (best pairing; "
        "0.9: the two carry the same signal up to 19% unexplained variance); "
        "partly if 2 of 3. Rests on one trained net (the best restart)",
        (corr >= 0.9).all(),
        (corr >= 0.9).sum() >= 2,
    )


def _truncation_claims(cs, results) -> None:
    r = results["truncation"]
    rows, T, d = r["rows"], r["seq_len"], r["delay"]
    ks = np.array([x["truncation"] for x in rows])
    mem = np.array([x["activation_bytes"] for x in rows], dtype=float)
    r2 = float(np.corrcoef(ks, mem)[0, 1] ** 2) if len(ks) > 2 else float("nan")
    grows = bool(np.all(np.diff(mem[np.argsort(ks)]) > 0))
    _claim(
        cs,
        "bptt_memory_grows_with_truncation",
        "BPTT stores every step's activations; truncation reduces memory",
        "memory proportional to the unrolled length",
        f"{mem.min() / 1e6:.2f} MB at k={ks.min()} .. {mem.max() / 1e6:.2f} MB at "
        f"k={ks.max()}; linear R^2 {r2:.3f}",
        "activation memory strictly increasing in k and linear in k (R^2 >= 0.99: "
        "every step stores the same tensors; byte counts are exact, no noise)",
        grows and r2 >= 0.99,
        grows,
    )
    _compute_claim(cs, r["cost"], T)
    exact = [x["max_reach"] == min(x["truncation"], T) for x in rows]
    _claim(
        cs,
        "gradient_reach_equals_truncation",
        "Gradients flow only within the truncation window",
        "reach = truncation length",
        {x["truncation"]: x["max_reach"] for x in rows},
        "for every k, the furthest step back with a nonzero input gradient is "
        "min(k, T) steps (counting the loss step): exact, as the detach is",
        all(exact),
    )
    _dependency_claim(cs, rows, T, d)


def _compute_claim(cs, cost: list[dict], T: int) -> None:
    """Truncation and compute, as the lecture's truncated BPTT runs: the cost of
    one gradient step (one window of k steps), counted and timed."""
    by_k = {c["truncation"]: c for c in sorted(cost, key=lambda c: c["truncation"])}
    ks = list(by_k)
    lo, hi = by_k[ks[0]], by_k[ks[-1]]
    flops = np.array([by_k[k]["step_flops"] for k in ks], dtype=float)
    slopes = np.diff(flops) / np.diff(ks) if len(ks) > 1 else np.array([0.0])
    linear = len(ks) > 1 and bool(np.allclose(slopes, slopes[0], rtol=1e-12))
    a, b = np.array(lo["step_seconds"]), np.array(hi["step_seconds"])
    ratio = timing.median_ratio(a, b)
    ci = cl.bootstrap_interval((a, b), timing.median_ratio)
    bar = 1 - TIME_TOLERANCE
    seq_flops = lo["sequence_flops"] / hi["sequence_flops"]
    seq_time = timing.median_ratio(lo["sequence_seconds"], hi["sequence_seconds"])
    _claim(
        cs,
        "tbptt_reduces_compute",
        "Truncation reduces compute: one gradient step on a window of k steps costs "
        "less for smaller k (the total over a whole sequence does not shrink)",
        "shorter truncation -> less compute",
        f"one step at k={ks[0]}: {lo['step_flops'] / hi['step_flops']:.2f}x the "
        f"FLOPs and {ratio:.2f}x the CPU time of k={ks[-1]}; a whole sequence of "
        f"{T} steps at k={ks[0]}: {seq_flops:.2f}x the FLOPs, {seq_time:.2f}x the time",
        f"FLOPs per gradient step exactly linear in k, and the median over "
        f"{len(a)} interleaved rounds of the paired CPU-time ratio (step at k="
        f"{ks[0]} / step at k={ks[-1]}) below {bar:.2f} (a difference under "
        f"{TIME_TOLERANCE:.0%} counts as timing noise on a shared CPU); "
        "partly if only the arithmetic",
        linear and ratio < bar,
        linear,
        difference=f"time ratio {ratio:.2f} vs bar {bar:.2f}",
        interval=list(ci),
        interval_kind=f"95% bootstrap of the median time ratio over {len(a)} rounds",
        holds=(ci[0] < bar) == (ci[1] < bar),
        step_flops={k: c["step_flops"] for k, c in by_k.items()},
        sequence_flops={k: c["sequence_flops"] for k, c in by_k.items()},
        median_step_ms={k: 1e3 * np.median(c["step_seconds"]) for k, c in by_k.items()},
        median_sequence_ms={
            k: 1e3 * np.median(c["sequence_seconds"]) for k, c in by_k.items()
        },
    )


def _dependency_claim(cs, rows, T: int, d: int) -> None:
    chance = rows[0]["chance"]
    mid = (1 + chance) / 2
    short = [x for x in rows if x["truncation"] <= d]
    full = [x for x in rows if x["truncation"] >= T]
    if not short or not full:
        cs.not_run(
            "tbptt_fails_below_dependency",
            "Truncation shorter than the dependency hinders learning it",
            "fails when k <= delay",
            "needs a k <= delay and full BPTT",
            SOURCE,
        )
        return
    best = max(short, key=lambda x: x["accuracy"])
    acc_s, acc_f = best["accuracy"], full[0]["accuracy"]
    ci_s = cl.bootstrap_interval(best["sequence_accuracies"])
    ci_f = cl.bootstrap_interval(full[0]["sequence_accuracies"])
    n = len(best["sequence_accuracies"])

    def verdict(s, f):  # monotone: hardest to pass at (s high, f low)
        return cl.verdict_from(s < mid and f >= 0.95, s < mid)

    _claim(
        cs,
        "tbptt_fails_below_dependency",
        "Truncation shorter than the dependency hinders learning it",
        f"fails when k <= delay ({d})",
        f"accuracy {acc_s:.2f} at best with k <= {d} (k={best['truncation']}); "
        f"{acc_f:.2f} with full BPTT",
        f"every k <= delay stays below {mid:.3f} (halfway from chance {chance:.2f} "
        "to 1: nearer chance than solved) while full BPTT reaches >= 0.95 (the "
        "task is then learned, so the failure is the truncation's)",
        acc_s < mid and acc_f >= 0.95,
        acc_s < mid,
        interval=list(ci_s),
        interval_kind=f"95% bootstrap of the best k <= delay's accuracy over {n} "
        f"test sequences (full BPTT: {ci_f[0]:.3f} to {ci_f[1]:.3f})",
        holds=verdict(ci_s[1], ci_f[0]) == verdict(ci_s[0], ci_f[1]),
    )


def _gradient_claims(cs, results) -> None:
    g = results["gradients"]
    prod = g["products"]
    ok = all(x["max_norm"] <= x["bound"] * (1 + 1e-9) for x in prod)
    worst = max(x["max_norm"] / x["bound"] for x in prod if x["bound"] > 0)
    _claim(
        cs,
        "jacobian_product_bounded_by_sigma",
        "The gradient k steps back is bounded by the product of Jacobians, "
        "<= sigma_max(W_hh)^k for tanh or linear units",
        "||P_k|| <= sigma^k",
        f"max ||P_k|| / sigma^k = {worst:.3f}",
        "holds for every sigma, k, sequence and activation (a bound has no "
        "tolerance; 1e-9 relative allows float64 rounding only)",
        ok,
    )
    K = max(x["k"] for x in prod)
    end = {(x["activation"], x["sigma"]): x["norm"] for x in prod if x["k"] == K}
    below = {k: v for k, v in end.items() if k[1] < 1}
    _claim(
        cs,
        "vanishing_below_one",
        "If the largest singular value is < 1, gradients vanish",
        "vanish",
        {f"{a} s={s}": f"{v:.1e}" for (a, s), v in below.items()},
        f"||P_{K}|| < 1e-2 for every sigma < 1 (linear and tanh): a gradient "
        f"100x smaller after {K} steps has vanished for learning",
        bool(below) and all(v < 1e-2 for v in below.values()),
    )
    smax = max(s for _, s in end)
    lin_exact = abs(end[("linear", smax)] / smax**K - 1) < 1e-6
    _claim(
        cs,
        "exploding_large_sigma",
        "Very large singular values produce exploding gradients",
        "explode",
        f"tanh s={smax}: ||P_{K}|| = {end[('tanh', smax)]:.2e}; "
        f"linear: {end[('linear', smax)]:.2e} (= s^{K}: {lin_exact})",
        f"at the largest sigma ({smax}) the tanh product grows (||P_{K}|| > 10, an "
        "order of magnitude above a preserved gradient) and the linear one equals "
        "sigma^K (closed form, to 1e-6); partly if only the linear one",
        smax > 1 and end[("tanh", smax)] > 10 and lin_exact,
        smax > 1 and lin_exact,
    )
    _clip_claim(cs, g["clipping"])
    _highway_claim(cs, g["highway"])


def _clip_claim(cs, rows) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    last = df[df.step >= df.step.max() * 0.9].groupby(["seed", "clipped"]).loss.mean()
    seeds = sorted(df.seed.unique())
    gain = np.array([last[(s, False)] - last[(s, True)] for s in seeds])
    wins = gain > 0
    mean = last.groupby("clipped").mean()
    # one seed gives no spread to resample: no interval, and the claim says so
    ci = cl.bootstrap_interval(gain) if len(seeds) > 1 else None

    def verdict(g):  # with one number per seed, the interval moves the mean only
        return cl.verdict_from(wins.all() and g > 0, wins.sum() > len(seeds) / 2)

    _claim(
        cs,
        "clipping_rescues_exploding",
        "Gradient clipping mitigates exploding gradients",
        "clipped training succeeds where unclipped struggles",
        f"final loss {mean[True]:.3f} clipped vs {mean[False]:.3f} unclipped "
        f"(clipped better in {wins.sum()}/{len(seeds)} seeds)",
        "mean loss over the last 10% of updates lower with clipping in every seed "
        "(same initialisation and batches, so each seed is a paired comparison); "
        "partly if in most",
        wins.all(),
        wins.sum() > len(seeds) / 2,
        difference=f"unclipped - clipped final loss {gain.mean():+.3f}",
        interval=list(ci) if ci else None,
        interval_kind=f"95% bootstrap of the mean gain over {len(seeds)} seeds"
        if ci
        else "none: rests on one seed",
        holds=verdict(ci[0]) == verdict(ci[1]) if ci else None,
    )


def _highway_claim(cs, rows) -> None:
    K = max(x["k"] for x in rows)
    at = {x["model"]: x["ratio"] for x in rows if x["k"] == K}
    lstm = next(
        v for m, v in at.items() if m.startswith("LSTM") and not m.endswith(" 0")
    )
    vanilla = next(v for m, v in at.items() if m.startswith("vanilla"))
    _claim(
        cs,
        "lstm_cell_highway",
        "The LSTM cell pathway (forget gate near 1) keeps the gradient alive",
        "gradient survives many steps",
        f"{K} steps back: LSTM c keeps {lstm:.2g}, vanilla h keeps {vanilla:.2g}",
        "LSTM ratio ||dL/dc_(T-K)|| / ||dL/dc_T|| >= 0.1 while the vanilla RNN's "
        "< 0.1 (0.1: the gradient kept within one order of magnitude is alive)",
        lstm >= 0.1 and vanilla < 0.1,
        lstm >= 0.1,
    )


def _unit_claims(cs, results) -> None:
    feats = results["units"]["features"]

    def margins(r, r0):  # > 0: the feature counts as tracked
        return min(abs(r) - 0.5, abs(r) - abs(r0) - 0.1)

    def n_tracked(ms):
        return sum(m > 0 for m in ms)

    def verdict(n):
        return cl.verdict_from(n >= 2, n == 1)

    ms = [margins(f["r_trained"], f["best_abs_r_untrained"]) for f in feats]
    lo, hi = zip(*(_margin_interval(f, margins) for f in feats), strict=True)
    good = [f["feature"] for f, m in zip(feats, ms, strict=True) if m > 0]
    _claim(
        cs,
        "interpretable_units",
        "Hidden units of a character LM can be highly interpretable",
        "units tracking nameable features",
        {
            f["feature"]: f"|r| {abs(f['r_trained']):.2f} "
            f"(untrained {f['best_abs_r_untrained']:.2f})"
            for f in feats
        },
        "a unit tracks a feature if |r| >= 0.5 on held-out text (a unit explaining "
        "a quarter of the feature's variance) and >= 0.1 above the best unit of "
        "the same net before training (random units already respond to the "
        f"input); reproduced if >= 2 of {len(feats)} features, partly if 1",
        len(good) >= 2,
        len(good) == 1,
        difference=f"{len(good)} features tracked: {good}",
        interval=[n_tracked(lo), n_tracked(hi)],
        interval_kind=f"features tracked at the ends of each margin's 95% bootstrap "
        f"over {UNIT_BLOCKS} blocks of held-out text",
        holds=verdict(n_tracked(lo)) == verdict(n_tracked(hi)),
        margins={f["feature"]: round(m, 3) for f, m in zip(feats, ms, strict=True)},
    )


def _margin_interval(feat: dict, margins) -> tuple[float, float]:
    """95% bootstrap over the text blocks of a feature's margin (pairs of block
    correlations of the trained and the untrained unit)."""
    pairs = [
        (a, b)
        for a, b in zip(
            feat["r_trained_blocks"], feat["r_untrained_blocks"], strict=True
        )
        if a is not None and b is not None
    ]
    if len(pairs) < 2:
        m = margins(feat["r_trained"], feat["best_abs_r_untrained"])
        return m, m
    a, b = (np.array(v) for v in zip(*pairs, strict=True))
    return cl.bootstrap_interval(
        (a, b), lambda x, y: margins(np.mean(x), np.mean(np.abs(y)))
    )


def _dropout_layer_claims(cs, results) -> None:
    r = results["dropout_layers"]
    _dropout_claims(cs, r["dropout"])
    _multilayer_claims(cs, r)


def _dropout_claims(cs, dr) -> None:
    # 0.01: the mean over 2000 masks of 1000 units has a standard error near
    # 1e-3, so a convention off by (1-P) = 0.5 cannot hide inside the tolerance
    why = " (0.01: ten times the sampling error over 2000 masks)"
    cs.add(
        cl.compare(
            "dropout_test_scaling_restores_expectation",
            "With P the drop probability and no scaling in training, scaling by (1-P) "
            "at test time matches the expected training activation",
            1.0,
            dr["vanilla_train_over_scaled_test"],
            abs_tol=0.01,
            source=SOURCE,
        )
    ).criterion += why
    cs.add(
        cl.compare(
            "dropout_library_convention",
            "Libraries treating P as the drop probability scale by (1-P) at test time "
            "(checked on PyTorch's nn.Dropout, eval mode)",
            1 - dr["p"],
            dr["pytorch_test_scale"],
            abs_tol=0.01,
            source=SOURCE,
            details={"pytorch_train_over_test": dr["pytorch_train_over_test"]},
        )
    ).criterion += why


def _multilayer_claims(cs, r) -> None:
    diff = r["stacking"]["max_abs_difference"]
    _claim(
        cs,
        "multilayer_stacking",
        "A multi-layer RNN: each layer's input at time t is the hidden state of the "
        "layer below at the same t",
        "stacked layers",
        f"max |difference| {diff:.1e}",
        "nn.RNN(num_layers=2) equals two stacked one-layer RNNs with copied "
        "weights to 1e-12 (float64: the same arithmetic, so only rounding differs)",
        diff < 1e-12,
    )
    mem = {x["layers"]: x["activation_bytes"] for x in r["layer_memory"]}
    ls = sorted(mem)
    ratios = {n: mem[n] / mem[ls[0]] * ls[0] for n in ls}
    linear = all(abs(ratios[n] / n - 1) <= 0.2 for n in ls)
    _claim(
        cs,
        "multilayer_memory",
        "Stacking layers multiplies what must be stored for backpropagation",
        "memory grows with layers",
        {n: f"{ratios[n]:.2f}x" for n in ls},
        "activation memory increases with every layer, within 20% of "
        "proportional to the number of layers (byte counts are exact; 20% allows "
        "for what does not grow with depth, such as the input and the readout)",
        all(np.diff([mem[n] for n in ls]) > 0) and linear,
        all(np.diff([mem[n] for n in ls]) > 0),
    )
