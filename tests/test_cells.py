"""The cell library against its equations (hand-computed steps in plain Python
scalars) and against torch.nn with copied weights where torch has the cell."""

import math

import numpy as np
import pytest
import torch

from rnnmem_utils.models import cells

D = torch.float64


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def t(values):
    return torch.tensor(values, dtype=D)


# ---------------------------------------------------------------------------
# One step by hand (E = H = 1 unless said; numbers written out)
# ---------------------------------------------------------------------------


def test_rnn_step_by_hand():
    # pre = 0.5*2 + 0.1 + (-0.3*0.4 + 0.2) = 1.18
    gx = t([[0.5 * 2 + 0.1]])
    (h,) = cells.rnn_step(gx, (t([[0.4]]),), t([[-0.3]]), t([0.2]))
    assert h.item() == pytest.approx(math.tanh(1.18), abs=1e-15)
    assert h.item() == pytest.approx(0.827452, abs=1e-6)
    (h,) = cells.rnn_step(gx, (t([[0.4]]),), t([[-0.3]]), t([0.2]), act=torch.relu)
    assert h.item() == pytest.approx(1.18, abs=1e-15)


@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_lstm_step_by_hand(forget_bias):
    gx, w_h, h, c = [0.5, -0.2, 0.3, 1.0], [0.1, 0.2, -0.1, 0.0], 0.5, 0.7
    pre = [a + w * h for a, w in zip(gx, w_h, strict=True)]  # i, f, g, o
    i, f, g, o = sig(pre[0]), sig(pre[1] + forget_bias), math.tanh(pre[2]), sig(pre[3])
    c_new = f * c + i * g
    h_new = o * math.tanh(c_new)
    out = cells.lstm_step(
        t([gx]), (t([[h]]), t([[c]])), t([w_h]), forget_bias=forget_bias
    )
    assert [s.item() for s in out] == pytest.approx([h_new, c_new], abs=1e-15)
    if not forget_bias:  # the numbers, written out once
        assert (h_new, c_new) == pytest.approx((0.330796, 0.487826), abs=1e-6)
    # the "ifog" layout is the same cell with the blocks permuted
    perm = [0, 1, 3, 2]
    out2 = cells.lstm_step(
        t([[gx[k] for k in perm]]),
        (t([[h]]), t([[c]])),
        t([[w_h[k] for k in perm]]),
        forget_bias=forget_bias,
        order="ifog",
    )
    assert [s.item() for s in out2] == pytest.approx([h_new, c_new], abs=1e-15)


def test_lstm_hard_sigmoid_gates_by_hand():
    gx, h, c = [0.5, -0.2, 0.3, 4.0], 0.0, 0.7  # o saturates: 0.2*4 + 0.5 > 1
    hs = [min(max(0.2 * v + 0.5, 0.0), 1.0) for v in gx]
    c_new = hs[1] * c + hs[0] * math.tanh(gx[2])
    out = cells.lstm_step(
        t([gx]), (t([[h]]), t([[c]])), t([[0.0] * 4]), gate=cells.hard_sigmoid
    )
    assert [s.item() for s in out] == pytest.approx(
        [math.tanh(c_new), c_new], abs=1e-15
    )


def _gru_by_hand(gx, w_h, b_h, h, form):
    """GRU step, H = 2, plain Python: gx (6,), w_h 2 x 6 (right-multiplied),
    b_h (6,) or None, h (2,)."""
    H = 2

    def hw(vec, col):  # (vec @ w_h)[col]
        return sum(vec[k] * w_h[k][col] for k in range(H))

    b = b_h or [0.0] * 6
    r = [sig(gx[j] + hw(h, j) + b[j]) for j in range(H)]
    z = [sig(gx[H + j] + hw(h, H + j) + b[H + j]) for j in range(H)]
    if form == "torch":
        n = [
            math.tanh(gx[2 * H + j] + r[j] * (hw(h, 2 * H + j) + b[2 * H + j]))
            for j in range(H)
        ]
    else:
        rh = [r[k] * h[k] for k in range(H)]
        n = [math.tanh(gx[2 * H + j] + hw(rh, 2 * H + j)) for j in range(H)]
    return [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(H)]


GX = [0.3, -0.5, 0.8, 0.1, -0.4, 0.9]
W_H = [[0.2, -0.7, 0.5, 0.3, 1.1, -0.6], [-0.4, 0.6, -0.2, 0.8, -0.9, 1.3]]
H0 = [0.5, -0.8]


def test_gru_torch_step_by_hand():
    b_h = [0.1, -0.2, 0.05, 0.3, -0.1, 0.2]
    want = _gru_by_hand(GX, W_H, b_h, H0, "torch")
    (h,) = cells.gru_torch_step(t([GX]), (t([H0]),), t(W_H), t(b_h))
    assert h[0].tolist() == pytest.approx(want, abs=1e-15)


def test_gru_tf_step_by_hand_and_differs_from_torch_form():
    want = _gru_by_hand(GX, W_H, None, H0, "tf")
    (h,) = cells.gru_tf_step(t([GX]), (t([H0]),), t(W_H))
    assert h[0].tolist() == pytest.approx(want, abs=1e-15)
    # the same weights in torch's form (reset gate after the matmul) differ
    torch_form = _gru_by_hand(GX, W_H, None, H0, "torch")
    assert max(abs(a - b) for a, b in zip(want, torch_form, strict=True)) > 1e-2


# ---------------------------------------------------------------------------
# Against torch.nn with copied weights
# ---------------------------------------------------------------------------


def _sequence(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: cells.RNNCell(3, 5), lambda: torch.nn.RNNCell(3, 5)),
        (
            lambda: cells.RNNCell(3, 5, act=torch.relu),
            lambda: torch.nn.RNNCell(3, 5, nonlinearity="relu"),
        ),
        (lambda: cells.LSTMCell(3, 5), lambda: torch.nn.LSTMCell(3, 5)),
        (lambda: cells.GRUCell(3, 5, form="torch"), lambda: torch.nn.GRUCell(3, 5)),
    ],
)
def test_cells_match_torch_nn(ours, theirs):
    torch.manual_seed(0)
    ref = theirs().to(D)
    cell = ours().to(D).load_torch(ref)
    x = _sequence((7, 4, 3))
    state = cell.init_state(4)
    ref_state = tuple(s.clone() for s in state)
    for x_t in x:
        state = cell(x_t, state)
        out = ref(x_t, ref_state if len(ref_state) > 1 else ref_state[0])
        ref_state = out if isinstance(out, tuple) else (out,)
        for a, b in zip(state, ref_state, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def test_one_bias_cells_refuse_torch_weights():
    with pytest.raises(ValueError, match="one bias"):
        cells.GRUCell(3, 5, form="tf").load_torch(torch.nn.GRUCell(3, 5))


def test_tf_gru_differs_from_torch_gru_cell():
    torch.manual_seed(1)
    ref = torch.nn.GRUCell(3, 5).to(D)
    with torch.no_grad():
        ref.bias_hh.zero_()  # one bias, as the TensorFlow form has
    tf = cells.GRUCell(3, 5, form="tf").to(D)
    with torch.no_grad():
        tf.W_x.copy_(ref.weight_ih.T), tf.W_h.copy_(ref.weight_hh.T)
        tf.b.copy_(ref.bias_ih)
    x_t, h = _sequence((4, 3)), _sequence((4, 5), seed=1)
    (ours,) = tf(x_t, (h,))
    assert (ours - ref(x_t, h)).abs().max() > 1e-3
    # ... and matches its own equations, written with torch's blocks
    w_ih, w_hh, b = ref.weight_ih.chunk(3), ref.weight_hh.chunk(3), ref.bias_ih.chunk(3)
    r = torch.sigmoid(x_t @ w_ih[0].T + b[0] + h @ w_hh[0].T)
    z = torch.sigmoid(x_t @ w_ih[1].T + b[1] + h @ w_hh[1].T)
    n = torch.tanh(x_t @ w_ih[2].T + b[2] + (r * h) @ w_hh[2].T)
    torch.testing.assert_close(ours, (1 - z) * n + z * h, rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_run_layers_matches_fused_stacked_module_and_carries_state(kind):
    torch.manual_seed(2)
    fused = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    ref = fused(3, 4, num_layers=2).to(D)
    make = {"lstm": cells.LSTMCell, "gru": cells.GRUCell, "rnn": cells.RNNCell}[kind]
    layers = [
        make(3, 4).to(D).load_torch(ref, "_l0"),
        make(4, 4).to(D).load_torch(ref, "_l1"),
    ]
    x = _sequence((10, 2, 3), seed=3)
    out, states = cells.run_layers(layers, x)
    ref_out, ref_last = ref(x)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-13)
    ref_h = ref_last[0] if kind == "lstm" else ref_last
    for layer in range(2):
        torch.testing.assert_close(states[layer][0], ref_h[layer], rtol=0, atol=1e-13)
    # carried state: two blocks of 5 steps give the 10-step run (up to the
    # rounding of the input projection, one matmul per block)
    first, mid = cells.run_layers(layers, x[:5])
    second, end = cells.run_layers(layers, x[5:], mid)
    torch.testing.assert_close(torch.cat([first, second]), out, rtol=0, atol=1e-14)
    for a, b in zip(end, states, strict=True):
        for u, v in zip(a, b, strict=True):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------
# Nested LSTM
# ---------------------------------------------------------------------------


def _nlstm_transcription(x, p, forget_bias):
    """Moniz & Krueger's equations as the post's nlstm.py computes them, in
    numpy: gates from the concatenation [input, hidden] times one kernel per
    depth; order i, f, z, o; state (h, c, inner c)."""
    sg = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    k_out = np.concatenate([p["W_x"], p["W_h"]])  # (E + H, 4H)
    k_in = np.concatenate([p["W_ix"], p["W_ih"]])  # (2H, 4H)
    batch, size = x.shape[1], p["W_h"].shape[0]
    h, c, c_in = (np.zeros((batch, size)) for _ in range(3))
    hs = []
    for x_t in x:
        i, f, z, o = np.split(np.concatenate([x_t, h], 1) @ k_out + p["b"], 4, 1)
        inner_x, inner_h = sg(i) * z, sg(f + forget_bias) * c  # no activation on z
        ii, fi, zi, oi = np.split(
            np.concatenate([inner_x, inner_h], 1) @ k_in + p["b_i"], 4, 1
        )
        c_in = sg(fi + forget_bias) * c_in + sg(ii) * np.tanh(zi)
        c = sg(oi) * np.tanh(c_in)
        h = sg(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs), (h, c, c_in)


@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_nested_lstm_matches_transcription(forget_bias):
    torch.manual_seed(4)
    cell = cells.NestedLSTMCell(3, 5, forget_bias=forget_bias).to(D)
    x = _sequence((8, 2, 3), seed=5)
    out, (state,) = cells.run_layers([cell], x)
    p = {k: v.detach().numpy() for k, v in cell.named_parameters()}
    want, want_state = _nlstm_transcription(x.numpy(), p, forget_bias)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=0, atol=1e-13)
    for a, b in zip(state, want_state, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=0, atol=1e-13)


def _n_params(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def test_parameter_counts_match_the_post():
    """REFERENCE.md E5: recurrent parameters (kernels and biases) of the post's
    models with input 600: NLSTM 1 x 600, depth 2: 5,764,800; LSTM 2 x 600:
    5,764,800; GRU 2 x 600 (TensorFlow form): 4,323,600."""
    assert _n_params(cells.NestedLSTMCell(600, 600)) == 5_764_800
    lstm = [cells.LSTMCell(600, 600, two_biases=False) for _ in range(2)]
    assert _n_params(*lstm) == 5_764_800
    gru = [cells.GRUCell(600, 600, form="tf") for _ in range(2)]
    assert _n_params(*gru) == 4_323_600


def test_model_axis_matches_single_models():
    """Every step takes a leading model axis R (keras_cells' layout)."""
    w = _sequence((2, 4, 16), seed=6)
    gx, h, c = (
        _sequence((2, 3, 16), seed=7),
        _sequence((2, 3, 4), seed=8),
        _sequence((2, 3, 4), seed=9),
    )
    both = cells.lstm_step(gx, (h, c), w)
    for r in range(2):
        one = cells.lstm_step(gx[r], (h[r], c[r]), w[r])
        for a, b in zip(both, one, strict=True):
            torch.testing.assert_close(a[r], b, rtol=0, atol=1e-14)
