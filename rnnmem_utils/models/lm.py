"""Recurrent language models with a step interface that exposes their states.

Training runs the fused ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` over a whole
``(T, B)`` block. The analysis (state gradients, probes) needs the states
themselves and the input vector ``x_t`` each step: :meth:`RecurrentLM.step`
recomputes one step with the *same* weights and torch.nn's own equations,
the steps of :mod:`rnnmem_utils.models.cells` (gate order i, f, g, o for the
LSTM; r, z, n with the reset gate applied after the recurrent matmul for the
GRU), so a state gradient taken through ``step`` is the gradient of the
trained model.

The input ``x_t`` is the embedding ``e_t = E x_t`` (Verwimp et al. 2018, eq. 2)
or, without an embedding layer, the one-hot vector itself (section 4.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import cells

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# Cells torch has no fused layer for, run as a Python loop over the cell
# library's step: the GRU in TensorFlow's form (reset gate on h before the
# recurrent matmul, one bias), the form of Verwimp et al.'s TF 1.8 code.
LOOPED = {"gru_tf": lambda n_in, n_h: cells.GRUCell(n_in, n_h, form="tf")}
_STEPS = {"lstm": cells.lstm_step, "gru": cells.gru_torch_step, "rnn": cells.rnn_step}
STATE_NAMES = {"lstm": ("h", "c"), "gru": ("h",), "rnn": ("h",), "gru_tf": ("h",)}


class RecurrentLM(nn.Module):
    """Input (embedding or one-hot) -> one recurrent layer -> linear decoder.

    ``embedding_size=None`` feeds one-hot vectors (no embedding layer).
    States are tuples of ``(B, H)`` tensors named by :attr:`state_names`.
    """

    def __init__(
        self,
        cell: str,
        vocab_size: int,
        hidden_size: int,
        embedding_size: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in CELLS and cell not in LOOPED:
            raise ValueError(
                f"cell {cell!r}; options are {sorted({**CELLS, **LOOPED})}"
            )
        self.cell, self.vocab_size, self.hidden_size = cell, vocab_size, hidden_size
        self.embedding = (
            nn.Embedding(vocab_size, embedding_size) if embedding_size else None
        )
        self.input_size = embedding_size or vocab_size
        make = LOOPED.get(cell) or CELLS[cell]
        self.rnn = make(self.input_size, hidden_size)
        self.drop = nn.Dropout(dropout)  # on the recurrent output only (section 4.3.1)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    @property
    def cells(self):
        """The cell-library layers of a looped cell (the analysis engine walks
        them directly: ``analysis_view``); None for a fused torch.nn layer."""
        return (self.rnn,) if self.cell in LOOPED else None

    @property
    def state_names(self) -> tuple[str, ...]:
        return STATE_NAMES[self.cell]

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, B)`` token ids -> ``(T, B, E)`` input vectors x_t."""
        if self.embedding is None:
            return F.one_hot(tokens, self.vocab_size).to(self.decoder.weight.dtype)
        return self.embedding(tokens)

    def init_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        w = self.decoder.weight
        zeros = w.new_zeros(batch_size, self.hidden_size)
        return tuple(zeros.clone() for _ in self.state_names)

    def forward(self, tokens, state=None):
        """Fused pass: ``(T, B)`` tokens -> ``(T, B, V)`` logits and the last state."""
        out, last = self.hidden(tokens, state)
        return self.decoder(out), last

    def hidden(self, tokens, state=None):
        """What the decoder reads: the recurrent output ``(T, B, H)`` after
        dropout, and the last state. Training feeds it to
        :func:`rnnmem_utils.training.lm.linear_cross_entropy` with the decoder's
        weights, which never holds the ``(T, B, V)`` logits at once."""
        state = self.init_state(tokens.shape[1]) if state is None else state
        if self.cell in LOOPED:
            out, last = self._looped(self.embed(tokens), state)
            return self.drop(out), last
        packed = tuple(s.unsqueeze(0) for s in state)  # (1, B, H): nn.LSTM's layout
        out, last = self.rnn(
            self.embed(tokens), packed if self.cell == "lstm" else packed[0]
        )
        last = last if self.cell == "lstm" else (last,)
        return self.drop(out), tuple(s.squeeze(0) for s in last)

    def _looped(self, xs, state):
        """A cell-library cell over ``xs`` (T, B, E): the input projection of
        every step in one matmul, then one step per time step. ``unbind``
        (not ``gx[t]``): indexing would make the backward pass add a
        full-size gradient per step, quadratic in T."""
        outs = []
        for gx in self.rnn.project(xs).unbind(0):  # (B, G*H) each
            state = self.rnn.step(gx, state)
            outs.append(state[0])
        return torch.stack(outs), state  # (T, B, H)

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple:
        """One step on the input vector ``x_t`` ``(B, E)``; returns the new state."""
        if self.cell in LOOPED:
            return self.rnn(x_t, state)
        w_ih, w_hh, b_ih, b_hh = self._weights()
        gx, w_h = F.linear(x_t, w_ih, b_ih), w_hh.T  # cells' right-multiplied layout
        return _STEPS[self.cell](gx, state, w_h, b_hh)

    def _weights(self):
        r = self.rnn
        return r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0

    @torch.no_grad()
    def states(self, tokens: torch.Tensor, state=None) -> dict[str, torch.Tensor]:
        """Every state after every input: ``{name: (T, B, H)}`` (via :meth:`step`)."""
        state = self.init_state(tokens.shape[1]) if state is None else state
        xs = self.embed(tokens)
        out = {name: [] for name in self.state_names}
        for x_t in xs:
            state = self.step(x_t, state)
            for name, s in zip(self.state_names, state, strict=True):
                out[name].append(s)
        return {name: torch.stack(v) for name, v in out.items()}

    def state_index(self, name: str) -> int:
        if name not in self.state_names:
            raise ValueError(
                f"state {name!r}; options for {self.cell} are {self.state_names}"
            )
        return self.state_names.index(name)
