"""Foundations lesson numerics, each against an independent computation."""

import numpy as np
import pytest
import torch

from rnnmem_utils.analysis import jacobians as jac
from rnnmem_utils.data import chars
from rnnmem_utils.models import handbuilt as hb
from rnnmem_utils.training import bptt

F64 = torch.float64


def test_repeat_targets_by_hand():
    x = np.array([[0, 1, 1, 1, 0, 1, 0, 0]]).T
    assert chars.repeat_targets(x)[:, 0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("seq_len", [1, 2, 5, 9])
def test_handbuilt_detector_exact_on_every_sequence(seq_len):
    bits = chars.binary_sequences(seq_len)  # every sequence, (T, 2**T)
    out = hb.repeat_detector()(hb.bits_to_inputs(torch.from_numpy(bits)))
    assert torch.equal(out, torch.from_numpy(chars.repeat_targets(bits)).float())


def test_handbuilt_state_is_current_previous_bias():
    t = hb.trace(hb.repeat_detector(), [1, 0, 1, 1])
    assert t["h_t"] == [[1, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
    assert t["y_t"] == [0, 0, 0, 1]


def _tanh_rnn(H=5, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(H, H, generator=g, dtype=F64) * 0.6
    W_xh = torch.randn(H, 3, generator=g, dtype=F64)
    x = torch.randn(T, 2, 3, generator=g, dtype=F64)
    return W_hh, W_xh, x


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_jacobian_products_match_autograd(activation):
    W_hh, W_xh, x = _tanh_rnn()
    T = x.shape[0]
    h = jac.vanilla_states(W_hh, W_xh, x, activation)
    P = jac.jacobian_products(jac.step_jacobians(W_hh, h, activation))
    act = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}[activation]
    for k in range(1, T):
        start = T - 1 - k

        def roll(h0, b=0, start=start):  # h_start -> h_{T-1}, same inputs
            for t in range(start + 1, T):
                h0 = act(W_hh @ h0 + W_xh @ x[t, b])
            return h0

        for b in range(2):
            J = torch.autograd.functional.jacobian(
                lambda v, b=b: roll(v, b), h[start, b]
            )
            torch.testing.assert_close(P[k, b], J, rtol=1e-10, atol=1e-12)


def test_linear_rnn_product_is_matrix_power():
    W_hh, W_xh, x = _tanh_rnn(T=12)
    h = jac.vanilla_states(W_hh, W_xh, x, "linear")
    P = jac.jacobian_products(jac.step_jacobians(W_hh, h, "linear"))
    for k in range(13):
        torch.testing.assert_close(P[k, 0], torch.linalg.matrix_power(W_hh, k))


def test_products_never_exceed_singular_value_bound():
    W_hh, W_xh, x = _tanh_rnn(H=8, T=30, seed=3)
    W_hh = W_hh * 2.0  # sigma_max well above 1
    h = jac.vanilla_states(W_hh, W_xh, x, "tanh")
    norms = jac.spectral_norms(
        jac.jacobian_products(jac.step_jacobians(W_hh, h, "tanh"))
    )
    bound = jac.singular_value_bound(W_hh, 30)
    assert (norms <= bound[:, None] * (1 + 1e-12)).all()
    # scaled_orthogonal: all singular values equal sigma
    s = torch.linalg.svdvals(
        jac.scaled_orthogonal(6, 1.7, torch.Generator().manual_seed(0))
    )
    torch.testing.assert_close(s, torch.full((6,), 1.7, dtype=F64))


def test_state_gradient_norms_closed_form_linear():
    """Linear RNN, L = u . h_{T-1}: dL/dh_t = (W^T)^(T-1-t) u."""
    W_hh, W_xh, x = _tanh_rnn(H=4, T=6)
    u = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(1))

    def step(s, x_t):
        return (s[0] @ W_hh.T + x_t @ W_xh.T,)

    (norms,) = jac.state_gradient_norms(step, (torch.zeros(2, 4, dtype=F64),), x, u)
    T = x.shape[0]
    for t in range(T):
        g = u @ torch.linalg.matrix_power(W_hh, T - 1 - t)  # (B, H)
        torch.testing.assert_close(norms[t], g.norm(dim=-1).mean())


@pytest.mark.parametrize("k", [1, 3, 4, 10])
def test_gradient_reach_matches_naive_autograd(k):
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5).double()
    x = torch.randn(10, 2, 3, dtype=F64)

    def forward(xs):
        return bptt.truncated_forward(rnn, xs, k)

    for t in range(10):
        norms = jac.input_gradient_norms(forward, x, t)
        # naive: one autograd.grad per input step, each x_s its own leaf
        xs = [x[s].clone().requires_grad_(True) for s in range(10)]
        out = forward(torch.stack(xs))[t].sum()
        grads = torch.autograd.grad(out, xs, allow_unused=True)
        naive = torch.stack([torch.zeros(()) if g is None else g.norm() for g in grads])
        torch.testing.assert_close(norms, naive.to(F64))
        start = (t // k) * k  # the chunk holding t begins here
        assert jac.gradient_reach(norms, t) == t - start + 1
        assert (naive[:start] == 0).all() and (naive[start : t + 1] > 0).all()


def test_lstm_states_match_lstm_cell():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4).double()
    cell = torch.nn.LSTMCell(3, 4).double()
    with torch.no_grad():
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, n).copy_(getattr(lstm, f"{n}_l0"))
    x = torch.randn(9, 2, 3, dtype=F64)
    h, c = hb.lstm_states(lstm, x)
    s = (torch.zeros(2, 4, dtype=F64), torch.zeros(2, 4, dtype=F64))
    for t in range(9):
        s = cell(x[t], s)
        torch.testing.assert_close(h[t], s[0])
        torch.testing.assert_close(c[t], s[1])


def test_full_bptt_update_equals_plain_backward():
    torch.manual_seed(0)
    model = hb.TokenRNN("lstm", 4, 6, 4).double()
    x, y = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(12, 3, 2, 4, np.random.default_rng(0))
    )
    ref = [torch.zeros_like(p) for p in model.parameters()]
    logits, _ = model(x)
    loss = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), y.flatten(), ignore_index=chars.IGNORE
    )
    ref = torch.autograd.grad(loss, list(model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # keep weights; inspect grads
    for k in (12, 50):
        got_loss, _, _ = bptt.tbptt_update(model, opt, x, y, truncation=k)
        assert got_loss == pytest.approx(float(loss.detach()))
        for p, r in zip(model.parameters(), ref, strict=True):
            torch.testing.assert_close(p.grad, r)
    # truncated: same loss, different (partial) gradient
    got_loss, _, _ = bptt.tbptt_update(model, opt, x, y, truncation=2)
    assert got_loss == pytest.approx(float(loss.detach()))
    assert not torch.allclose(model.rnn.weight_hh_l0.grad, ref[1])


def test_window_memory_grows_linearly():
    torch.manual_seed(0)
    model = hb.TokenRNN("lstm", 4, 8, 4)
    x, y = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(40, 4, 2, 4, np.random.default_rng(0))
    )
    m = [bptt.window_memory(model, x, y, k) for k in (5, 10, 20, 40)]
    steps = np.diff(m)
    assert (steps > 0).all()
    np.testing.assert_allclose(steps / np.array([5, 10, 20]), steps[-1] / 20, rtol=0.15)


def test_window_memory_counts_activations_not_the_data():
    # The lesson measures windows of a test set sliced by columns (views into
    # one larger array). Autograd keeps those views' storages alive, but the
    # data exist whatever the window: the count must be the same for views and
    # compact copies, and grow from a window of one step (it did not: at k = 1
    # the flattened target stayed a view of the whole test set and was counted).
    torch.manual_seed(0)
    model = hb.TokenRNN("lstm", 4, 8, 4)
    big_x, big_y = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(12, 64, 2, 4, np.random.default_rng(0))
    )
    x, y = big_x[:, :4], big_y[:, :4]
    views = [bptt.window_memory(model, x, y, k) for k in (1, 2, 3)]
    copies = [bptt.window_memory(model, x.clone(), y.clone(), k) for k in (1, 2, 3)]
    assert views == copies
    assert np.all(np.diff(views) > 0)
    np.testing.assert_allclose(np.diff(views), views[1] - views[0], rtol=0.1)


def test_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = hb.TokenRNN("rnn", 4, 8, 4)
    x, y = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(10, 4, 2, 4, np.random.default_rng(0))
    )
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    _, gnorm, _ = bptt.tbptt_update(model, opt, x, y, 10, clip_norm=1e-3)
    step = torch.cat(
        [
            (p.detach() - b).flatten()
            for p, b in zip(model.parameters(), before, strict=True)
        ]
    )
    assert gnorm > 1e-3
    assert float(step.norm()) == pytest.approx(1e-3, rel=1e-3)


def test_dropout_expectations_closed_form():
    import rnnmem_utils as rm
    from rnnmem_utils.experiments.foundations import parts as fdp

    cfg = rm.config.resolve("foundations", "smoke", {"dropout_p": 0.3})
    d = fdp._dropout(cfg)
    assert d["vanilla_train_over_unscaled_test"] == pytest.approx(0.7, abs=0.01)
    assert d["vanilla_train_over_scaled_test"] == pytest.approx(1.0, abs=0.01)
    assert d["pytorch_train_over_test"] == pytest.approx(1.0, abs=0.01)
    assert d["pytorch_test_scale"] == 1.0  # nn.Dropout in eval mode is the identity


def test_one_thread_restores_thread_count():
    from rnnmem_utils.experiments.harness import single_thread as one_thread

    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
