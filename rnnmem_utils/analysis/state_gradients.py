"""State gradients G[t, tau] = d s_t / d x_{t-tau} and their SVD summaries.

Verwimp et al. (2018), section 3 and 4.1: for a state ``s`` (LSTM cell or
hidden state, GRU or vanilla RNN state) and the input vector ``x`` (the
embedding, or the one-hot vector without an embedding layer), the gradient
matrix ``G[t, tau]`` (H x E) is averaged over target positions ``t`` for each
delay ``tau = 0..D-1`` and decomposed with an SVD (eq. 1).

How it is computed (exact, not estimated). The paper's public code takes one
backward pass per target position and per state unit (H passes per position).
Here the Jacobians are pushed *forward* instead: a tangent started at input
position j with the E unit directions of x_j gives, after tau steps,
d s_{j+tau} / d x_j = G[j+tau, tau]. Walking along the stream, each step
advances the tangents of the D most recent sources at once, so one step yields
all D Jacobians of one target with E tangents each (E < H makes this cheaper
than reverse mode's H seeds). The model's hand-written ``step_tangent`` folds
the gate derivatives into per-stream weight matrices (for an LSTM two H x H
products per tangent instead of one H x 4H); models without it go through
``torch.func.jvp`` vmapped over tangents. Tangents are kept ordered by delay in
two ping-pong buffers (see :func:`state_gradient_sums`).

Which models. :func:`analysis_view` turns a model into what the engine walks:
a model with ``embed`` and a fused ``rnn`` (``nn.LSTM``/``nn.GRU``/``nn.RNN``,
any number of layers, e.g. :class:`rnnmem_utils.models.lm.RecurrentLM`) or
with ``embed`` and ``cells`` (cell-library layers, e.g. the TF-form GRU)
becomes a :class:`CellStack`: the same weights stepped by
:mod:`rnnmem_utils.models.cells`, with hand-written folded tangents for the
LSTM, both GRU forms and the vanilla RNN (sigmoid or hard-sigmoid gates). Any
other model exposing ``embed``, ``step``, ``init_state`` and ``state_index``
goes through ``torch.func``. With several layers the states are named
``h1, c1, h2, ...``; ``h`` and ``c`` name the top layer.

Public API (stable; :mod:`rnnmem_utils.analysis.memory` builds on it):

- :func:`state_gradient_sums` (model, tokens (T, B), {name: mask (T, B)}):
  sums per group and delay, by target or by source; float64.
- :func:`label_gradient_sums` (model, tokens (T, S), labels (J, T, S), K):
  one accumulator per label, filled by scatter (cost independent of K);
  streams only swept near their targets; the form for many groups (words).
- :func:`naive_state_gradients`: the paper's per-unit backward loop (reference).
- :func:`embedding_cholesky`, :func:`normalise` (G D, eq. 10),
  :func:`svd_summaries`, :func:`summary_table`.

Typical use::

    sums = state_gradient_sums(model, tokens, {"all": mask}, state="c")
    table = summary_table(sums, chol=embedding_cholesky(model.embedding.weight))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import jvp, vmap
from tqdm.auto import tqdm

from ..models import cells


@dataclass
class GradientSums:
    """Sums of G per (group, delay) and their counts: ``sums`` (K, D, H, E),
    ``counts`` (K, D). Sums and counts add across batches, so averages combine."""

    sums: torch.Tensor
    counts: torch.Tensor
    groups: tuple[str, ...]

    def __add__(self, other: GradientSums) -> GradientSums:
        assert self.groups == other.groups
        return GradientSums(
            self.sums + other.sums, self.counts + other.counts, self.groups
        )

    def mean(self) -> torch.Tensor:
        """Average gradient matrices G-bar (K, D, H, E); zero where none counted."""
        return self.sums / self.counts.clamp(min=1)[..., None, None]


# ---------------------------------------------------------------------------
# The analysis view of a model: its layers as cells of the cell library
# ---------------------------------------------------------------------------


def _gate_slope(gate):
    """d gate(x) / dx from the gate's output y, for the gates of the cell
    library; None for any other function (the engine then uses torch.func)."""
    if gate is torch.sigmoid:
        return lambda y: y * (1 - y)
    if gate is cells.hard_sigmoid:  # clip(0.2 x + 0.5, 0, 1): slope 0.2 inside
        return lambda y: 0.2 * ((y > 0) & (y < 1)).to(y.dtype)
    return None


def _act_slope(act):
    """d act(x) / dx from the output, for the vanilla RNN's activations."""
    if act is torch.tanh:
        return lambda y: 1 - y * y
    if act is torch.relu:
        return lambda y: (y > 0).to(y.dtype)
    return None


def _gates(w: torch.Tensor, n_gates: int) -> torch.Tensor:
    """Right-multiplied stacked weights (In, G*H) -> (G, In, H)."""
    return w.view(w.shape[0], n_gates, -1).transpose(0, 1)


def _fold(w: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """sum over gates of W_gate diag(slope_gate), per stream: (G, In, H) and
    slopes (B, G, H) -> (B, In, H), one block of the step's Jacobian."""
    # an explicit product and sum: einsum lowers this to a bmm over j*h tiny
    # matrices (thousands of copies per step)
    out = w[None, 0] * slopes[:, 0, None, :]
    for g in range(1, w.shape[0]):
        out.addcmul_(w[None, g], slopes[:, g, None, :])
    return out


class CellStack:
    """What the engine walks: an input map and layers of the cell library.

    ``embed(tokens)`` maps ``(T, B)`` token ids to ``(T, B, E)`` inputs;
    ``layers`` are :class:`rnnmem_utils.models.cells.Cell` objects, layer 1
    first (LSTMCell, GRUCell in torch or TF form, RNNCell), each layer's
    hidden state the next one's input. The state is the tuple of every
    layer's states in order; with one layer its names are ``h`` (and ``c``),
    with more ``h1, c1, h2, c2, ...``, where ``h`` and ``c`` name the top layer.

    :meth:`step_tangent` is the engine's fast path: the elementwise gate
    derivatives are folded into per-stream copies of the weights, so each
    tangent costs one H x H product per state (LSTM: dc' = f dc + dh W_c,
    dh' = k dc' + dh W_o, k = o (1 - tanh^2 c'); GRU, both forms, and the
    vanilla RNN: dh' = z dh + dh W, z = 0 for the RNN). For the TF GRU (reset
    gate before the recurrent matmul) W = W_z diag(s_z) + (W_r diag(r'(1-r) h)
    + diag(r)) W_n diag(a), a = (1 - z)(1 - n^2): one H^3 product per stream
    and step buys H x H tangent products.
    """

    def __init__(self, embed, layers):
        self.embed, self.layers = embed, list(layers)
        if not self.layers:
            raise ValueError("a CellStack needs at least one layer")
        kinds = (cells.LSTMCell, cells.GRUCell, cells.RNNCell)
        for cell in self.layers:
            if not isinstance(cell, kinds):
                raise ValueError(
                    f"layer {type(cell).__name__}; options are "
                    f"{[k.__name__ for k in kinds]}"
                )
        self.folded = all(self._slopes_known(c) for c in self.layers)

    @staticmethod
    def _slopes_known(cell) -> bool:
        if isinstance(cell, cells.RNNCell):
            return _act_slope(cell.act) is not None
        if isinstance(cell, cells.LSTMCell):
            return _gate_slope(cell.gate) is not None
        return _gate_slope(cell.gate) is not None

    @classmethod
    def from_torch(cls, embed, rnn: nn.RNNBase) -> CellStack:
        """The layers of a fused ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (any number
        of layers; unidirectional, with biases, no projection) as cells with
        copied weights: the trained model, stepped by the cell library."""
        if rnn.bidirectional or not rnn.bias or getattr(rnn, "proj_size", 0):
            raise ValueError("only unidirectional layers with biases, no projection")
        w = rnn.weight_hh_l0
        layers = []
        for k in range(rnn.num_layers):
            n_in = rnn.input_size if k == 0 else rnn.hidden_size
            if isinstance(rnn, nn.LSTM):
                cell = cells.LSTMCell(n_in, rnn.hidden_size)
            elif isinstance(rnn, nn.GRU):
                cell = cells.GRUCell(n_in, rnn.hidden_size, form="torch")
            else:
                act = torch.tanh if rnn.nonlinearity == "tanh" else torch.relu
                cell = cells.RNNCell(n_in, rnn.hidden_size, act=act)
            cell = cell.to(dtype=w.dtype, device=w.device)
            layers.append(cell.load_torch(rnn, suffix=f"_l{k}").requires_grad_(False))
        return cls(embed, layers)

    # -- the step interface of the engine ---------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        per = [
            ("h", "c") if isinstance(c, cells.LSTMCell) else ("h",) for c in self.layers
        ]
        if len(per) == 1:
            return per[0]
        return tuple(f"{n}{k + 1}" for k, names in enumerate(per) for n in names)

    def state_index(self, name: str) -> int:
        names = self.state_names
        top = len(self.layers)
        alias = f"{name}{top}" if top > 1 and name in ("h", "c") else name
        if alias not in names:
            raise ValueError(f"state {name!r}; options are {names}")
        return names.index(alias)

    def init_state(self, batch_size: int) -> tuple:
        return tuple(v for c in self.layers for v in c.init_state(batch_size))

    def _split(self, state):
        out, k = [], 0
        for cell in self.layers:
            out.append(tuple(state[k : k + cell.n_states]))
            k += cell.n_states
        return out

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple:
        new = []
        for cell, s in zip(self.layers, self._split(state), strict=True):
            s = cell(x_t, s)
            new.extend(s)
            x_t = s[0]
        return tuple(new)

    @torch.no_grad()
    def step_tangent(self, x_t, state, d_in, d_out, rows=None):
        """One step and its forward-mode derivative (see the class docstring).

        ``d_in``: state tangents, each ``(B, N, H)``; pushed through the step
        into ``d_out`` (same shapes), only the first ``rows[b]`` rows of
        stream b (all when ``rows`` is None; 0 skips the stream). Returns the
        new state and the tangents of the new input, each ``(B, E, H)``.
        None when a layer's activation has no hand-written slope."""
        if not self.folded:
            return None
        batch, n = x_t.shape[0], d_in[0].shape[1]
        rows = [n] * batch if rows is None else rows
        new_state, new_tan, k = [], [], 0
        below, below_new = None, None  # the layer below: new h tangents
        for cell, s in zip(self.layers, self._split(state), strict=True):
            m = cell.n_states
            step = _TANGENT[type(cell)]
            s_new, fresh = step(
                cell, x_t, s, d_in[k : k + m], d_out[k : k + m], below, below_new, rows
            )
            new_state.extend(s_new)
            new_tan.extend(fresh)
            below, below_new = d_out[k], fresh[0]  # h is the first state
            x_t, k = s_new[0], k + m
        return tuple(new_state), tuple(new_tan)


def _push(d_out_b, terms, rows):
    """d_out_b[:rows] += sum of (tangents[:rows] @ W) over ``terms``."""
    for tan, w in terms:
        if tan is not None:
            d_out_b[:rows].addmm_(tan[:rows], w)


def _input_tangent(x_w, below_new):
    """Tangents of the new source: the input block itself for layer 1 (the
    source is x_t), else the layer below's new tangents through it."""
    return x_w if below_new is None else torch.bmm(below_new, x_w)


def _lstm_tangent(cell, x_t, s, d_in, d_out, below, below_new, rows):
    h, c = s
    pre = cell.project(x_t) + h @ cell.W_h
    pre = pre if cell.b_h is None else pre + cell.b_h
    slope = _gate_slope(cell.gate)
    i, f, g, o = pre.chunk(4, -1)
    i, f, o = cell.gate(i), cell.gate(f + cell.forget_bias), cell.gate(o)
    g = torch.tanh(g)
    c_new = f * c + i * g
    tanh_c = torch.tanh(c_new)
    k = o * (1 - tanh_c * tanh_c)  # (B, H): d h / d c
    slope_c = torch.stack([slope(i) * g, slope(f) * c, i * (1 - g * g)], 1)
    slope_o = (slope(o) * tanh_c)[:, None]
    wh, wx = _gates(cell.W_h, 4), _gates(cell.W_x, 4)
    w_c, w_o = _fold(wh[:3], slope_c), _fold(wh[3:], slope_o)  # (B, H, H)
    x_c, x_o = _fold(wx[:3], slope_c), _fold(wx[3:], slope_o)  # (B, In, H)
    (dh, dc), (dh_out, dc_out) = d_in, d_out
    for b, r in enumerate(rows):
        if r:
            up = None if below is None else below[b]
            torch.mul(dc[b, :r], f[b], out=dc_out[b, :r])
            _push(dc_out[b], [(dh[b], w_c[b]), (up, x_c[b])], r)
            torch.mul(dc_out[b, :r], k[b], out=dh_out[b, :r])
            _push(dh_out[b], [(dh[b], w_o[b]), (up, x_o[b])], r)
    new_c = _input_tangent(x_c, below_new)
    new_h = new_c * k[:, None] + _input_tangent(x_o, below_new)
    return (o * tanh_c, c_new), (new_h, new_c)


def _gru_tangent(cell, x_t, s, d_in, d_out, below, below_new, rows):
    (h,) = s
    slope = _gate_slope(cell.gate)
    gx = cell.project(x_t)
    size = h.shape[-1]
    wh, wx = _gates(cell.W_h, 3), _gates(cell.W_x, 3)
    if cell.form == "torch":
        gh = h @ cell.W_h + cell.b_h
        (xr, xz, xn), (hr, hz, hn) = gx.split(size, -1), gh.split(size, -1)
        r, z = cell.gate(xr + hr), cell.gate(xz + hz)
        n = torch.tanh(xn + r * hn)
        a = (1 - n * n) * (1 - z)  # d h' / d(pre-activation of n)
        s_r, s_z = slope(r) * hn * a, slope(z) * (h - n)
        w = _fold(wh, torch.stack([s_r, s_z, r * a], 1))  # (B, H, H)
        x_w = _fold(wx, torch.stack([s_r, s_z, a], 1))  # (B, In, H)
    else:  # TF form: reset gate on h before the recurrent matmul
        (xr, xz, xn) = gx.split(size, -1)
        w_rz, w_n = cell.W_h.split([2 * size, size], -1)
        r, z = cell.gate(xr + h @ w_rz[:, :size]), cell.gate(xz + h @ w_rz[:, size:])
        n = torch.tanh(xn + (r * h) @ w_n)
        a = (1 - n * n) * (1 - z)
        s_z = slope(z) * (h - n)
        w_na = w_n[None] * a[:, None, :]  # (B, H, H): W_n diag(a)
        s_r = (slope(r) * h)[:, None, :]
        w = wh[1] * s_z[:, None, :] + torch.bmm(wh[0] * s_r, w_na)
        w = w + r[:, :, None] * w_na
        x_w = wx[1] * s_z[:, None, :] + torch.bmm(wx[0] * s_r, w_na)
        x_w = x_w + wx[2] * a[:, None, :]
    (dh,), (dh_out,) = d_in, d_out
    for b, rr in enumerate(rows):
        if rr:
            up = None if below is None else below[b]
            torch.mul(dh[b, :rr], z[b], out=dh_out[b, :rr])
            _push(dh_out[b], [(dh[b], w[b]), (up, x_w[b])], rr)
    return (n + z * (h - n),), (_input_tangent(x_w, below_new),)


def _rnn_tangent(cell, x_t, s, d_in, d_out, below, below_new, rows):
    (h_new,) = cell(x_t, s)
    slope = _act_slope(cell.act)(h_new)[:, None, :]  # (B, 1, H)
    w, x_w = cell.W_h[None] * slope, cell.W_x[None] * slope
    (dh,), (dh_out,) = d_in, d_out
    for b, r in enumerate(rows):
        if r:
            torch.mm(dh[b, :r], w[b], out=dh_out[b, :r])
            if below is not None:
                dh_out[b, :r].addmm_(below[b, :r], x_w[b])
    return (h_new,), (_input_tangent(x_w, below_new),)


_TANGENT = {
    cells.LSTMCell: _lstm_tangent,
    cells.GRUCell: _gru_tangent,
    cells.RNNCell: _rnn_tangent,
}


def analysis_view(model):
    """The model as the engine walks it.

    - a :class:`CellStack` as it is;
    - a model with ``embed`` and a fused ``rnn`` (``nn.LSTM``/``nn.GRU``/
      ``nn.RNN``, e.g. :class:`rnnmem_utils.models.lm.RecurrentLM`): its
      layers copied into cells (:meth:`CellStack.from_torch`);
    - a model with ``embed`` and ``rnn`` one cell-library cell (e.g. the
      TF-form GRU LM, trained through the cell library), or ``cells`` (a
      sequence of them, layer 1 first);
    - anything else with ``embed``, ``step``, ``init_state`` and
      ``state_index`` as it is (its own ``step_tangent`` if it has one, else
      torch.func).
    """
    if isinstance(model, CellStack):
        return model
    rnn = getattr(model, "rnn", None)
    if isinstance(rnn, nn.RNNBase) and hasattr(model, "embed"):
        return CellStack.from_torch(model.embed, rnn)
    if isinstance(rnn, cells.Cell) and hasattr(model, "embed"):
        return CellStack(model.embed, [rnn])  # a looped cell, e.g. the TF GRU
    layers = getattr(model, "cells", None)
    if layers is not None and hasattr(model, "embed"):
        return CellStack(model.embed, layers)
    return model


# ---------------------------------------------------------------------------
# The sweep along the streams
# ---------------------------------------------------------------------------


def _step(model, x_t, state, d_in, d_out, rows=None, method="folded"):
    """One step: new state, state tangents pushed from ``d_in`` into ``d_out``
    (each (B, N, H)), and the input tangents d s_t / d x_t (each (B, E, H)).

    ``method="folded"`` uses the model's hand-written ``step_tangent`` when it
    has one (a :class:`CellStack` also takes ``rows``), else (and with
    ``method="jvp"``) ``torch.func.jvp`` of ``model.step``, vmapped over
    tangents, on every row.
    """
    fast = getattr(model, "step_tangent", None) if method == "folded" else None
    if fast is not None:
        args = (rows,) if isinstance(model, CellStack) else ()
        out = fast(x_t, state, d_in, d_out, *args)
        if out is not None:
            return out
    n_in, batch = x_t.shape[-1], x_t.shape[0]
    eye = torch.eye(n_in, dtype=x_t.dtype).unsqueeze(1).expand(n_in, batch, n_in)
    push_x = vmap(lambda tx: jvp(lambda x: model.step(x, state), (x_t,), (tx,))[1])
    push_s = vmap(
        lambda ts: jvp(lambda s: model.step(x_t, s), (state,), (ts,))[1],
        in_dims=1,
        out_dims=1,
    )
    if d_in[0].shape[1]:
        for d, new in zip(d_out, push_s(d_in), strict=True):
            d.copy_(new)
    return model.step(x_t, state), tuple(d.transpose(0, 1) for d in push_x(eye))


def _sweep(model, xs, s, accumulate, *, max_delay, method, active=None, progress=False):
    """Walk inputs ``xs`` (T, B, E) from state ``s``, keeping the tangents of
    the D most recent sources ordered by delay, ``(B, D*E, H)`` per state, in
    two ping-pong buffers: each step reads delays 0..D-2 from one and writes
    them as delays 1..D-1 into the other, and the new source enters at delay
    0, so no copy or gather is needed. ``accumulate(t, buffers)`` reads them.

    Only live rows are pushed: a stream's sources since it started (or since
    it became ``active`` (T, B), when given; an inactive stream is skipped)."""
    n_steps, batch, n_in = xs.shape
    width = max_delay * n_in
    bufs = [
        tuple(torch.zeros(batch, width, v.shape[-1], dtype=xs.dtype) for v in s)
        for _ in range(2)
    ]
    age = torch.zeros(batch, dtype=torch.long)
    with torch.no_grad():
        for t in tqdm(range(n_steps), disable=not progress, desc="state gradients"):
            on = torch.ones(batch, dtype=torch.bool) if active is None else active[t]
            age = torch.where(on, (age + 1).clamp(max=max_delay), 0)
            rows = ((age - 1).clamp(min=0) * n_in).tolist()
            d_in, d_out = bufs[t % 2], bufs[(t + 1) % 2]
            s, new = _step(
                model,
                xs[t],
                s,
                tuple(d[:, : width - n_in] for d in d_in),
                tuple(d[:, n_in:] for d in d_out),
                rows,
                method,
            )
            for d, d_new in zip(d_out, new, strict=True):
                d[:, :n_in] = d_new
            accumulate(t, d_out)
    return s


def state_gradient_sums(
    model,
    tokens: torch.Tensor,
    groups: dict[str, torch.Tensor],
    *,
    state: str = "c",
    max_delay: int = 50,
    by: str = "target",
    initial_state=None,
    first_target: int = 0,
    targets: torch.Tensor | None = None,
    method: str = "folded",
    progress: bool = False,
) -> GradientSums:
    """Sum G[t, tau] over the positions of each group, with counts per delay.

    ``tokens`` (T, B): B independent streams. ``groups``: name -> bool mask (T, B)
    of positions: with ``by="target"`` G[t, tau] is counted when t is in the
    group (the paper's averages over words at time t); with ``by="source"``
    when the input position t - tau is (how one input's influence evolves, as
    the new-token curves of Figure 3). Sources before the start of ``tokens``
    do not exist and are not counted; targets before ``first_target`` are
    skipped (a burn-in that gives the first targets their full history).
    ``targets``: bool mask (T, B) of the positions that may serve as targets
    at all (default: every position); with ``by="source"`` it keeps padding
    past the end of a stream from counting as the future of a real source.
    ``method``: "folded" (hand-written tangents) or "jvp" (torch.func).

    Sums are float64 (float32 partial sums flushed every 256 steps). For one
    label per position and many groups (words), :func:`label_gradient_sums`
    is the cheaper form.
    """
    if by not in ("target", "source"):
        raise ValueError(f"by={by!r}; options are ['source', 'target']")
    _check_method(method)
    view = analysis_view(model)
    names = tuple(groups)
    xs = view.embed(tokens).detach()  # (T, B, E)
    masks = torch.stack([groups[n] for n in names]).to(xs.dtype)  # (K, T, B)
    weights = _Weights(masks, max_delay, by, targets)
    k_state = view.state_index(state)
    s = view.init_state(tokens.shape[1]) if initial_state is None else initial_state
    acc = _Accumulator(
        len(names), max_delay, xs.shape[-1], s[k_state].shape[-1], xs.dtype
    )

    def accumulate(t, d_out):
        if t >= first_target:
            acc.add(weights.at(t), d_out[k_state])

    _sweep(view, xs, s, accumulate, max_delay=max_delay, method=method,
           progress=progress)  # fmt: skip
    return acc.result(names)


def _check_method(method):
    if method not in ("folded", "jvp"):
        raise ValueError(f"method={method!r}; options are ['folded', 'jvp']")


def label_gradient_sums(
    model,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    n_labels: int,
    *,
    names: tuple[str, ...] | None = None,
    state: str = "c",
    max_delay: int = 50,
    by: str = "target",
    initial_state=None,
    batch: int = 8,
    dtype: torch.dtype = torch.float64,
    method: str = "folded",
    progress: bool = False,
) -> GradientSums:
    """Sum G[t, tau] by a position's label: one accumulator per label.

    ``tokens`` (T, S): S independent streams (segments), each from its own
    ``initial_state`` (a tuple of (S, H) tensors; default zeros). ``labels``
    (T, S) or (J, T, S) int: J labellings of the positions (e.g. POS class and
    frequency bin), each position's label in ``[0, n_labels)`` or -1 (not
    counted); every labelling adds into the same ``n_labels`` accumulators, so
    give them disjoint ranges. ``by="target"``: G[t, tau] goes to the label of
    the target t; ``by="source"``: to the label of the input t - tau whose
    embedding is differentiated (Verwimp et al.'s averages over a word or a
    POS class: how that input is remembered tau steps later). Either way
    G[t, tau] is counted for tau <= t (its source exists in the stream) and
    t < T (its target does).

    Cost and memory. Each position adds its (D, E, H) tangents into one
    accumulator per labelling (a scatter, not a product over groups), so the
    sums take ``n_labels * D * E * H`` numbers of ``dtype`` and nothing grows
    with the number of positions; the streams run ``batch`` at a time. A
    stream is only swept where a target lies within the next D positions,
    so sparse targets (a few words) cost their windows, not the whole stream.
    """
    _check_method(method)
    if by not in ("target", "source"):
        raise ValueError(f"by={by!r}; options are ['source', 'target']")
    labels = labels[None] if labels.dim() == 2 else labels
    if labels.shape[1:] != tokens.shape:
        raise ValueError(f"labels {tuple(labels.shape)}; tokens {tuple(tokens.shape)}")
    if labels.numel() and (labels.max() >= n_labels or labels.min() < -1):
        raise ValueError(f"labels must lie in [-1, {n_labels}); got "
                         f"[{labels.min().item()}, {labels.max().item()}]")  # fmt: skip
    view = analysis_view(model)
    k_state = view.state_index(state)
    n_steps, n_streams = tokens.shape
    first = view.init_state(1)
    hidden = first[k_state].shape[-1]
    n_in = view.embed(tokens[:1, :1]).shape[-1]
    acc = _LabelAccumulator(n_labels, max_delay, n_in, hidden, dtype)
    active = _active(labels, max_delay, by)
    # by source, delay tau of step t reads the label of t - tau: pad D - 1
    # unlabelled positions before the stream so every window is full
    pad = max_delay - 1 if by == "source" else 0
    labels = torch.cat([labels.new_full((len(labels), pad, n_streams), -1), labels], 1)
    for lo in range(0, n_streams, batch):
        sl = slice(lo, min(lo + batch, n_streams))
        if not active[:, sl].any():
            continue
        xs = view.embed(tokens[:, sl]).detach()
        s = view.init_state(xs.shape[1]) if initial_state is None else tuple(
            v[sl] for v in initial_state)  # fmt: skip
        lab = labels[:, :, sl]

        def accumulate(t, d_out, lab=lab):
            if by == "target":
                acc.add(lab[:, t], t, d_out[k_state])
            else:  # (J, D, S'): the labels of sources t, t - 1, ..., t - D + 1
                acc.add_sources(lab[:, t : t + max_delay].flip(1), d_out[k_state])

        _sweep(view, xs, s, accumulate, max_delay=max_delay, method=method,
               active=active[:, sl], progress=progress)  # fmt: skip
    names = tuple(str(k) for k in range(n_labels)) if names is None else names
    return acc.result(tuple(names))


def _active(labels, max_delay, by="target"):
    """(T, S) bool: where the sweep must run. By target: a labelled target
    lies in [t, t + D - 1] (t is one of its sources); by source: a labelled
    source lies in [t - D + 1, t] (t is one of its targets)."""
    marked = (labels >= 0).any(0).to(torch.long)  # (T, S)
    n_steps = marked.shape[0]
    c = torch.cat([marked.new_zeros(1, marked.shape[1]), marked.cumsum(0)])
    steps = torch.arange(n_steps)
    if by == "target":
        lo, hi = steps, (steps + max_delay).clamp(max=n_steps)
    else:
        lo, hi = (steps - max_delay + 1).clamp(min=0), steps + 1
    return (c[hi] - c[lo]) > 0


class _Weights:
    """Which (delay, stream) pairs of step t count for each group: (K, D, B)."""

    def __init__(self, masks, max_delay, by, targets=None):
        k, n_steps, b = masks.shape
        self.by, self.max_delay = by, max_delay
        # pad D-1 nonexistent sources before the stream so every window is full
        self.masks = torch.cat([masks.new_zeros(k, max_delay - 1, b), masks], 1)
        self.delays = torch.arange(max_delay)
        if targets is None:
            targets = torch.ones(n_steps, b)
        if targets.shape != (n_steps, b):
            raise ValueError(f"targets {tuple(targets.shape)}; expected {(n_steps, b)}")
        self.targets = targets.to(masks.dtype)  # (T, B)

    def at(self, t):
        d = self.max_delay
        if self.by == "source":  # delay tau reads source t - tau
            w = self.masks[:, t : t + d].flip(1)
        else:
            valid = (self.delays <= t).to(self.masks.dtype)  # (D,) existing sources
            w = self.masks[:, t + d - 1][:, None, :] * valid[None, :, None]
        return w * self.targets[t]  # (K, D, B)


class _Accumulator:
    """Sums of G per (group, delay): float32 partial sums flushed into float64."""

    def __init__(self, n_groups, max_delay, n_in, hidden, dtype, flush_every=256):
        self.shape = (n_groups, max_delay, n_in, hidden)
        self.part = torch.zeros(max_delay, n_groups, n_in * hidden, dtype=dtype)
        self.total = torch.zeros(self.shape, dtype=torch.float64)
        self.counts = torch.zeros(n_groups, max_delay, dtype=torch.float64)
        self.flush_every, self.pending = flush_every, 0

    def add(self, w, d_s):
        """w (K, D, B) weights; d_s (B, D*E, H) tangents ordered by delay."""
        if not w.any():
            return
        batch, delays = d_s.shape[0], w.shape[1]
        g = d_s.reshape(batch, delays, -1).transpose(0, 1)  # (D, B, E*H)
        self.part.baddbmm_(w.permute(1, 0, 2), g)  # (D, K, E*H)
        self.counts += w.sum(-1).double()
        self.pending += 1
        if self.pending >= self.flush_every:
            self.flush()

    def flush(self):
        self.total += self.part.transpose(0, 1).reshape(self.shape).double()
        self.part.zero_()
        self.pending = 0

    def result(self, names) -> GradientSums:
        self.flush()
        sums = self.total.transpose(-1, -2).contiguous()  # (K, D, H, E)
        return GradientSums(sums, self.counts, names)


class _LabelAccumulator:
    """Sums of G per label: (K, D*E*H) in ``dtype``, scattered into by label."""

    def __init__(self, n_labels, max_delay, n_in, hidden, dtype):
        self.shape = (n_labels, max_delay, n_in, hidden)
        self.sums = torch.zeros(n_labels, max_delay * n_in * hidden, dtype=dtype)
        self.counts = torch.zeros(n_labels, max_delay, dtype=torch.float64)
        self.delays = torch.arange(max_delay)

    @property
    def nbytes(self) -> int:
        return self.sums.element_size() * self.sums.nelement()

    def add(self, labels_t, t, d_s):
        """labels_t (J, B); d_s (B, D*E, H) tangents ordered by delay."""
        valid = (self.delays <= t).to(torch.float64)  # sources that exist
        flat = None
        for lab in labels_t:
            sel = (lab >= 0).nonzero().squeeze(1)
            if not len(sel):
                continue
            flat = d_s.reshape(d_s.shape[0], -1) if flat is None else flat
            rows = flat if len(sel) == len(lab) else flat[sel]  # no copy if all
            self.sums.index_add_(0, lab[sel], rows.to(self.sums.dtype))
            self.counts.index_add_(0, lab[sel], valid.expand(len(sel), -1))

    def add_sources(self, labels_src, d_s):
        """labels_src (J, D, B): the label of the source of each delay and
        stream; d_s (B, D*E, H) tangents ordered by delay. Each (delay,
        stream) row goes to its source's label at that delay."""
        n_delays = self.shape[1]
        per_delay = self.sums.view(-1, self.sums.shape[1] // n_delays)  # (K*D, E*H)
        flat = None
        for lab in labels_src:
            tau, b = (lab >= 0).nonzero(as_tuple=True)
            if not len(tau):
                continue
            if flat is None:
                flat = d_s.reshape(d_s.shape[0], n_delays, -1)  # (B, D, E*H)
            rows = lab[tau, b] * n_delays + tau
            per_delay.index_add_(0, rows, flat[b, tau].to(self.sums.dtype))
            self.counts.view(-1).index_add_(
                0, rows, torch.ones(len(rows), dtype=torch.float64)
            )

    def result(self, names) -> GradientSums:
        if len(names) != self.shape[0]:
            raise ValueError(f"{len(names)} names for {self.shape[0]} labels")
        sums = self.sums.view(self.shape).transpose(-1, -2)  # (K, D, H, E), no copy
        return GradientSums(sums, self.counts, names)


def naive_state_gradients(
    model,
    tokens: torch.Tensor,
    target: int,
    *,
    state: str = "c",
    max_delay: int = 50,
    fused: bool = False,
) -> torch.Tensor:
    """G[target, tau] for stream 0, one backward pass per state unit (D, H, E).

    The paper's public code does this (one ``tf.gradients`` call per unit and
    target position); kept as the reference for tests and the benchmark.
    ``fused=False`` steps through the model's Python cell (``model.step``);
    ``fused=True`` runs the same per-unit method through the fused layer
    (``model.rnn``, e.g. ``nn.LSTM``), whose forward and backward are not
    Python loops: the faster of the two naive baselines.
    """
    first = max(0, target - max_delay + 1)
    with torch.no_grad():
        s = model.init_state(1)
        xs = model.embed(tokens[:, :1]).detach()  # (T, 1, E)
        for x_t in xs[:first]:
            s = model.step(x_t, s)
    window = xs[first : target + 1].clone().requires_grad_(True)  # (W, 1, E)
    s_t = (_fused_window if fused else _stepped_window)(model, window, s)
    s_t = s_t[model.state_index(state)][0]  # (H,)
    out = torch.zeros(max_delay, s_t.shape[0], xs.shape[-1], dtype=xs.dtype)
    for k in range(s_t.shape[0]):
        (grad,) = torch.autograd.grad(s_t[k], window, retain_graph=True)  # (W, 1, E)
        out[: len(window), k] = grad[:, 0].flip(0)  # delay tau = target - position
    return out


def _stepped_window(model, window, s):
    for x_t in window:
        s = model.step(x_t, s)
    return s


def _fused_window(model, window, s):
    """The last state after ``window`` (W, 1, E) through the fused layer; nn.LSTM
    returns (h, c) as ``model.step`` does, the others h alone."""
    packed = tuple(v.unsqueeze(0) for v in s)  # (1, 1, H) each
    _, last = model.rnn(window, packed if len(packed) > 1 else packed[0])
    last = last if isinstance(last, tuple) else (last,)
    return tuple(v.squeeze(0) for v in last)


# ---------------------------------------------------------------------------
# Normalisation (section 4.1) and SVD summaries (section 3)
# ---------------------------------------------------------------------------


def embedding_cholesky(embedding: torch.Tensor) -> torch.Tensor:
    """D with cov = D D^T, cov the covariance of the mean-centred embeddings (eq. 6-7).

    ``embedding`` (V, E). Z = D^-1 whitens: Z (e - mean) has identity covariance.
    """
    e = torch.as_tensor(embedding).detach().double()
    e = e - e.mean(0, keepdim=True)
    cov = e.T @ e / e.shape[0]
    return torch.linalg.cholesky(cov)


def normalise(g: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """G_norm = G D (eq. 10), for any leading dimensions of G (..., H, E)."""
    return g.double() @ torch.as_tensor(chol).detach().double()


def projector(basis: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Orthogonal projector (H, H) onto the span of the columns of ``basis`` (H, k)."""
    q, _ = torch.linalg.qr(torch.as_tensor(basis, dtype=torch.float64))
    return q @ q.T


def svd_summaries(
    g: torch.Tensor, subspace=None, complement=None
) -> dict[str, torch.Tensor]:
    """Per-matrix statistics of G (..., H, E): sigma_1 (memory), sigma_1 / sum
    (selectiveness), sum of singular values; with ``subspace`` (H, k), also the
    sum of singular values of P G and of the complement's share of G: (I - P) G
    by default, or Q Q^T G for a given ``complement`` basis Q (H, H - k), e.g.
    the complement consistent with LDA (:meth:`LDAProbe.id_subspace`)."""
    g = g.double()
    sv = torch.linalg.svdvals(g)  # (..., min(H, E)) descending
    total = sv.sum(-1)
    out = {
        "sigma_1": sv[..., 0],
        "selectiveness": sv[..., 0] / total.clamp(min=1e-300),
        "sum_sigma": total,
    }
    if subspace is not None:
        p = projector(subspace)
        q = torch.eye(p.shape[0], dtype=p.dtype) - p
        q = q if complement is None else projector(complement)
        out["sum_sigma_subspace"] = torch.linalg.svdvals(p @ g).sum(-1)
        out["sum_sigma_complement"] = torch.linalg.svdvals(q @ g).sum(-1)
    return out


def summary_table(
    sums: GradientSums, *, chol=None, subspace=None, complement=None
) -> pd.DataFrame:
    """Tidy table (delay, statistic, value, group) of the averaged gradients."""
    g = sums.mean()
    g = normalise(g, chol) if chol is not None else g
    stats = svd_summaries(g, subspace, complement)
    rows = []
    for name, values in stats.items():
        for k, group in enumerate(sums.groups):
            for tau, v in enumerate(values[k].tolist()):
                rows.append((tau, name, v, group))
    return pd.DataFrame(rows, columns=["delay", "statistic", "value", "group"])
