"""The lesson's claims: what the literature says a model's memory looks like,
checked on the model trained here. Criteria are fixed here, before any run."""

from __future__ import annotations

from ... import claims as cl

VERWIMP = "Verwimp et al. 2018 (seed 001)"
JAEGER = "Jaeger 2001, 'Short term memory in echo state networks'"
ONE_MODEL = "one trained model (one seed): no spread over seeds"


def make_claims(cfg, preset, tables) -> cl.ClaimSet:
    cs = cl.ClaimSet("your_rnn", cfg, preset)
    _gradient_claims(cs, tables["state_gradients"])
    _probe_claims(cs, tables["delay_probes"])
    _capacity_claims(cs, tables["memory_capacity"])
    _connectivity_claim(cs, tables["connectivity"])
    return cs


def _connectivity_claim(cs, conn):
    near = float(conn[conn.delay <= 2].connectivity.mean())
    far = float(conn[conn.delay >= 10].connectivity.mean())
    cs.check(
        "connectivity_recent",
        "a prediction draws most on the last few inputs (connectivity at delays "
        "0-2 above that at delays of 10 or more)",
        published="recent inputs dominate (Madsen 2019: short-term context)",
        ours={"delay 0-2": round(near, 3), "delay >= 10": round(far, 3)},
        criterion="mean row-normalised connectivity at delays 0-2 > at delays >= 10",
        passed=near > far, source="Madsen 2019, Distill (seed 000)",
        interval_kind=ONE_MODEL,
    )  # fmt: skip


def _sigma(grads, group, delay):
    row = grads[(grads.group == group) & (grads.delay == delay)]
    return float(row.sigma_1.iloc[0])


def _gradient_claims(cs, grads):
    last = int(grads.delay.max())
    first, final = _sigma(grads, "all", 0), _sigma(grads, "all", last)
    cs.check(
        "memory_decays",
        f"the cell state's memory of a word decays with delay (sigma_1 at delay "
        f"{last} below delay 0)",
        published="decreasing with delay", ours=f"{first:.3g} -> {final:.3g}",
        criterion="sigma_1(delay max) < sigma_1(delay 0), normalised G", passed=final < first, source=VERWIMP,
        interval_kind=ONE_MODEL,
    )  # fmt: skip
    bins = sorted(g for g in grads.group.unique() if g != "all")
    rare, frequent = bins[0], bins[-1]
    s_rare, s_freq = _sigma(grads, rare, 0), _sigma(grads, frequent, 0)
    cs.check(
        "frequent_small_sigma",
        "frequent words leave a smaller trace: sigma_1 at delay 0 of the most "
        "frequent words below that of the rarest (Fig. 8b)",
        published="small sigma_1 for frequent words",
        ours={"rarest": round(s_rare, 4), "most frequent": round(s_freq, 4)},
        criterion="sigma_1(delay 0) of the most frequent bin < of the rarest bin",
        passed=s_freq < s_rare, source=VERWIMP, interval_kind=ONE_MODEL,
        bins=bins,
    )  # fmt: skip


def _probe_claims(cs, probes):
    c = probes[probes.state == "c"].sort_values("delay")
    near, far = c.iloc[0], c.iloc[-1]
    lo, hi = cl.wilson_interval(round(near.accuracy * near.n_test), int(near.n_test))
    cs.check(
        "recent_word_decodable",
        f"the word {int(near.delay)} step(s) back is linearly decodable from the "
        "cell state",
        published="decodable (E3: token ID from the cell state)",
        ours=round(float(near.accuracy), 3),
        criterion="held-out LDA accuracy > 2x the majority-class chance, at both "
        "ends of its 95% Wilson interval",
        passed=lo > 2 * near.chance, partly=near.accuracy > 2 * near.chance,
        interval=[lo, hi], interval_kind=f"95% Wilson over {int(near.n_test)} positions",
        holds_across_interval=(lo > 2 * near.chance) == (hi > 2 * near.chance),
        source=VERWIMP, chance=float(near.chance),
    )  # fmt: skip
    cs.check(
        "decoding_fades",
        f"decoding fades with delay (delay {int(near.delay)} vs {int(far.delay)})",
        published="memory decays with delay",
        ours={int(near.delay): round(float(near.accuracy), 3),
              int(far.delay): round(float(far.accuracy), 3)},
        criterion="accuracy at the longest probed delay < at the shortest",
        passed=far.accuracy < near.accuracy, source=VERWIMP,
        interval_kind=ONE_MODEL,
    )  # fmt: skip


def _capacity_claims(cs, mc):
    for net, frame in mc.groupby("network", sort=False):
        total, units = float(frame.mc_k.sum()), int(frame.units.iloc[0])
        cs.check(
            "mc_bound_" + ("esn" if "echo" in net else "lstm"),
            f"memory capacity of an {net} of {units} units is at most {units}",
            published="MC <= N for i.i.d. input", ours=round(total, 2),
            criterion="sum over delays of the held-out squared correlations <= N "
            "(a bound: a violation would mean an estimation error)",
            passed=total <= units, source=JAEGER,
        )  # fmt: skip
