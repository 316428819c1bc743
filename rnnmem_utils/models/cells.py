"""One cell library: explicit step functions for every recurrent cell we use.

Conventions (all cells):

- time-major sequences ``(T, B, E)``; a step takes ``x_t`` already projected,
  ``gx = x_t W_x + b`` (``(B, G*H)``), so the input projection can be hoisted
  out of the time loop, and returns the carried state as a tuple;
- right-multiplied weights ``W_x (E, G*H)``, ``W_h (H, G*H)`` (the transpose of
  ``torch.nn``'s ``weight_ih``/``weight_hh``); every step also accepts a
  leading model axis ``R`` (``W_h (R, H, G*H)``, states ``(R, B, H)``), which
  :mod:`keras_cells` uses to train R independent models as one;
- ``b_h`` is the second bias of the torch form (``torch.nn`` keeps ``b_ih`` and
  ``b_hh``); ``None`` means one bias, folded into ``gx`` (Keras, TensorFlow);
- the gate activation is a parameter: ``torch.sigmoid`` (torch, TensorFlow) or
  :func:`hard_sigmoid` (Keras 2.1, the 2018 defaults); unit forget bias at
  init is an initialisation (:mod:`keras_cells`), ``forget_bias`` in a step is
  TensorFlow's constant added to the forget pre-activation every step.

The fused ``torch.nn.RNN/LSTM/GRU`` stay the fast path wherever a cell has an
equivalent there; these steps are for the states, gradients and the cells
torch has no kernel for (the TensorFlow GRU, the Nested LSTM).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

Tensor = torch.Tensor


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 2.1's ``hard_sigmoid``: ``clip(0.2 x + 0.5, 0, 1)``.

    Written as torch's ``hardsigmoid(y) = clip(y / 6 + 0.5, 0, 1)`` at
    ``y = 1.2 x``: the same function in two kernels instead of three."""
    return torch.nn.functional.hardsigmoid(1.2 * x)


def affine(acc: Tensor, h: Tensor, w: Tensor) -> Tensor:
    """``acc + h @ w``; ``h (B, H)``, ``w (H, G)``, or with a model axis
    ``h (R, B, H)``, ``w (R, H, G)``.

    With one unit the batched matmul is a broadcast product, several times
    cheaper than a batched matmul of 1 x 1 matrices."""
    if w.dim() == 2:
        return acc + h @ w
    if h.shape[-1] == 1:
        return torch.addcmul(acc, h, w)
    return torch.baddbmm(acc, h, w)


def _pre(gx: Tensor, h: Tensor, w_h: Tensor, b_h: Tensor | None) -> Tensor:
    """``gx + h W_h [+ b_h]``: the pre-activations of every gate."""
    return affine(gx, h, w_h) if b_h is None else gx + affine(b_h, h, w_h)


def rnn_step(
    gx: Tensor, state: tuple, w_h: Tensor, b_h: Tensor | None = None, *, act=torch.tanh
) -> tuple:
    """Vanilla (Elman) RNN: ``h_t = act(x_t W_x + b_x + h_{t-1} W_h [+ b_h])``.

    ``act`` is tanh (``torch.nn.RNN``'s default) or relu, identity."""
    (h,) = state
    return (act(_pre(gx, h, w_h, b_h)),)


def lstm_step(
    gx: Tensor,
    state: tuple,
    w_h: Tensor,
    b_h: Tensor | None = None,
    *,
    gate: Callable = torch.sigmoid,
    forget_bias: float = 0.0,
    order: str = "ifgo",
) -> tuple:
    """LSTM (Hochreiter & Schmidhuber 1997, with Gers et al.'s forget gate)::

        [i f g o] = x_t W_x + b + h_{t-1} W_h [+ b_h]
        i, f, o = gate(i), gate(f + forget_bias), gate(o);   g = tanh(g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    State ``(h, c)``. ``order`` is the gate blocks' order along the last axis:
    ``"ifgo"`` is torch.nn's; ``"ifog"`` keeps the three sigmoid gates
    together so one activation call covers them (:mod:`keras_cells`)."""
    h, c = state
    size = h.shape[-1]
    pre = _pre(gx, h, w_h, b_h)
    if forget_bias:
        pre = torch.cat(
            [
                pre[..., :size],
                pre[..., size : 2 * size] + forget_bias,
                pre[..., 2 * size :],
            ],
            -1,
        )
    # split/chunk, not slicing: one backward node (a cat) instead of one
    # full-size zero tensor per slice.
    if order == "ifog":
        ifo, g = pre.split([3 * size, size], -1)
        i, f, o = gate(ifo).chunk(3, -1)
    elif order == "ifgo":
        i, f, g, o = pre.chunk(4, -1)
        i, f, o = gate(i), gate(f), gate(o)
    else:
        raise ValueError(f"order {order!r}; options are 'ifgo', 'ifog'")
    c = torch.addcmul(f * c, i, torch.tanh(g))
    return o * torch.tanh(c), c


def gru_torch_step(
    gx: Tensor, state: tuple, w_h: Tensor, b_h: Tensor | None, *, gate=torch.sigmoid
) -> tuple:
    """GRU as ``torch.nn.GRU`` / cuDNN (Cho et al. 2014 with the reset gate
    applied *after* the recurrent matmul), gate blocks ``r, z, n``::

        r = gate(x W_xr + b_xr + h W_hr + b_hr)
        z = gate(x W_xz + b_xz + h W_hz + b_hz)
        n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    State ``(h,)``."""
    (h,) = state
    sizes = [2 * h.shape[-1], h.shape[-1]]
    gh = h @ w_h if b_h is None else affine(b_h, h, w_h)
    (gx_rz, gx_n), (gh_rz, gh_n) = gx.split(sizes, -1), gh.split(sizes, -1)
    r, z = gate(gx_rz + gh_rz).chunk(2, -1)
    n = torch.tanh(torch.addcmul(gx_n, r, gh_n))
    return (n + z * (h - n),)  # == (1 - z) * n + z * h


def gru_tf_step(gx: Tensor, state: tuple, w_h: Tensor, *, gate=torch.sigmoid) -> tuple:
    """GRU as TensorFlow's ``GRUCell`` and Keras' ``GRU(reset_after=False)``
    (Cho et al. 2014's original form: the reset gate applied to ``h`` *before*
    the recurrent matmul), one bias folded into ``gx``, gate blocks ``r, z, n``::

        r, z = gate(x W_x[r,z] + b[r,z] + h W_h[r,z])
        n = tanh(x W_xn + b_n + (r * h) W_hn)
        h_t = (1 - z) * n + z * h_{t-1}

    No ``torch.nn`` module computes this. State ``(h,)``."""
    (h,) = state
    sizes = [2 * h.shape[-1], h.shape[-1]]
    gx_rz, gx_n = gx.split(sizes, -1)
    w_rz, w_n = w_h.split(sizes, -1)
    r, z = gate(affine(gx_rz, h, w_rz)).chunk(2, -1)
    n = torch.tanh(affine(gx_n, r * h, w_n))
    return (n + z * (h - n),)  # == (1 - z) * n + z * h


def nested_lstm_step(
    gx: Tensor,
    state: tuple,
    w_h: Tensor,
    inner_w_x: Tensor,
    inner_w_h: Tensor,
    inner_b: Tensor,
    *,
    gate: Callable = torch.sigmoid,
    forget_bias: float = 0.0,
) -> tuple:
    """Nested LSTM of depth 2 (Moniz & Krueger 2017; the Distill post's
    ``nlstm.py``). The outer LSTM's memory update ``c_t = f*c_{t-1} + i*g`` is
    replaced by an inner LSTM::

        [i f z o] = x_t W_x + b + h_{t-1} W_h          (outer gates, i f z o)
        i, f, o = gate(i), gate(f + forget_bias), gate(o);   z: identity
        x~ = i * z,   h~ = f * c_{t-1}                  (inner input, inner hidden)
        [i~ f~ z~ o~] = x~ W~_x + h~ W~_h + b~
        c~_t = gate(f~ + forget_bias) * c~_{t-1} + gate(i~) * tanh(z~)
        c_t = gate(o~) * tanh(c~_t)                      (the inner LSTM's output)
        h_t = o * tanh(c_t)

    State ``(h, c, c~)``. The post's code adds ``forget_bias`` at both depths
    (TensorFlow's ``BasicLSTMCell`` convention) with zero biases."""
    h, c, c_inner = state
    i, f, z, o = affine(gx, h, w_h).chunk(4, -1)
    i, f, o = gate(i), gate(f + forget_bias), gate(o)
    x_in, h_in = i * z, f * c
    c_new, c_inner = lstm_step(
        affine(inner_b, x_in, inner_w_x),
        (h_in, c_inner),
        inner_w_h,
        gate=gate,
        forget_bias=forget_bias,
    )
    return o * torch.tanh(c_new), c_new, c_inner


# ---------------------------------------------------------------------------
# Cells with their parameters, and stacked layers
# ---------------------------------------------------------------------------


class Cell(nn.Module):
    """A cell's parameters and its step: ``W_x (E, G*H)``, ``W_h (H, G*H)``,
    ``b (G*H)`` and, in the torch form, ``b_h (G*H)``. Initialised as
    ``torch.nn`` does, every parameter ``U(-1/sqrt(H), 1/sqrt(H))``."""

    n_gates = 1
    n_states = 1

    def __init__(self, input_size: int, hidden_size: int, *, two_biases: bool):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        gh = self.n_gates * hidden_size
        self.W_x = nn.Parameter(torch.empty(input_size, gh))
        self.W_h = nn.Parameter(torch.empty(hidden_size, gh))
        self.b = nn.Parameter(torch.empty(gh))
        self.b_h = nn.Parameter(torch.empty(gh)) if two_biases else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def project(self, x: Tensor) -> Tensor:
        """The input term ``x W_x + b`` of every gate, for one step or a whole
        ``(T, B, E)`` sequence at once."""
        return self.b + x @ self.W_x

    def init_state(self, batch_size: int) -> tuple:
        zeros = self.W_h.new_zeros(batch_size, self.hidden_size)
        return tuple(zeros.clone() for _ in range(self.n_states))

    def step(self, gx: Tensor, state: tuple) -> tuple:
        raise NotImplementedError

    def forward(self, x_t: Tensor, state: tuple) -> tuple:
        """One step on the raw input ``x_t (B, E)``; returns the new state."""
        return self.step(self.project(x_t), state)

    def load_torch(self, module: nn.Module, suffix: str = "") -> Cell:
        """Copy a ``torch.nn.*Cell`` (or one layer of ``torch.nn.RNN/LSTM/GRU``,
        ``suffix="_l0"``) into this cell; gate order is torch's for every cell.
        Only two-bias cells: one bias cannot hold both of torch's (the GRU's
        ``b_hn`` sits inside the reset product)."""
        if self.b_h is None:
            raise ValueError(f"{type(self).__name__} has one bias; torch.nn has two")
        with torch.no_grad():
            self.W_x.copy_(getattr(module, "weight_ih" + suffix).T)
            self.W_h.copy_(getattr(module, "weight_hh" + suffix).T)
            self.b.copy_(getattr(module, "bias_ih" + suffix))
            self.b_h.copy_(getattr(module, "bias_hh" + suffix))
        return self


class RNNCell(Cell):
    """:func:`rnn_step` with its parameters (``act`` tanh by default)."""

    def __init__(self, input_size, hidden_size, *, act=torch.tanh, two_biases=True):
        super().__init__(input_size, hidden_size, two_biases=two_biases)
        self.act = act

    def step(self, gx, state):
        return rnn_step(gx, state, self.W_h, self.b_h, act=self.act)


class LSTMCell(Cell):
    """:func:`lstm_step` with its parameters, gate order i, f, g, o."""

    n_gates, n_states = 4, 2

    def __init__(
        self,
        input_size,
        hidden_size,
        *,
        gate=torch.sigmoid,
        forget_bias=0.0,
        two_biases=True,
    ):
        super().__init__(input_size, hidden_size, two_biases=two_biases)
        self.gate, self.forget_bias = gate, forget_bias

    def step(self, gx, state):
        return lstm_step(
            gx, state, self.W_h, self.b_h, gate=self.gate, forget_bias=self.forget_bias
        )


class GRUCell(Cell):
    """:func:`gru_torch_step` (``form="torch"``, two biases) or
    :func:`gru_tf_step` (``form="tf"``, one bias), gate order r, z, n."""

    n_gates = 3

    def __init__(self, input_size, hidden_size, *, form="torch", gate=torch.sigmoid):
        if form not in ("torch", "tf"):
            raise ValueError(f"form {form!r}; options are 'torch', 'tf'")
        super().__init__(input_size, hidden_size, two_biases=form == "torch")
        self.form, self.gate = form, gate

    def step(self, gx, state):
        if self.form == "tf":
            return gru_tf_step(gx, state, self.W_h, gate=self.gate)
        return gru_torch_step(gx, state, self.W_h, self.b_h, gate=self.gate)


class NestedLSTMCell(Cell):
    """:func:`nested_lstm_step` with its parameters: the outer ``W_x, W_h, b``
    and the inner LSTM's ``W_ix (H, 4H)``, ``W_ih (H, 4H)``, ``b_i (4H)``.
    Gate order i, f, z, o at both depths; one bias per depth."""

    n_gates, n_states = 4, 3

    def __init__(self, input_size, hidden_size, *, gate=torch.sigmoid, forget_bias=1.0):
        super().__init__(input_size, hidden_size, two_biases=False)
        gh = 4 * hidden_size
        self.W_ix = nn.Parameter(torch.empty(hidden_size, gh))
        self.W_ih = nn.Parameter(torch.empty(hidden_size, gh))
        self.b_i = nn.Parameter(torch.empty(gh))
        self.reset_parameters()
        self.gate, self.forget_bias = gate, forget_bias

    def step(self, gx, state):
        return nested_lstm_step(
            gx,
            state,
            self.W_h,
            self.W_ix,
            self.W_ih,
            self.b_i,
            gate=self.gate,
            forget_bias=self.forget_bias,
        )


def run_layers(
    cells: Sequence[Cell], x: Tensor, states: Sequence[tuple] | None = None
) -> tuple[Tensor, list[tuple]]:
    """Stacked layers: ``x (T, B, E)`` through ``cells`` in order, each layer's
    hidden states the next one's input, each state carried in from ``states``
    (zeros when ``None``) and returned for the next block.

    Returns the last layer's hidden states ``(T, B, H)`` and every layer's
    final state. Each layer's input projection is one matmul over all T."""
    states = list(states) if states is not None else [None] * len(cells)
    out = []
    for layer, cell in enumerate(cells):
        state = states[layer] or cell.init_state(x.shape[1])
        hs = []
        for gx in cell.project(x).unbind(0):
            state = cell.step(gx, state)
            hs.append(state[0])
        x = torch.stack(hs)
        out.append(state)
    return x, out
