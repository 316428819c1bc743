"""Connectivity by ONE reverse sweep through the cells, batched over outputs.

The map ``C[t, s]`` needs, for every output position ``t``, the gradient of
one logit with respect to every earlier input. Reverse mode computes it one
``t`` at a time (the post: T backward passes, each a matrix-VECTOR product
per step). Here the output position is the batch dimension of a single
backward sweep: going back in time from the last step, the cotangents of all
outputs ``t >= s`` still alive at step ``s`` are one ``(m_s, H)`` matrix,
``m_s = T - s``; the output ``t = s`` joins at step ``s`` as the decoder row
of its class. So the sweep covers exactly the ``T (T + 1) / 2`` pairs
``s <= t`` (the per-position loop's work, none more) in matrix-MATRIX
products, without autograd or vmap: the step's backward equations below are
written out from the cell library's step functions
(:mod:`rnnmem_utils.models.cells`), whose forward this module calls at batch
one to get the states; every elementwise derivative is a batch-one vector
computed for all steps at once before the sweep.

Per layer, per step the recurrent product ``dA @ W_h^T`` is the only
sequential work. The input products are deferred: each step writes its
pre-activation cotangents ``dA`` (``(m_s, G H)``) into one packed buffer of
all steps, and after the layer's sweep ONE product ``dA @ W_x^T`` gives the
next layer down its injected cotangents. At the bottom the embedding is
folded into that product: the gradient with respect to the one-hot input is
``dA (E W_x)^T`` (``(G H, V_in)``, 28 columns for the post's characters)
instead of ``dA W_x^T E^T``.

Cells: the cell library's ``GRUCell`` (torch and TF form), ``LSTMCell``
(any ``forget_bias``, one or two biases), ``NestedLSTMCell`` and
``RNNCell`` with tanh, all with the logistic gate, in 2-D (one model);
anything else returns ``None`` from :func:`plan` and the caller falls back to
autograd. :func:`cells_of` finds a model's cells (``layer_cells()``, fused
``nn.GRU/LSTM/RNN`` copied into cells, or a list of cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models import cells as cl


# ---------------------------------------------------------------------------
# Finding the cells
# ---------------------------------------------------------------------------
def cells_of(model) -> list | None:
    """The model's recurrent layers as cell-library cells, bottom first, or
    None: ``model.layer_cells()``; a fused ``nn.GRU/LSTM/RNN`` (attribute
    ``rnn``), copied; or a list of cells (``rnn``, ``cells`` or ``layers``).
    The caller checks that they reproduce the model's ``features``."""
    fn = getattr(model, "layer_cells", None)
    if callable(fn):
        return list(fn())
    for name in ("rnn", "cells", "layers"):
        mod = getattr(model, name, None)
        if isinstance(mod, (nn.GRU, nn.LSTM, nn.RNN)):
            return _from_fused(mod)
        if isinstance(mod, (list, tuple, nn.ModuleList)) and len(mod):
            if all(isinstance(c, cl.Cell) for c in mod):
                return list(mod)
    return None


def _from_fused(rnn) -> list | None:
    if rnn.bidirectional or getattr(rnn, "proj_size", 0) or not rnn.bias:
        return None
    if isinstance(rnn, nn.RNN) and rnn.nonlinearity != "tanh":
        return None
    out = []
    for layer in range(rnn.num_layers):
        size = rnn.input_size if layer == 0 else rnn.hidden_size
        if isinstance(rnn, nn.LSTM):
            cell = cl.LSTMCell(size, rnn.hidden_size)
        elif isinstance(rnn, nn.GRU):
            cell = cl.GRUCell(size, rnn.hidden_size, form="torch")
        else:
            cell = cl.RNNCell(size, rnn.hidden_size)
        out.append(cell.to(rnn.weight_hh_l0).load_torch(rnn, f"_l{layer}"))
    return out


def _kind(cell) -> str | None:
    """The backward this module has for ``cell``, or None."""
    if cell.W_h.dim() != 2:
        return None
    if isinstance(cell, cl.RNNCell):
        return "rnn" if cell.act is torch.tanh else None
    if getattr(cell, "gate", None) is not torch.sigmoid:
        return None
    if isinstance(cell, cl.NestedLSTMCell):
        return "nlstm"
    if isinstance(cell, cl.LSTMCell):
        return "lstm"
    if isinstance(cell, cl.GRUCell):
        return "gru_" + cell.form
    return None


# ---------------------------------------------------------------------------
# Forward at batch one: the states (the cell library's steps), then every
# elementwise derivative the sweep needs, for all steps at once
# ---------------------------------------------------------------------------
@dataclass
class Layer:
    """One layer ready for the sweep: its kind, ``W_x`` and ``W_h`` transposed
    (contiguous), the per-step factors ``f`` (each ``(T, H)`` or
    ``(T, k, H)``) and its number of carried states."""

    kind: str
    w_xT: Tensor  # (G H, in)
    w_hT: Tensor  # (G H, H)
    f: dict
    n_states: int
    width: int  # G H
    w_x: Tensor  # (in, G H), for the folded bottom product
    extra: Tensor | None = None  # the Nested LSTM's [W~_x^T | W~_h^T]


def _run(cell, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """``x (T, in)`` through ``cell.step`` at batch one: ``gx (T, G H)`` and
    each state after each step, ``(T, H)``."""
    gx = cell.project(x[:, None])
    state, out = cell.init_state(1), []
    for g in gx.unbind(0):
        state = cell.step(g, state)
        out.append(state)
    return gx[:, 0], [torch.cat([s[k] for s in out]) for k in range(len(state))]


def _prev(v: Tensor) -> Tensor:
    """The state before each step (zero before the first)."""
    return torch.cat([torch.zeros_like(v[:1]), v[:-1]])


def _dsig(y: Tensor) -> Tensor:
    return y * (1 - y)


def prepare(cell, x: Tensor) -> tuple[Tensor, Layer]:
    """Run ``cell`` over ``x (T, in)``; its hidden states ``(T, H)`` and the
    :class:`Layer` the sweep needs."""
    kind = _kind(cell)
    gx, states = _run(cell, x)
    h, hp = states[0], _prev(states[0])
    H = cell.hidden_size
    f = _FACTORS[kind](cell, gx, states, hp, H)
    extra = None
    if kind == "nlstm":
        extra = torch.cat([cell.W_ix.T, cell.W_ih.T], 1).contiguous()  # (4H, 2H)
    w_x = cell.W_x.detach()
    layer = Layer(kind, w_x.T.contiguous(), cell.W_h.detach().T.contiguous(),
                  {k: v.detach() for k, v in f.items()}, len(states), w_x.shape[1],
                  w_x, None if extra is None else extra.detach())  # fmt: skip
    return h.detach(), layer


def _f_rnn(cell, gx, states, hp, H):
    return {"a": 1 - states[0] ** 2}


def _f_gru_tf(cell, gx, states, hp, H):
    w_rz, w_n = cell.W_h[:, : 2 * H], cell.W_h[:, 2 * H :]
    r, z = torch.sigmoid(gx[:, : 2 * H] + hp @ w_rz).chunk(2, -1)
    n = torch.tanh(gx[:, 2 * H :] + (r * hp) @ w_n)
    return {
        "n": (1 - z) * (1 - n**2),  # G -> dA_n
        "r": hp * _dsig(r),  # d(r h) -> dA_r
        "z": (hp - n) * _dsig(z),  # G -> dA_z
        "keep": z,  # G -> dh_prev (direct)
        "rh": r,  # d(r h) -> dh_prev
        "w_nT": w_n.T.contiguous(),
        "w_rzT": w_rz.T.contiguous(),
    }


def _f_gru_torch(cell, gx, states, hp, H):
    gh = hp @ cell.W_h + (cell.b_h if cell.b_h is not None else 0)
    r, z = torch.sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H]).chunk(2, -1)
    n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
    a = (1 - z) * (1 - n**2)
    ar = a * gh[:, 2 * H :] * _dsig(r)
    az = (hp - n) * _dsig(z)
    # G times these: the cotangents of gx (r, z, n) and of gh (r, z, n)
    return {"x": torch.stack([ar, az, a], 1), "h": torch.stack([ar, az, a * r], 1),
            "keep": z}  # fmt: skip


def _lstm_gates(pre, H, forget_bias):
    i, f, g, o = pre.chunk(4, -1)
    return (
        torch.sigmoid(i),
        torch.sigmoid(f + forget_bias),
        torch.tanh(g),
        torch.sigmoid(o),
    )


def _f_lstm(cell, gx, states, hp, H):
    c, cp = states[1], _prev(states[1])
    pre = gx + hp @ cell.W_h + (cell.b_h if cell.b_h is not None else 0)
    i, f, g, o = _lstm_gates(pre, H, cell.forget_bias)
    tc = torch.tanh(c)
    return {
        "o": tc * _dsig(o),  # dh -> dA_o
        "c": o * (1 - tc**2),  # dh -> dc
        "ifg": torch.stack([g * _dsig(i), cp * _dsig(f), i * (1 - g**2)], 1),
        "f": f,  # dc -> dc_prev
    }


def _f_nlstm(cell, gx, states, hp, H):
    c, ci = states[1], states[2]
    cp, cip = _prev(c), _prev(ci)
    a = gx + hp @ cell.W_h
    i, f, z, o = a.chunk(4, -1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f + cell.forget_bias), torch.sigmoid(o)
    b = cell.b_i + (i * z) @ cell.W_ix + (f * cp) @ cell.W_ih
    ii, fi, gi, oi = _lstm_gates(b, H, cell.forget_bias)
    tc, tci = torch.tanh(c), torch.tanh(ci)
    return {
        "o": tc * _dsig(o),  # dh -> dA_o
        "c": o * (1 - tc**2),  # dh -> dc
        "io": tci * _dsig(oi),  # dc -> dB_o (inner)
        "ci": oi * (1 - tci**2),  # dc -> dc~
        "ifg": torch.stack([gi * _dsig(ii), cip * _dsig(fi), ii * (1 - gi**2)], 1),
        "fi": fi,  # dc~ -> dc~_prev
        "iz": torch.stack([z * _dsig(i), i], 1),  # dx~ -> dA_i, dA_z
        "f_": cp * _dsig(f),  # dh~ -> dA_f
        "f": f,  # dh~ -> dc_prev
    }


_FACTORS = {"rnn": _f_rnn, "gru_tf": _f_gru_tf, "gru_torch": _f_gru_torch,
            "lstm": _f_lstm, "nlstm": _f_nlstm}  # fmt: skip


# ---------------------------------------------------------------------------
# One step back, batched: cotangents of the states after step s (m, H) ->
# those before it, and the pre-activation cotangents written into `out`
# ---------------------------------------------------------------------------
def _b_rnn(L, s, cot, out):
    torch.mul(cot[0], L.f["a"][s], out=out)
    return (out @ L.w_hT,)


def _b_gru_tf(L, s, cot, out):
    f, (g,), H = L.f, cot, cot[0].shape[1]
    dn = torch.mul(g, f["n"][s], out=out[:, 2 * H :])
    drh = dn @ f["w_nT"]
    torch.mul(drh, f["r"][s], out=out[:, :H])
    torch.mul(g, f["z"][s], out=out[:, H : 2 * H])
    direct = torch.addcmul(g * f["keep"][s], drh, f["rh"][s])
    return (torch.addmm(direct, out[:, : 2 * H], f["w_rzT"]),)


def _b_gru_torch(L, s, cot, out):
    (g,) = cot
    m, H = g.shape
    dgh = g[:, None] * L.f["h"][s]  # (m, 3, H)
    torch.mul(g[:, None], L.f["x"][s], out=out.view(m, 3, H))
    return (torch.addmm(g * L.f["keep"][s], dgh.view(m, 3 * H), L.w_hT),)


def _b_lstm(L, s, cot, out):
    (gh, gc), f = cot, L.f
    m, H = gh.shape
    torch.mul(gh, f["o"][s], out=out[:, 3 * H :])
    dc = torch.addcmul(gc, gh, f["c"][s])
    torch.mul(dc[:, None], f["ifg"][s], out=out[:, : 3 * H].view(m, 3, H))
    return out @ L.w_hT, dc * f["f"][s]


def _b_nlstm(L, s, cot, out):
    (gh, gc, gci), f = cot, L.f
    m, H = gh.shape
    inner = out.new_empty(m, 4 * H)
    torch.mul(gh, f["o"][s], out=out[:, 3 * H :])
    dc = torch.addcmul(gc, gh, f["c"][s])
    torch.mul(dc, f["io"][s], out=inner[:, 3 * H :])
    dci = torch.addcmul(gci, dc, f["ci"][s])
    torch.mul(dci[:, None], f["ifg"][s], out=inner[:, : 3 * H].view(m, 3, H))
    dxh = inner @ L.extra  # (m, 2H): the inner input's and inner hidden's
    dx, dhi = dxh[:, :H], dxh[:, H:]
    torch.mul(dx[:, None], f["iz"][s], out=out.view(m, 4, H)[:, 0::2])
    torch.mul(dhi, f["f_"][s], out=out[:, H : 2 * H])
    return out @ L.w_hT, dhi * f["f"][s], dci * f["fi"][s]


_BACK = {"rnn": _b_rnn, "gru_tf": _b_gru_tf, "gru_torch": _b_gru_torch,
         "lstm": _b_lstm, "nlstm": _b_nlstm}  # fmt: skip


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------
def plan(cells, x: Tensor) -> tuple[Tensor, list[Layer]] | None:
    """Forward ``x (T, D)`` (batch one) through ``cells``: the top hidden
    states ``(T, H)`` and each layer's :class:`Layer`; None if a cell has no
    backward here."""
    if not cells or any(_kind(c) is None for c in cells):
        return None
    layers = []
    with torch.no_grad():
        for cell in cells:
            x, layer = prepare(cell, x)
            layers.append(layer)
    return x, layers


def layout(a: int, b: int) -> tuple[list[int], list[int], Tensor, Tensor]:
    """Outputs ``[a, b)``: the live rows ``m_s = b - max(a, s)`` at each step
    ``s < b``, each step's offset in the packed buffer (steps stored from
    ``b - 1`` down), and each packed row's output ``t`` and input ``s``. Row
    ``r`` of step ``s`` carries output ``t = b - 1 - r``."""
    m = [b - max(a, s) for s in range(b)]
    off, total = [0] * b, 0
    for s in range(b - 1, -1, -1):
        off[s], total = total, total + m[s]
    steps = torch.arange(b - 1, -1, -1)
    sizes = torch.tensor([m[s] for s in steps.tolist()])
    s_idx = torch.repeat_interleave(steps, sizes)
    starts = torch.repeat_interleave(
        torch.tensor([off[s] for s in steps.tolist()]), sizes
    )
    t_idx = b - 1 - (torch.arange(total) - starts)
    return m, off, t_idx, s_idx


def sweep(layers: list[Layer], onehot: Tensor, dec_w: Tensor, classes: Tensor,
          a: int, b: int) -> Tensor:  # fmt: skip
    """Squared norms of the one-hot input gradients of outputs ``[a, b)``
    (logit ``classes[t - a]`` at ``t``) at inputs ``s < b``: ``(b - a, b)``.

    ``onehot``: the bottom layer's ``W_x`` folded with the embedding,
    ``(E W_x)^T`` ``(G H, V_in)``; ``dec_w`` the decoder's weight ``(V, H)``."""
    m, off, t_idx, s_idx = layout(a, b)
    rows = dec_w[classes]  # (n, H): output t's cotangent on the top h at t
    inj = None
    for level in range(len(layers) - 1, -1, -1):
        L = layers[level]
        packed = rows.new_empty(len(t_idx), L.width)
        H = L.w_hT.shape[1]
        cot = tuple(rows.new_zeros(0, H) for _ in range(L.n_states))
        for s in range(b - 1, -1, -1):
            cot = _grow(cot, m[s])
            g = cot[0]
            if inj is not None:
                g = g + inj[off[s] : off[s] + m[s]]
            elif s >= a:  # the top layer: output s joins as row m_s - 1
                g = g.index_copy(0, torch.tensor([m[s] - 1]), rows[s - a][None])
            cot = _BACK[L.kind](L, s, (g, *cot[1:]), packed[off[s] : off[s] + m[s]])
        inj = packed @ (L.w_xT if level else onehot)
    return _scatter(inj.square().sum(-1), t_idx - a, s_idx, b - a, b)


def _grow(cot: tuple, m: int) -> tuple:
    """Add zero rows for the outputs that join at this step."""
    have = cot[0].shape[0]
    if have == m:
        return cot
    return tuple(torch.nn.functional.pad(c, (0, 0, 0, m - have)) for c in cot)


def _scatter(values, rows, cols, n, b) -> Tensor:
    out = values.new_zeros(n, b)
    out[rows, cols] = values
    return out


def rows_budget(width: int, T: int, budget: int = 2**26) -> int:
    """Output positions per sweep so that the packed buffer (about
    ``n T`` rows of ``width``) stays under ``budget`` numbers."""
    return max(1, min(T, budget // max(1, width * T)))
