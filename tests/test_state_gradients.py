"""The state-gradient engine against independent computations.

Each state type (LSTM cell and hidden state, GRU, vanilla RNN) against a
naive per-unit autograd loop and float64 central finite differences; the
hand-written LSTM tangent against torch.func; normalisation against a closed
form; the SVD summaries against numpy.
"""

import numpy as np
import pytest
import torch

from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.models import cells
from rnnmem_utils.models.lm import RecurrentLM

CASES = [("lstm", "c"), ("lstm", "h"), ("gru", "h"), ("rnn", "h")]
T, B, D = 14, 3, 6


def _model(cell, embedding_size=3, seed=0):
    torch.manual_seed(seed)
    return RecurrentLM(cell, 7, 5, embedding_size=embedding_size).double()


def _tokens(seed=1):
    return torch.randint(0, 7, (T, B), generator=torch.Generator().manual_seed(seed))


def _single_target(t, b):
    m = torch.zeros(T, B, dtype=torch.bool)
    m[t, b] = True
    return m


def _fd_gradient(model, tokens, target, tau, state, eps=1e-6):
    """d s_target / d x_{target-tau} of stream 0 by central differences (H, E)."""
    xs = model.embed(tokens[:, :1]).detach().clone()
    k = model.state_index(state)

    def s_at(x):
        s = model.init_state(1)
        for x_t in x[: target + 1]:
            s = model.step(x_t, s)
        return s[k][0]

    cols = []
    for e in range(xs.shape[-1]):
        plus, minus = xs.clone(), xs.clone()
        plus[target - tau, 0, e] += eps
        minus[target - tau, 0, e] -= eps
        cols.append((s_at(plus) - s_at(minus)) / (2 * eps))
    return torch.stack(cols, -1)


@pytest.mark.parametrize("cell,state", CASES)
def test_engine_matches_naive_loop(cell, state):
    model, tokens = _model(cell), _tokens()
    groups = {f"t{t}": _single_target(t, 0) for t in (3, 9, 13)}
    sums = sg.state_gradient_sums(model, tokens, groups, state=state, max_delay=D)
    for k, t in enumerate((3, 9, 13)):
        naive = sg.naive_state_gradients(model, tokens, t, state=state, max_delay=D)
        err = (sums.mean()[k] - naive).abs().max().item()
        assert err < 1e-12, f"{cell}/{state}: max abs error {err:.2e}"


@pytest.mark.parametrize("cell,state", CASES)
def test_naive_loop_through_the_fused_layer_matches_the_python_cell(cell, state):
    model, tokens = _model(cell), _tokens()
    for t in (3, 13):
        stepped = sg.naive_state_gradients(model, tokens, t, state=state, max_delay=D)
        fused = sg.naive_state_gradients(
            model, tokens, t, state=state, max_delay=D, fused=True
        )
        assert (stepped - fused).abs().max() < 1e-12


@pytest.mark.parametrize("cell,state", CASES)
def test_engine_matches_finite_differences(cell, state):
    model, tokens = _model(cell), _tokens()
    sums = sg.state_gradient_sums(
        model, tokens, {"t": _single_target(11, 0)}, state=state, max_delay=D
    )
    for tau in (0, 2, 5):
        fd = _fd_gradient(model, tokens, 11, tau, state)
        err = (sums.mean()[0, tau] - fd).abs().max().item()
        assert err < 1e-8, f"{cell}/{state} tau={tau}: max abs error {err:.2e}"


@pytest.mark.parametrize("cell,state", CASES)
def test_handwritten_tangents_match_torch_func(cell, state):
    model, tokens = _model(cell, embedding_size=None), _tokens()
    groups = {"all": torch.ones(T, B, dtype=torch.bool), "s1": _single_target(7, 1)}
    run = dict(state=state, max_delay=D)
    fast = sg.state_gradient_sums(model, tokens, groups, **run)
    slow = sg.state_gradient_sums(model, tokens, groups, method="jvp", **run)
    assert torch.allclose(fast.sums, slow.sums, atol=1e-12, rtol=0)
    assert torch.equal(fast.counts, slow.counts)


def test_source_groups_follow_one_input():
    model, tokens = _model("lstm"), _tokens()
    src = _single_target(4, 2)  # one source: stream 2, position 4
    sums = sg.state_gradient_sums(model, tokens, {"s": src}, max_delay=D, by="source")
    assert sums.counts.tolist() == [[1.0] * D]
    for tau in range(D):
        naive = sg.naive_state_gradients(model, tokens[:, 2:], 4 + tau, max_delay=D)
        assert (sums.mean()[0, tau] - naive[tau]).abs().max() < 1e-12


def test_counts_exclude_missing_sources_and_burn_in():
    model, tokens = _model("rnn"), _tokens()
    sums = sg.state_gradient_sums(
        model,
        tokens,
        {"all": torch.ones(T, B, dtype=torch.bool)},
        max_delay=D,
        state="h",
        first_target=2,
    )
    expected = [B * (T - max(2, tau)) for tau in range(D)]  # targets t >= max(2, tau)
    assert sums.counts[0].tolist() == expected


def test_averages_combine_across_batches():
    model, tokens = _model("gru"), _tokens()
    mask = torch.ones(T, B, dtype=torch.bool)
    whole = sg.state_gradient_sums(model, tokens, {"a": mask}, state="h", max_delay=D)
    parts = [
        sg.state_gradient_sums(
            model, tokens[:, b : b + 1], {"a": mask[:, :1]}, state="h", max_delay=D
        )
        for b in range(B)
    ]
    total = parts[0] + parts[1] + parts[2]
    assert torch.allclose(total.mean(), whole.mean(), atol=1e-12)


def test_float32_engine_is_float32_accurate():
    torch.manual_seed(0)
    model = RecurrentLM("lstm", 50, 32, embedding_size=8)
    tokens = torch.randint(0, 50, (30, 2), generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(30, 2, dtype=torch.bool)
    mask[29, 0] = True
    sums = sg.state_gradient_sums(model, tokens, {"t": mask}, max_delay=20)
    naive = sg.naive_state_gradients(model.double(), tokens, 29, max_delay=20)
    assert (sums.mean()[0] - naive).abs().max() < 1e-6


def test_whitened_embeddings_have_identity_covariance():
    gen = torch.Generator().manual_seed(0)
    emb = (
        torch.randn(200, 6, generator=gen, dtype=torch.float64)
        @ torch.randn(6, 6, generator=gen, dtype=torch.float64)
        + 3.0
    )
    chol = sg.embedding_cholesky(emb)
    centred = emb - emb.mean(0)
    z = torch.linalg.solve_triangular(chol, centred.T, upper=False).T  # Z e = D^-1 e
    cov = z.T @ z / len(z)
    assert torch.allclose(cov, torch.eye(6, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(chol @ chol.T, centred.T @ centred / len(emb), atol=1e-10)
    g = torch.randn(4, 5, 6, dtype=torch.float64, generator=gen)
    assert torch.allclose(sg.normalise(g, chol), g @ chol)  # eq. 10


def test_svd_summaries_against_numpy_on_a_known_matrix():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    v, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    sv = np.array([5.0, 2.0, 1.0, 0.5])
    g = u[:, :4] @ np.diag(sv) @ v.T  # (H=8, E=4) with known singular values
    out = sg.svd_summaries(torch.tensor(g), subspace=u[:, :2])
    assert out["sigma_1"].item() == pytest.approx(5.0)
    assert out["selectiveness"].item() == pytest.approx(5.0 / sv.sum())
    assert out["sum_sigma"].item() == pytest.approx(np.linalg.svd(g)[1].sum())
    assert out["sum_sigma_subspace"].item() == pytest.approx(7.0)  # sigma 5 + 2
    assert out["sum_sigma_complement"].item() == pytest.approx(1.5)  # sigma 1 + 0.5
    # a given complement basis: only the third left singular vector -> sigma 1
    only = sg.svd_summaries(torch.tensor(g), subspace=u[:, :2], complement=u[:, 2:3])
    assert only["sum_sigma_complement"].item() == pytest.approx(1.0)


def test_summary_table_is_tidy():
    model, tokens = _model("lstm"), _tokens()
    sums = sg.state_gradient_sums(
        model, tokens, {"a": torch.ones(T, B, dtype=torch.bool)}, max_delay=D
    )
    table = sg.summary_table(sums, chol=torch.eye(3, dtype=torch.float64))
    assert list(table.columns) == ["delay", "statistic", "value", "group"]
    assert len(table) == 3 * D and set(table.statistic) == {
        "sigma_1",
        "selectiveness",
        "sum_sigma",
    }


def test_bad_grouping_is_refused():
    with pytest.raises(ValueError, match="options"):
        sg.state_gradient_sums(_model("rnn"), _tokens(), {}, state="h", by="word")
    with pytest.raises(ValueError, match="options"):
        sg.state_gradient_sums(
            _model("rnn"), _tokens(), {"a": _single_target(1, 1)}, state="c"
        )


def test_target_mask_drops_padded_targets_of_a_source():
    """A source near the end of a padded stream: only its real targets count."""
    model, tokens = _model("lstm"), _tokens()
    src = _single_target(10, 1)  # targets 10..13 exist for delays 0..3
    real = torch.ones(T, B, dtype=torch.bool)
    real[12:] = False  # positions 12, 13 are padding
    sums = sg.state_gradient_sums(
        model, tokens, {"s": src}, max_delay=D, by="source", targets=real
    )
    assert sums.counts.tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]
    assert sums.sums[0, 2:].abs().max() == 0
    naive = sg.naive_state_gradients(model, tokens[:, 1:], 11, max_delay=D)
    assert (sums.mean()[0, 1] - naive[1]).abs().max() < 1e-12


# ---------------------------------------------------------------------------
# The analysis view: cell-library layers (TF GRU, hard gates, stacks)
# ---------------------------------------------------------------------------


def _stack(layers, vocab=7, emb=3, seed=0):
    torch.manual_seed(seed)
    table = torch.randn(vocab, emb, dtype=torch.float64)
    return sg.CellStack(lambda tok: table[tok], [c.double() for c in layers])


STACKS = {
    "gru_tf": lambda: [cells.GRUCell(3, 5, form="tf")],
    "lstm_hard_gates": lambda: [cells.LSTMCell(3, 5, gate=cells.hard_sigmoid)],
    "lstm_forget_bias": lambda: [cells.LSTMCell(3, 5, forget_bias=1.0)],
    "rnn_relu": lambda: [cells.RNNCell(3, 5, act=torch.relu)],
    "lstm_over_gru_tf": lambda: [cells.LSTMCell(3, 4), cells.GRUCell(4, 5, form="tf")],
    "rnn_over_lstm": lambda: [cells.RNNCell(3, 4), cells.LSTMCell(4, 5)],
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_cell_stack_tangents_match_autograd_and_torch_func(name):
    """Hand-written tangents of every supported layer (and stacks) against
    reverse-mode autograd through the cells' own steps and against torch.func."""
    model, tokens = _stack(STACKS[name]()), _tokens()
    # torch's hardsigmoid backward uses 1/6 in float32 (slope 0.2 + 6e-9), so
    # autograd itself is only that accurate there; the folded slope is 0.2.
    tol = 1e-8 if "hard" in name else 1e-12
    for state in model.state_names:
        groups = {f"t{t}": _single_target(t, 0) for t in (4, 13)}
        run = dict(state=state, max_delay=D)
        sums = sg.state_gradient_sums(model, tokens, groups, **run)
        jvp = sg.state_gradient_sums(model, tokens, groups, method="jvp", **run)
        assert torch.allclose(sums.sums, jvp.sums, atol=tol, rtol=0)
        for k, t in enumerate((4, 13)):
            naive = sg.naive_state_gradients(model, tokens, t, **run)
            err = (sums.mean()[k] - naive).abs().max().item()
            assert err < tol, f"{name}/{state}: max abs error {err:.2e}"


def test_top_layer_names_and_aliases():
    model = _stack(STACKS["lstm_over_gru_tf"]())
    assert model.state_names == ("h1", "c1", "h2")
    assert model.state_index("h") == 2 and model.state_index("c1") == 1
    with pytest.raises(ValueError, match="options"):
        model.state_index("c")  # the top layer is a GRU: no cell state


@pytest.mark.parametrize("kind", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN])
def test_fused_multilayer_model_through_the_cell_library(kind):
    """A two-layer fused module: G from the engine (cells with copied weights)
    against autograd through the fused module itself (independent code)."""
    torch.manual_seed(0)
    table = torch.randn(7, 3, dtype=torch.float64)
    rnn = kind(3, 5, num_layers=2).double()

    class Model:
        def embed(self, tok):
            return table[tok]

    model = Model()
    model.rnn = rnn
    view = sg.analysis_view(model)
    tokens, target = _tokens(), 12
    sums = sg.state_gradient_sums(
        model, tokens, {"t": _single_target(target, 0)}, state="h", max_delay=D
    )
    xs = table[tokens[:, 0]][:, None]  # (T, 1, E)

    def top_h(window):
        x = torch.cat([xs[: target + 1 - D], window])
        _, last = rnn(x)
        last = last[0] if isinstance(last, tuple) else last
        return last[-1, 0]  # top layer's h at the target

    jac = torch.autograd.functional.jacobian(top_h, xs[target + 1 - D : target + 1])
    ref = jac[:, :, 0].permute(1, 0, 2).flip(0)  # (D, H, E), delay 0 first
    assert view.state_index("h") == view.state_names.index("h2")
    assert (sums.mean()[0] - ref).abs().max() < 1e-12


def _labels_and_masks(n_labels, density, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_labels, (T, B), generator=gen)
    labels[torch.rand(T, B, generator=gen) > density] = -1
    masks = {str(k): labels == k for k in range(n_labels)}
    return labels, masks


@pytest.mark.parametrize("density", [1.0, 0.15])
def test_label_sums_match_dense_groups(density):
    """The scatter accumulator (with its skipping of streams far from any
    target and its stream batches) against the dense group masks."""
    model, tokens = _model("lstm"), _tokens()
    labels, masks = _labels_and_masks(4, density)
    dense = sg.state_gradient_sums(model, tokens, masks, max_delay=D)
    for batch in (1, 2, 8):
        lab = sg.label_gradient_sums(model, tokens, labels, 4, max_delay=D, batch=batch)
        assert torch.allclose(lab.sums, dense.sums, atol=1e-12, rtol=0)
        assert torch.equal(lab.counts, dense.counts)


def test_label_sums_several_labellings_and_initial_state():
    model, tokens = _model("gru"), _tokens()
    start = tuple(torch.randn(B, 5, dtype=torch.float64) for _ in range(1))
    a, masks_a = _labels_and_masks(2, 0.5, seed=1)
    b, masks_b = _labels_and_masks(3, 0.3, seed=2)
    both = torch.stack([a, torch.where(b >= 0, b + 2, -1)])
    run = dict(state="h", max_delay=D, initial_state=start)
    lab = sg.label_gradient_sums(model, tokens, both, 5, **run)
    masks = {**masks_a, **{str(int(k) + 2): m for k, m in masks_b.items()}}
    dense = sg.state_gradient_sums(model, tokens, masks, **run)
    assert torch.allclose(lab.sums, dense.sums, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="labels must lie"):
        sg.label_gradient_sums(model, tokens, both, 4, **run)
