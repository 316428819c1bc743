"""The batched cells against independent references and finite differences."""

import math

import numpy as np
import pytest
import torch

from rnnmem_utils.models import keras_cells as kc

D = torch.float64


def _x(t_len, n_models, batch, seed=0):
    return torch.randn(
        t_len,
        n_models,
        batch,
        1,
        generator=torch.Generator().manual_seed(seed),
        dtype=D,
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("hidden_size", [1, 3])
def test_torch_style_matches_torch_nn(cell, hidden_size):
    params = kc.init_params(cell, "torch", hidden_size, [1, 2, 3], dtype=D)
    x = _x(9, 3, 5)
    last = torch.tensor([8, 3, 5])  # each model reads its own last step
    h = kc.last_states(params, x, last, cell, "torch")
    for r in range(3):
        mod = kc.to_torch_module(params, cell, r)
        out, _ = mod(x[:, r])  # (T, B, H)
        torch.testing.assert_close(h[r], out[last[r]], rtol=1e-10, atol=1e-12)


def _np_hs(v):
    return np.clip(0.2 * v + 0.5, 0.0, 1.0)


def _keras_reference(cell, p, xs):
    """Keras 2.1's recurrent.py equations, one sequence, numpy, Keras' gate order
    recovered by name from our layout."""
    w_x, w_h, b = p["W_x"][0].numpy(), p["W_h"][0].numpy(), p["b_x"][0].numpy()
    hs = w_h.shape[0]
    blk = {
        n: slice(i * hs, (i + 1) * hs)
        for i, n in enumerate(
            {"rnn": ["h"], "lstm": ["i", "f", "o", "c"], "gru": ["r", "z", "h"]}[cell]
        )
    }
    h, c = np.zeros(hs), np.zeros(hs)
    for x_t in xs:
        if cell == "rnn":
            h = np.tanh(x_t * w_x[0] + h @ w_h + b)
            continue
        if cell == "lstm":
            pre = {k: x_t * w_x[0, s] + h @ w_h[:, s] + b[s] for k, s in blk.items()}
            i, f, o = _np_hs(pre["i"]), _np_hs(pre["f"]), _np_hs(pre["o"])
            c = f * c + i * np.tanh(pre["c"])
            h = o * np.tanh(c)
            continue
        z = _np_hs(x_t * w_x[0, blk["z"]] + h @ w_h[:, blk["z"]] + b[blk["z"]])
        r = _np_hs(x_t * w_x[0, blk["r"]] + h @ w_h[:, blk["r"]] + b[blk["r"]])
        hh = np.tanh(x_t * w_x[0, blk["h"]] + (r * h) @ w_h[:, blk["h"]] + b[blk["h"]])
        h = z * h + (1 - z) * hh
    return h


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("hidden_size", [1, 2])
def test_keras_style_matches_hand_computed_steps(cell, hidden_size):
    params = kc.init_params(cell, "keras2018", hidden_size, [7], dtype=D)
    params["b_x"] = params["b_x"] + 0.3 * torch.randn(params["b_x"].shape, dtype=D)
    x = _x(6, 1, 4, seed=1)
    h = kc.last_states(params, x, torch.tensor([5]), cell, "keras2018")
    for b in range(4):
        ref = _keras_reference(cell, params, x[:, 0, b, 0].numpy())
        np.testing.assert_allclose(h[0, b].numpy(), ref, rtol=1e-12, atol=1e-12)


def test_keras_initialisation():
    rnn = kc.init_params("rnn", "keras2018", 1, range(50), dtype=D)
    assert set(rnn["W_h"].flatten().tolist()) <= {1.0, -1.0}  # orthogonal 1x1
    lstm = kc.init_params("lstm", "keras2018", 1, range(50), dtype=D)
    norms = lstm["W_h"].flatten(1).norm(dim=1)  # (1, 4) kernel: a unit vector
    torch.testing.assert_close(norms, torch.ones(50, dtype=D))
    assert torch.all(
        lstm["b_x"] == torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=D)
    )  # i f o g
    assert lstm["W_x"].abs().max() <= math.sqrt(6 / 5)  # glorot (1, 4)
    gru = kc.init_params("gru", "keras2018", 8, [0], dtype=D)
    w = gru["W_h"][0]  # (8, 24) orthogonal: orthonormal rows
    torch.testing.assert_close(w @ w.T, torch.eye(8, dtype=D))
    assert torch.all(gru["b_x"] == 0) and "b_h" not in gru


def test_hard_sigmoid_is_keras():
    v = torch.linspace(-4, 4, 81, dtype=D)
    torch.testing.assert_close(kc.hard_sigmoid(v), torch.clamp(0.2 * v + 0.5, 0, 1))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("style", ["keras2018", "torch"])
def test_gradients_against_finite_differences(cell, style):
    params = kc.init_params(cell, style, 2, [5, 6], dtype=D)
    x, last = _x(5, 2, 3, seed=2) * 0.5, torch.tensor([4, 2])
    names = list(params)

    def loss(*tensors):
        p = dict(zip(names, tensors, strict=True))
        return kc.logits(p, kc.last_states(p, x, last, cell, style)).sin().sum()

    tensors = [p.clone().requires_grad_() for p in params.values()]
    assert torch.autograd.gradcheck(loss, tensors, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "cell, style, hidden_size, count",
    [  # Keras 2.1 model.summary() counts (one bias; GRU reset_after=False) and
        # torch.nn counts (two biases); plus the Dense(2) head: H * 2 + 2
        ("rnn", "keras2018", 1, 3 + 4),
        ("lstm", "keras2018", 1, 12 + 4),
        ("gru", "keras2018", 1, 9 + 4),
        ("lstm", "keras2018", 8, 320 + 18),
        ("gru", "keras2018", 8, 240 + 18),
        ("rnn", "torch", 1, 4 + 4),
        ("lstm", "torch", 1, 16 + 4),
        ("gru", "torch", 1, 12 + 4),
    ],
)
def test_parameter_counts(cell, style, hidden_size, count):
    params = kc.init_params(cell, style, hidden_size, [0])
    assert sum(p[0].numel() for p in params.values()) == count
    if style == "torch":
        mod = kc.to_torch_module(params, cell)
        assert sum(p.numel() for p in mod.parameters()) == count - (hidden_size * 2 + 2)
