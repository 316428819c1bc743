"""Memory analyses (Verwimp et al. 2018, sections 4.3-5) against independent
computations: sampled segments against the naive per-unit loop on the whole
stream, streaming passes against one pass, the bootstrap against its
definition, relative memory and cosines against closed forms on a constructed
G, the exponential fit against synthetic data with known a and b."""

import math

import numpy as np
import pytest
import torch

from rnnmem_utils.analysis import memory
from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models import cells
from rnnmem_utils.models.lm import RecurrentLM

V, N, D = 6, 60, 4


def _model(cell="lstm", seed=0):
    torch.manual_seed(seed)
    return RecurrentLM(cell, V, 5, embedding_size=3).double()


def _stream(seed=1):
    return np.random.default_rng(seed).integers(0, V, N)


def test_grouping_refuses_bad_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        memory.Grouping([0, 3], ["a", "b"])
    g = memory.Grouping([0, 2, 1, -1, 2], ["a", "b", "c"]).restrict([2, 0])
    assert g.labels.tolist() == [1, 0, -1, -1, 0] and g.names == ("c", "a")


def test_segments_are_disjoint_and_start_from_the_true_state():
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=8, positions=30, blocks=2)
    assert sample.tokens.shape == (8, 4)  # ceil(30 / 8) segments
    pos = sample.positions
    assert len(np.unique(pos)) == pos.size
    assert np.array_equal(sample.tokens.numpy(), stream[pos])
    states = model.states(torch.as_tensor(stream)[:, None])  # after each token
    for s, start in enumerate(pos[0]):
        for k, name in enumerate(model.state_names):
            want = states[name][start - 1, 0] if start else torch.zeros(5)
            assert torch.allclose(sample.initial_state[k][s], want.double(), atol=1e-12)
    assert sorted(np.bincount(sample.blocks).tolist()) == [2, 2]


def _reference_mean(model, stream, sample, members, state="c", by="target"):
    """Mean G[t, tau] per delay over the sampled (t, tau) whose target t
    (``by="target"``) or source t - tau (``by="source"``) is in ``members``
    (a set of stream positions), source and target in the same segment: the
    naive per-unit loop on the whole stream."""
    total = torch.zeros(D, 5, 3, dtype=torch.float64)
    count = torch.zeros(D, dtype=torch.float64)
    tokens = torch.as_tensor(stream)[:, None]
    for seg in sample.positions.T:
        for k, t in enumerate(seg):
            g = sg.naive_state_gradients(
                model, tokens, int(t), state=state, max_delay=D
            )
            for tau in range(min(k, D - 1) + 1):
                if (t if by == "target" else t - tau) in members:
                    total[tau] += g[tau]
                    count[tau] += 1
    return total / count[:, None, None], count


@pytest.mark.parametrize("cell,state", [("lstm", "c"), ("gru", "h")])
@pytest.mark.parametrize("by", ["source", "target"])
def test_block_sums_match_the_naive_loop_on_the_stream(cell, state, by):
    model, stream = _model(cell), _stream()
    sample = memory.sample_segments(model, stream, length=10, positions=40, blocks=3)
    parity = memory.Grouping(stream % 2, ["even", "odd"])
    sums = memory.block_sums(
        model, sample, {"parity": parity}, state=state, max_delay=D, by=by
    )["parity"]
    assert sums.sums.shape[:2] == (2, 3)
    for k in range(2):
        members = set(np.flatnonzero(stream % 2 == k).tolist())
        ref, count = _reference_mean(model, stream, sample, members, state, by)
        assert torch.allclose(sums.mean(k), ref, atol=1e-12)
        assert torch.equal(sums.counts[k].sum(0), count)


def test_source_and_target_groupings_differ_on_a_constructed_text():
    """A text where word 0 is always followed by word 1: grouped by source
    (the paper's: how word 0 is remembered tau steps later) word 0's mean at
    delay 1 averages d s_{t+1} / d e_t over its occurrences t; grouped by
    target it averages d s_t / d e_{t-1}, the memory of whatever preceded
    word 0. The default is by source and matches the naive reference."""
    model = _model()
    rng = np.random.default_rng(3)
    stream = rng.integers(2, V, N)
    stream[::5] = 0
    stream[1::5] = 1
    sample = memory.sample_segments(model, stream, length=10, blocks=2)
    word0 = memory.Grouping(np.where(stream == 0, 0, -1), ["w0"])
    members = set(np.flatnonzero(stream == 0).tolist())
    default = memory.block_sums(model, sample, {"w": word0}, max_delay=D)["w"]
    target = memory.block_sums(model, sample, {"w": word0}, max_delay=D,
                               by="target")["w"]  # fmt: skip
    src_ref, src_n = _reference_mean(model, stream, sample, members, by="source")
    tgt_ref, tgt_n = _reference_mean(model, stream, sample, members, by="target")
    assert default.meta["by"] == "source"
    assert torch.allclose(default.mean(0), src_ref, atol=1e-12)
    assert torch.allclose(target.mean(0), tgt_ref, atol=1e-12)
    # word 0 sits at offsets 0 and 5 of each 10-token segment: as a source it
    # has targets at every delay; as a target, none at delays 1..4 from offset 0
    assert torch.equal(default.counts[0].sum(0), src_n) and (src_n > 0).all()
    assert not torch.equal(src_n, tgt_n)
    gap = (default.mean(0)[1] - target.mean(0)[1]).abs().max()
    assert gap > 1e-3  # the two groupings are different numbers


@pytest.mark.parametrize("density", [1.0, 0.15])
def test_source_label_sums_match_dense_source_masks(density):
    """The engine's scatter by source label (with its skipping of streams far
    from any labelled source and its stream batches) against the dense
    per-group masks by source."""
    model = _model()
    gen = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, V, (14, 3), generator=gen)
    labels = torch.randint(0, 3, (14, 3), generator=gen)
    labels[torch.rand(14, 3, generator=gen) > density] = -1
    masks = {str(k): labels == k for k in range(3)}
    dense = sg.state_gradient_sums(model, tokens, masks, max_delay=D, by="source")
    for batch in (1, 2, 8):
        lab = sg.label_gradient_sums(model, tokens, labels, 3, max_delay=D,
                                     by="source", batch=batch)  # fmt: skip
        assert torch.allclose(lab.sums, dense.sums, atol=1e-12, rtol=0)
        assert torch.equal(lab.counts, dense.counts)
    with pytest.raises(ValueError, match="by="):
        sg.label_gradient_sums(model, tokens, labels, 3, by="middle")


def test_streamed_words_equal_one_pass_and_respect_the_budget():
    """Per-word curves: several passes under a small budget against one pass."""
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=12, blocks=3)
    words = memory.Grouping(stream, [f"w{k}" for k in range(V)], bootstrap=False)
    pos = memory.Grouping(stream % 3, ["x", "y", "z"])
    groupings = {"word": words, "pos": pos}
    chol = sg.embedding_cholesky(model.embedding.weight)
    run = dict(chol=chol, max_delay=D, n_boot=20)
    whole = memory.streamed_curves(model, sample, groupings, **run)
    one_matrix = D * 3 * 5 * 8  # bytes of one (D, H, E) float64 sum
    budget = 4 * one_matrix  # fewer than the 6 words + 3 x 3 POS blocks
    parts = memory.streamed_curves(model, sample, groupings, max_bytes=budget, **run)
    assert whole.attrs["passes"] == 1 and parts.attrs["passes"] >= 4
    assert parts.attrs["peak_bytes"] <= budget
    key = ["grouping", "group", "statistic", "delay"]
    a = whole.sort_values(key).reset_index(drop=True)
    b = parts.sort_values(key).reset_index(drop=True)
    assert a[key].equals(b[key])
    np.testing.assert_allclose(b.value, a.value, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b.lo, a.lo, rtol=1e-10, atol=1e-14, equal_nan=True)
    assert a[a.grouping == "word"].lo.isna().all()  # words: no bootstrap band
    assert a[a.grouping == "pos"].lo.notna().all()


def test_block_sums_refuse_more_than_the_budget():
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=12, blocks=2)
    words = memory.Grouping(stream, [f"w{k}" for k in range(V)])
    with pytest.raises(ValueError, match="streamed_curves"):
        memory.block_sums(model, sample, {"w": words}, max_delay=D, max_bytes=1000)


@pytest.mark.parametrize("hidden", [256, 512])
def test_whole_vocabulary_plan_stays_under_4_gb(hidden):
    """Paper scale: 10k words (one block each) and 20-block POS and frequency
    groupings at E=64, D=50, float32: every pass's sums fit the budget, and
    the budget plus the engine's buffers stay under 4 GB."""
    vocab = memory.Grouping(np.arange(10_000), range(10_000), bootstrap=False)
    pos = memory.Grouping(np.zeros(10, int), range(12))
    freq = memory.Grouping(np.zeros(10, int), range(4))
    budget = 2 << 30
    plan = memory.plan_passes({"word": vocab, "pos": pos, "freq": freq}, 20,
                              max_delay=50, n_in=64, hidden=hidden,
                              max_bytes=budget)  # fmt: skip
    per = 50 * 64 * hidden * 4
    for part in plan:
        used = sum(len(ids) * per * (1 if name == "word" else 20)
                   for name, ids in part.items())  # fmt: skip
        assert used <= budget
    assert sum(len(p.get("word", [])) for p in plan) == 10_000
    buffers = 8 * 50 * 64 * hidden * 2 * 2 * 4  # batch 8, (h, c), ping-pong
    assert budget + buffers < 4e9
    total = (10_000 + 20 * 16) * per
    assert len(plan) <= math.ceil(total / budget) + 1  # passes are packed full


def test_bootstrap_replicates_follow_their_definition():
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=10, blocks=3)
    sums = memory.block_sums(model, sample, {"all": memory.Grouping.single(N)},
                             max_delay=D)["all"]  # fmt: skip
    w = torch.tensor([[3.0, 0, 0], [1, 1, 1], [0, 2, 1]])
    reps = sums.replicate_means(0, w)
    for r in range(3):
        total = sum(w[r, m] * sums.sums[0, m].double() for m in range(3))
        count = sum(w[r, m] * sums.counts[0, m] for m in range(3))
        assert torch.allclose(reps[r], total / count[:, None, None], atol=1e-14)
    assert torch.allclose(reps[1], sums.mean(0), atol=1e-14)  # each block once
    # the batched float32 path the bands use draws the same replicates
    (fast, ok, scale), *_ = list(memory._replicates(sums, 0, None, 7, 3, 1 << 30))
    want = sums.replicate_means(0, memory._boot_weights(3, 7, 3))
    fast = fast.double() * scale[None, :, None, None]
    assert ok.all() and torch.allclose(fast, want, atol=1e-6, rtol=1e-5)
    g = torch.randn(7, 9, 4, dtype=torch.float64)
    assert torch.allclose(memory._gram_svdvals(g), torch.linalg.svdvals(g), atol=1e-12)
    table = memory.curves({"all": sums}, n_boot=50)
    assert set(table.columns) == set(memory.CURVE_COLUMNS)
    assert (table.lo <= table.hi + 1e-15).all() and table.n.iloc[0] == N - N % 10


def _constructed(sv, h=8, e=6, seed=0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(h, h)))
    v, _ = np.linalg.qr(rng.normal(size=(e, e)))
    s = np.zeros((h, e))
    s[: len(sv), : len(sv)] = np.diag(sv)
    return torch.tensor(u @ s @ v.T), torch.tensor(v)


def test_relative_memory_and_cosines_closed_form():
    g, v = _constructed([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])
    v1, v2 = v[:, 0], v[:, 1]
    assert memory.relative_memory(g, v1).item() == pytest.approx(1.0)
    assert memory.relative_memory(g, 3 * v2).item() == pytest.approx(0.5)  # scale-free
    mix = (v1 + v2) / math.sqrt(2)
    assert memory.relative_memory(g, mix).item() == pytest.approx(
        math.sqrt(16 + 4) / (math.sqrt(2) * 4)
    )
    assert memory.top_cosine(g, mix, 1).item() == pytest.approx(1 / math.sqrt(2))
    assert memory.top_cosine(g, v[:, 5], 5).item() == pytest.approx(0.0, abs=1e-12)
    assert memory.top_cosine(g, v[:, 4], 5).item() == pytest.approx(1.0)
    # eq. 23: with sigma_1 = ... = sigma_n and the rest 0, m equals the cosine
    flat, w = _constructed([2.0] * 5, seed=1)
    d = torch.tensor(np.random.default_rng(2).normal(size=6))
    assert memory.relative_memory(flat, d).item() == pytest.approx(
        memory.top_cosine(flat, d, 5).item()
    )
    batch = torch.stack([g, flat])
    fast = memory._measures_from_gram(batch, d, (1, 5))
    assert torch.allclose(fast["relative_memory"], memory.relative_memory(batch, d))
    assert torch.allclose(fast["cosine_top5"], memory.top_cosine(batch, d, 5))


def test_difference_vector_is_eq_14():
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    chol = sg.embedding_cholesky(emb)
    d = memory.difference_vector(emb, [1, 2], [5], chol)
    diff = (emb[1] + emb[2]) / 2 - emb[5]
    assert torch.allclose(chol @ d, diff / diff.norm())  # Z = D^-1
    # G_norm d = G D Z u = G u: the normalisation cancels for the numerator
    g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    assert torch.allclose(sg.normalise(g, chol) @ d, g @ (diff / diff.norm()))


def test_property_curves_point_values_and_bands():
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=10, blocks=4)
    sums = memory.block_sums(model, sample, {"all": memory.Grouping.single(N)},
                             max_delay=D)["all"]  # fmt: skip
    chol = sg.embedding_cholesky(model.embedding.weight)
    d = memory.difference_vector(model.embedding.weight.detach(), [0, 1], [2], chol)
    table = memory.property_curves(sums, "all", {"p": d}, chol=chol, n_boot=30)
    g = sg.normalise(sums.mean(0), chol)
    m = table[table.measure == "relative_memory"].sort_values("delay")
    np.testing.assert_allclose(m.value, memory.relative_memory(g, d).numpy())
    assert set(table.measure) == {"relative_memory", "cosine_top1", "cosine_top5"}
    assert ((table.value >= 0) & (table.value <= 1 + 1e-12)).all()
    assert (table.lo <= table.hi).all()


def test_exponential_fit_recovers_known_a_and_b():
    tau = np.arange(50)
    clean = 2.5 * np.exp(-0.3 * tau)
    for method in ("curve_fit", "loglinear"):
        fit = memory.fit_decay(tau, clean, method)
        assert fit["ok"] and fit["a"] == pytest.approx(2.5, rel=1e-6)
        assert fit["b"] == pytest.approx(0.3, rel=1e-6)
    rng = np.random.default_rng(0)
    noisy = clean * np.exp(rng.normal(0, 0.05, tau.size))
    fit = memory.fit_decay(tau, noisy)
    assert abs(fit["b"] - 0.3) < 3 * fit["b_se"] + 0.01
    assert fit["a"] == pytest.approx(2.5, rel=0.05)
    tail = np.where(tau < 37, 1.2 * np.exp(-0.66 * tau), 0.0)  # "the": zeros
    assert memory.fit_decay(tau, tail)["b"] == pytest.approx(0.66, rel=1e-4)
    assert not memory.fit_decay(tau, np.zeros(50))["ok"]


def test_decay_fits_and_distribution():
    tau = np.arange(20)
    rows = []
    for group, b in [("w0", 0.1), ("w1", 0.5), ("w2", 0.9), ("w3", 0.15)]:
        for t in tau:
            rows.append(("word", group, t, "sigma_1", math.exp(-b * t), 0, 0, 5))
    import pandas as pd

    table = pd.DataFrame(rows, columns=memory.CURVE_COLUMNS)
    fits = memory.decay_fits(table)
    assert fits.set_index("group").b.round(6).to_dict() == {
        "w0": 0.1, "w1": 0.5, "w2": 0.9, "w3": 0.15}  # fmt: skip
    bins = dict(zip(["w0", "w1", "w2", "w3"],
                    memory.frequency_bins([3, 600, 700, 50]), strict=True))  # fmt: skip
    assert bins == {"w0": "<10", "w1": ">=500", "w2": ">=500", "w3": "10-99"}
    dist = memory.decay_distribution(fits, bins)
    assert np.allclose(dist.groupby("freq_bin").share.sum(), 1.0)
    frequent = dist[(dist.freq_bin == ">=500")].set_index("b_bin").words.to_dict()
    assert frequent["0.4-0.6"] == 1 and frequent[">0.8"] == 1


@pytest.mark.parametrize("kind", ["fused_two_layers", "cells_tf_gru", "rnn_tf_gru"])
def test_states_at_segment_starts_match_stepping_the_view(kind):
    torch.manual_seed(0)
    table = torch.randn(V, 3, dtype=torch.float64)

    class Model:
        def embed(self, tok):
            return table[tok]

    model = Model()
    if kind == "fused_two_layers":
        model.rnn = torch.nn.LSTM(3, 4, num_layers=2).double()
    elif kind == "rnn_tf_gru":  # a looped cell as the model's rnn
        model.rnn = cells.GRUCell(3, 4, form="tf").double()
    else:
        model.cells = [cells.GRUCell(3, 4, form="tf").double()]
    view = sg.analysis_view(model)
    assert isinstance(view, sg.CellStack)
    stream = torch.as_tensor(_stream())
    starts = np.array([0, 7, 30, 31])
    got = memory.states_at(model, stream, starts)
    s = view.init_state(1)
    for t in range(32):
        if t in starts:
            k = list(starts).index(t)
            for a, b in zip(got, s, strict=True):
                assert torch.allclose(a[k], b[0], atol=1e-12)
        s = view.step(table[stream[t]][None], s)


def test_delays_without_targets_are_nan_not_an_error():
    """A group of sources all at a segment's last position has no target at
    delays >= 1: NaN there, numbers at delay 0."""
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=10, blocks=3)
    first = np.full(N, -1)
    first[9::10] = 0
    sums = memory.block_sums(model, sample, {"first": memory.Grouping(first, ["f"])},
                             max_delay=D)  # fmt: skip
    table = memory.curves(sums, n_boot=20)
    at0 = table.delay == 0
    assert table[at0].value.notna().all() and table[at0].lo.notna().all()
    assert table[~at0].value.isna().all() and (table[~at0].n == 0).all()
    d = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    props = memory.property_curves(sums["first"], "f", {"x": d}, n_boot=20)
    assert props[props.delay == 0].value.notna().all()
    assert props[props.delay > 0].value.isna().all()


def test_bands_survive_values_tens_of_decades_small():
    """The float32 replicates scale each delay first: a curve falling to
    1e-40 (a vanilla RNN's sigma_1) keeps finite bands that bracket it, the
    same bands relative to the value as the unscaled curve's."""
    model, stream = _model(), _stream()
    sample = memory.sample_segments(model, stream, length=10, blocks=4)
    sums = memory.block_sums(model, sample, {"all": memory.Grouping.single(N)},
                             max_delay=D)["all"]  # fmt: skip
    tiny = memory.BlockSums(sums.sums.double() * 1e-40, sums.counts, sums.groups)
    a = memory.group_draws(sums, 0, n_boot=40)
    b = memory.group_draws(tiny, 0, n_boot=40)
    value, boot = b["sigma_1"]
    assert np.isfinite(boot).all() and (boot > 0).all()
    np.testing.assert_allclose(value, a["sigma_1"][0] * 1e-40, rtol=1e-10)
    np.testing.assert_allclose(boot, a["sigma_1"][1] * 1e-40, rtol=1e-4)
    np.testing.assert_allclose(b["selectiveness"][1], a["selectiveness"][1], rtol=1e-4)
    table = memory.draws_table(b)
    sig = table[table.statistic == "sigma_1"]
    assert (sig.lo <= sig.value * (1 + 1e-3)).all() and (
        sig.value <= sig.hi * (1 + 1e-3)
    ).all()
