"""A small vanilla RNN with explicit matrices, and the lecture's hand-built repeat
detector (seed 003, CS231n 2025 lecture 7, "manual construction of recurrent
weight matrices").

The recurrence (lecture: ``h_t = f(h_{t-1}, x_t; W)``, ``y_t = g(h_t; V)``)::

    h_t = act(W_hh h_{t-1} + W_xh x_t + b_h)        (H,)
    y_t = out_act(w_hy . h_t)                        scalar per step

The repeat detector feeds ``x_t = [bit_t, 1]`` (the constant 1 lets the network
make a bias unit) and keeps a 3-dimensional state ``h_t = [bit_t, bit_{t-1}, 1]``:
``W_xh`` writes the current bit and the constant, ``W_hh`` copies the current
slot into the "previous" slot, and the readout ``[1, 1, -1]`` followed by ReLU
fires exactly when current and previous bits are both 1.
"""

from __future__ import annotations

import torch
from torch import nn

from . import cells

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}


class ExplicitRNN(nn.Module):
    """Vanilla RNN with named matrices ``W_xh (H, D)``, ``W_hh (H, H)``, ``b_h (H,)``
    and a readout vector ``w_hy (H,)``; time-major input ``(T, B, D)``.

    ``bias=False`` drops ``b_h`` (the repeat detector builds its bias as a state unit).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        activation: str = "relu",
        out_activation: str = "relu",
        bias: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        scale = hidden_size**-0.5

        def init(*shape):
            return nn.Parameter(
                torch.empty(shape).uniform_(0, scale, generator=generator)
            )

        # Non-negative init: a ReLU net started with negative weights tends to
        # start with dead units on 0/1 inputs.
        self.W_xh = init(hidden_size, input_size)
        self.W_hh = init(hidden_size, hidden_size)
        self.w_hy = nn.Parameter(
            torch.empty(hidden_size).uniform_(-scale, scale, generator=generator)
        )
        self.b_h = nn.Parameter(torch.zeros(hidden_size)) if bias else None
        self.activation, self.out_activation = activation, out_activation

    def states(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``(T, B, H)`` for input ``x (T, B, D)``; ``h0`` defaults to 0."""
        act = ACTIVATIONS[self.activation]
        h = h0 if h0 is not None else x.new_zeros(x.shape[1], self.W_hh.shape[0])
        hs = []
        for x_t in x:  # x_t: (B, D); cells' layout is right-multiplied (W^T)
            (h,) = cells.rnn_step(
                x_t @ self.W_xh.T, (h,), self.W_hh.T, self.b_h, act=act
            )
            hs.append(h)
        return torch.stack(hs)  # (T, B, H)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(T, B)``."""
        return ACTIVATIONS[self.out_activation](self.states(x, h0) @ self.w_hy)


def bits_to_inputs(bits: torch.Tensor) -> torch.Tensor:
    """0/1 bits ``(T, B)`` -> inputs ``x_t = [bit_t, 1]``: ``(T, B, 2)`` float."""
    bits = bits.to(torch.get_default_dtype())
    return torch.stack([bits, torch.ones_like(bits)], dim=-1)


def repeat_detector() -> ExplicitRNN:
    """The lecture's hand-built repeat detector (state: current, previous, bias)."""
    rnn = ExplicitRNN(2, 3, activation="relu", out_activation="relu", bias=False)
    with torch.no_grad():
        rnn.W_xh.copy_(
            torch.tensor(
                [
                    [1.0, 0.0],  # current <- bit_t
                    [0.0, 0.0],  # previous <- (from W_hh)
                    [0.0, 1.0],
                ]
            )
        )  # bias <- the constant input
        rnn.W_hh.copy_(
            torch.tensor(
                [
                    [0.0, 0.0, 0.0],
                    [1.0, 0.0, 0.0],  # previous <- last step's current
                    [0.0, 0.0, 0.0],
                ]
            )
        )
        rnn.w_hy.copy_(torch.tensor([1.0, 1.0, -1.0]))  # current + previous - 1
    return rnn


class TokenRNN(nn.Module):
    """Token ids -> embedding -> fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` -> logits.

    The lecture's character-level model: "each input token is one-hot encoded and
    mapped through a learned embedding matrix", then a per-step classifier. Used
    for delayed recall, the clipping demo and the text8 character LM.
    ``ids (T, B) -> logits (T, B, n_out)``; :meth:`from_embedded` takes the
    embedded input ``(T, B, E)`` so input gradients can be measured.
    """

    def __init__(
        self,
        cell: str,
        n_tokens: int,
        hidden_size: int,
        n_out: int,
        *,
        embed_size: int | None = None,
        num_layers: int = 1,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ):
        super().__init__()
        embed_size = embed_size or hidden_size
        kw = dict(num_layers=num_layers, dropout=dropout)
        if cell == "rnn":
            kw["nonlinearity"] = nonlinearity  # tanh or relu (vanilla RNN only)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.cell = cell
        self.embed = nn.Embedding(n_tokens, embed_size)
        self.rnn = rnn_cls(embed_size, hidden_size, **kw)
        self.readout = nn.Linear(hidden_size, n_out)

    def from_embedded(self, e: torch.Tensor, state=None):
        out, state = self.rnn(e, state)  # out: (T, B, H)
        return self.readout(out), state

    def forward(self, ids: torch.Tensor, state=None):
        return self.from_embedded(self.embed(ids), state)


def detach_state(state):
    """Cut the graph at a state (truncated BPTT); works for ``h`` and ``(h, c)``."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.no_grad()
def trace(net: ExplicitRNN, bits) -> dict:
    """Step-by-step record of ``net`` on one bit sequence: input, state, output.

    Returns ``{"x_t": [...], "h_t": [[...], ...], "y_t": [...]}`` (one entry per step).
    """
    x = bits_to_inputs(torch.as_tensor(bits).reshape(-1, 1))  # (T, 1, 2)
    h = net.states(x)[:, 0]  # (T, H)
    y = net(x)[:, 0]
    return {
        "x_t": [int(b) for b in torch.as_tensor(bits)],
        "h_t": h.tolist(),
        "y_t": y.tolist(),
    }


@torch.no_grad()
def lstm_states(lstm: nn.LSTM, x: torch.Tensor):
    """Hidden states ``h`` and cell states ``c`` of a one-layer ``nn.LSTM`` at every
    step: ``x (T, B, D) -> h, c (T, B, H)`` (``nn.LSTM`` returns only the last ``c``).

    The fused kernel gives every ``h_t``; from ``h_{t-1}`` and ``x_t`` all gates come
    out of one matrix product, leaving only the cheap elementwise recurrence
    ``c_t = f_t * c_{t-1} + i_t * g_t`` (PyTorch's gate order: i, f, g, o) to loop.
    """
    if lstm.num_layers != 1:
        raise ValueError("lstm_states: one layer only")
    h, _ = lstm(x)  # (T, B, H)
    h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    z = (
        x @ lstm.weight_ih_l0.T
        + lstm.bias_ih_l0
        + h_prev @ lstm.weight_hh_l0.T
        + lstm.bias_hh_l0
    )  # (T, B, 4H)
    i, f, g, _ = z.chunk(4, dim=-1)
    i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    c, c_t = torch.empty_like(h), torch.zeros_like(h[0])
    for t in range(len(h)):
        c_t = f[t] * c_t + i[t] * g[t]
        c[t] = c_t
    return h, c
