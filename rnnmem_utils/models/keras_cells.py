"""SRNN / LSTM / GRU with explicit equations, batched over R independent models.

Two styles of the same three cells (seed 002, REFERENCE.md E1):

- ``"keras2018"``: Keras 2.1 defaults of the question's time. Gates use Keras'
  hard sigmoid ``clip(0.2 x + 0.5, 0, 1)``; the input kernel is
  ``glorot_uniform`` over the whole ``(input, G*H)`` matrix, the recurrent
  kernel ``orthogonal`` over the whole ``(H, G*H)`` matrix, one zero bias
  (the LSTM's forget part set to 1, ``unit_forget_bias``); the GRU applies the
  reset gate to ``h`` *before* the recurrent matmul (``reset_after=False``).
  Dense head: ``glorot_uniform`` kernel, zero bias.
- ``"torch"``: the modern PyTorch form: logistic-sigmoid gates, two biases,
  every parameter ``U(-1/sqrt(H), 1/sqrt(H))`` (``torch.nn.RNN``'s init), the
  GRU as ``torch.nn.GRU`` (reset gate applied after the recurrent matmul).
  Dense head as ``torch.nn.Linear``.

Parameter layout: every tensor has a leading model axis R, so R independent
models run as one (nothing mixes the axis)::

    W_x (R, I, G*H)   b_x (R, G*H)   W_h (R, H, G*H)   b_h (R, G*H) | absent
    W_o (R, H, C)     b_o (R, C)                        (dense head, C classes)

Gate blocks along the last axis (internal order, chosen so one activation
call covers the sigmoid gates): LSTM ``i, f, o, g``; GRU ``r, z, n``.

Equations (``a`` = hard sigmoid or sigmoid, ``*`` elementwise; the steps are
:mod:`rnnmem_utils.models.cells`'s, LSTM in its ``"ifog"`` order):

- SRNN: ``h_t = tanh(x_t W_x + b_x + h_{t-1} W_h [+ b_h])``
- LSTM: ``[i f o] = a(.)``, ``g = tanh(.)``, ``c_t = f*c_{t-1} + i*g``,
  ``h_t = o * tanh(c_t)`` (Hochreiter & Schmidhuber 1997 with forget gate).
- GRU keras2018: ``r, z = a(x W_x + h W_h)``,
  ``n = tanh(x W_xn + b_n + (r*h) W_hn)``, ``h_t = z*h + (1-z)*n``.
- GRU torch: ``n = tanh(x W_xn + b_xn + r*(h W_hn + b_hn))``, same update.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import cells

CELLS = ("rnn", "lstm", "gru")
STYLES = ("keras2018", "torch")
N_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# Keras' column order -> our internal order (LSTM keras i,f,c,o; GRU keras z,r,h).
_KERAS_TO_INTERNAL = {"rnn": [0], "lstm": [0, 1, 3, 2], "gru": [1, 0, 2]}
# torch.nn order -> internal (LSTM torch i,f,g,o; GRU torch r,z,n).
_TORCH_TO_INTERNAL = {"rnn": [0], "lstm": [0, 1, 3, 2], "gru": [0, 1, 2]}


# The cells themselves live in cells.py; these names stay for callers.
hard_sigmoid = cells.hard_sigmoid
recurrent = cells.affine


def gate_activation(style: str):
    return hard_sigmoid if style == "keras2018" else torch.sigmoid


# ---------------------------------------------------------------------------
# Initialisation (one model per generator, then stacked along R)
# ---------------------------------------------------------------------------


def glorot_uniform(shape, gen: torch.Generator, dtype) -> torch.Tensor:
    """Keras ``glorot_uniform``: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (shape[0] + shape[1]))
    return (
        (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1)
        .mul(limit)
        .to(dtype)
    )


def keras_orthogonal(shape, gen: torch.Generator, dtype) -> torch.Tensor:
    """Keras 2.1 ``Orthogonal``: SVD of a Gaussian matrix, ``u`` if it has the
    requested shape else ``v``. A (1, 1) kernel is exactly +1 or -1; a (1, G)
    kernel (one LSTM/GRU unit) is a random unit vector."""
    a = torch.randn(shape, generator=gen, dtype=torch.float64).numpy()
    u, _, v = np.linalg.svd(a, full_matrices=False)
    q = u if u.shape == tuple(shape) else v
    return torch.from_numpy(np.ascontiguousarray(q[: shape[0], : shape[1]])).to(dtype)


def _uniform(shape, bound: float, gen, dtype) -> torch.Tensor:
    return ((torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound).to(
        dtype
    )


def _init_keras(cell, hidden_size, input_size, n_out, gen, dtype) -> dict:
    gh = N_GATES[cell] * hidden_size
    order = _block_index(cell, hidden_size, _KERAS_TO_INTERNAL)
    bias = torch.zeros(gh, dtype=dtype)
    if cell == "lstm":  # unit_forget_bias: forget block (keras block 1) starts at 1
        bias = bias.clone()
        bias[hidden_size : 2 * hidden_size] = 1.0
    p = {
        "W_x": glorot_uniform((input_size, gh), gen, dtype)[:, order],
        "b_x": bias[order],
        "W_h": keras_orthogonal((hidden_size, gh), gen, dtype)[:, order],
    }
    if n_out:
        p["W_o"] = glorot_uniform((hidden_size, n_out), gen, dtype)
        p["b_o"] = torch.zeros(n_out, dtype=dtype)
    return p


def _init_torch(cell, hidden_size, input_size, n_out, gen, dtype) -> dict:
    gh = N_GATES[cell] * hidden_size
    k = 1.0 / math.sqrt(hidden_size)
    p = {
        "W_x": _uniform((input_size, gh), k, gen, dtype),
        "W_h": _uniform((hidden_size, gh), k, gen, dtype),
        "b_x": _uniform((gh,), k, gen, dtype),
        "b_h": _uniform((gh,), k, gen, dtype),
    }
    if n_out:  # nn.Linear: kaiming_uniform(a=sqrt 5) == U(-1/sqrt(fan_in), ..)
        ko = 1.0 / math.sqrt(hidden_size)
        p["W_o"] = _uniform((hidden_size, n_out), ko, gen, dtype)
        p["b_o"] = _uniform((n_out,), ko, gen, dtype)
    return p


def _block_index(cell: str, hidden_size: int, table: dict) -> torch.Tensor:
    """Column index turning another library's gate order into ours."""
    blocks = [torch.arange(b * hidden_size, (b + 1) * hidden_size) for b in table[cell]]
    return torch.cat(blocks)


def init_params(
    cell: str,
    style: str,
    hidden_size: int,
    seeds,
    *,
    input_size: int = 1,
    n_out: int = 2,
    dtype=torch.float32,
) -> dict:
    """Initial parameters of ``len(seeds)`` independent models, stacked on axis 0.

    Model r is initialised from ``torch.Generator().manual_seed(seeds[r])`` alone,
    so a model's init does not depend on how many others are stacked with it.
    ``n_out=0`` omits the dense head.
    """
    _check(cell, style)
    init = _init_keras if style == "keras2018" else _init_torch
    per_model = []
    for s in seeds:
        gen = torch.Generator().manual_seed(int(s))
        per_model.append(init(cell, hidden_size, input_size, n_out, gen, dtype))
    return {k: torch.stack([p[k] for p in per_model]) for k in per_model[0]}


def _check(cell: str, style: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"cell {cell!r}; options are {list(CELLS)}")
    if style not in STYLES:
        raise ValueError(f"style {style!r}; options are {list(STYLES)}")


# ---------------------------------------------------------------------------
# Forward pass over a sequence
# ---------------------------------------------------------------------------


def folded_bias(params: dict, cell: str) -> torch.Tensor:
    """The biases that simply add, as one (R, 1, G*H) tensor: ``b_x`` plus
    ``b_h``, except for the GRU, whose step adds ``b_h`` itself because
    ``b_hn`` must stay inside ``r * (h W_hn + b_hn)``."""
    bias = params["b_x"]
    if params.get("b_h") is not None and cell != "gru":
        bias = bias + params["b_h"]
    return bias[:, None, :]


def input_term(
    bias: torch.Tensor, x_t: torch.Tensor, w_x: torch.Tensor
) -> torch.Tensor:
    """``x_t W_x + b``: (R, B, I) -> (R, B, G*H).

    Computed step by step on purpose: one small kernel per step costs less
    than a (T, R, B, G*H) projection and its backward's reduction."""
    return recurrent(bias, x_t, w_x)


def _rnn_step(gx_t, state, params, act):
    return cells.rnn_step(gx_t, state, params["W_h"])


def _lstm_step(gx_t, state, params, act):
    return cells.lstm_step(gx_t, state, params["W_h"], gate=act, order="ifog")


def _gru_keras_step(gx_t, state, params, act):
    return cells.gru_tf_step(gx_t, state, params["W_h"], gate=act)


def _gru_torch_step(gx_t, state, params, act):
    return cells.gru_torch_step(
        gx_t, state, params["W_h"], params["b_h"][:, None, :], gate=act
    )


def step_function(cell: str, style: str):
    _check(cell, style)
    if cell == "gru":
        return _gru_keras_step if style == "keras2018" else _gru_torch_step
    return _rnn_step if cell == "rnn" else _lstm_step


def last_states(
    params: dict, x: torch.Tensor, last: torch.Tensor, cell: str, style: str
) -> torch.Tensor:
    """Run R models over ``x`` (T, R, B, I) and return each model's hidden state
    at its own last step ``last[r]`` (so models of different lengths share one
    loop over ``T = max(last) + 1`` steps): (R, B, H)."""
    step, act = step_function(cell, style), gate_activation(style)
    bias, w_x = folded_bias(params, cell), params["W_x"]
    n_models, batch = x.shape[1], x.shape[2]
    h0 = x.new_zeros(n_models, batch, params["W_h"].shape[-1] // N_GATES[cell])
    state = (h0, h0) if cell == "lstm" else (h0,)
    wanted = sorted(set(last.tolist()))
    wanted_set, keep = set(wanted), {}
    # one unbind instead of T indexing calls; the input terms are formed step
    # by step (see input_term), so nothing of size T enters the graph.
    for t, x_t in enumerate(x[: wanted[-1] + 1].unbind(0)):
        state = step(input_term(bias, x_t, w_x), state, params, act)
        if t in wanted_set:
            keep[t] = state[0]
    stacked = torch.stack([keep[t] for t in wanted])  # (K, R, B, H)
    slot = torch.as_tensor([wanted.index(t) for t in last.tolist()])
    return stacked[slot, torch.arange(n_models)]  # (R, B, H)


def logits(params: dict, h: torch.Tensor) -> torch.Tensor:
    """Dense head: (R, B, H) -> (R, B, C)."""
    return torch.baddbmm(params["b_o"][:, None, :], h, params["W_o"])


# ---------------------------------------------------------------------------
# Copies to and from torch.nn (tests, and a reader who wants the modern module)
# ---------------------------------------------------------------------------


def to_torch_module(params: dict, cell: str, r: int = 0) -> torch.nn.Module:
    """A ``torch.nn.RNN/LSTM/GRU`` holding model ``r``'s weights (torch style)."""
    hidden_size, input_size = params["W_h"].shape[1], params["W_x"].shape[1]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    mod = cls(input_size, hidden_size, dtype=params["W_x"].dtype)
    inv = torch.argsort(_block_index(cell, hidden_size, _TORCH_TO_INTERNAL))
    with torch.no_grad():
        mod.weight_ih_l0.copy_(params["W_x"][r][:, inv].T)
        mod.weight_hh_l0.copy_(params["W_h"][r][:, inv].T)
        mod.bias_ih_l0.copy_(params["b_x"][r][inv])
        mod.bias_hh_l0.copy_(params["b_h"][r][inv])
    return mod
