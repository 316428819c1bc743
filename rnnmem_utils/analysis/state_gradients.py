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

Every model exposing ``embed``, ``step``, ``init_state`` and ``state_index``
(see :class:`rnnmem_utils.models.lm.RecurrentLM`) works; typical use::

    sums = state_gradient_sums(model, tokens, {"all": mask}, state="c")
    table = summary_table(sums, chol=embedding_cholesky(model.embedding.weight))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.func import jvp, vmap
from tqdm.auto import tqdm


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


def _step(model, x_t, state, d_in, d_out):
    """One step: new state, state tangents pushed from ``d_in`` into ``d_out``
    (each (B, N, H)), and the input tangents d s_t / d x_t (each (B, E, H)).

    Uses the model's hand-written ``step_tangent`` when it has one, else
    ``torch.func.jvp`` of ``model.step``, vmapped over tangents.
    """
    fast = getattr(model, "step_tangent", None)
    out = fast(x_t, state, d_in, d_out) if fast is not None else None
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

    Layout: the tangents of the D most recent sources are kept ordered by
    delay, ``(B, D*E, H)``; each step reads delays 0..D-2 from one buffer and
    writes them as delays 1..D-1 into the other (ping-pong), and the new
    source x_t enters at delay 0, so no copy or gather is needed.
    """
    if by not in ("target", "source"):
        raise ValueError(f"by={by!r}; options are ['source', 'target']")
    names = tuple(groups)
    xs = model.embed(tokens).detach()  # (T, B, E)
    dtype = xs.dtype
    masks = torch.stack([groups[n] for n in names]).to(dtype)  # (K, T, B)
    weights = _Weights(masks, max_delay, by, targets)
    n_steps, batch, n_in = xs.shape
    k_state = model.state_index(state)
    s = model.init_state(batch) if initial_state is None else initial_state
    width = max_delay * n_in
    bufs = [
        tuple(torch.zeros(batch, width, v.shape[-1], dtype=dtype) for v in s)
        for _ in range(2)
    ]
    acc = _Accumulator(len(names), max_delay, n_in, s[k_state].shape[-1], dtype)
    with torch.no_grad():
        for t in tqdm(range(n_steps), disable=not progress, desc="state gradients"):
            d_in, d_out = bufs[t % 2], bufs[(t + 1) % 2]
            s, new = _step(
                model,
                xs[t],
                s,
                tuple(d[:, : width - n_in] for d in d_in),
                tuple(d[:, n_in:] for d in d_out),
            )
            for d, d_new in zip(d_out, new, strict=True):
                d[:, :n_in] = d_new
            if t >= first_target:
                acc.add(weights.at(t), d_out[k_state])
    return acc.result(names)


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
    e = embedding.double()
    e = e - e.mean(0, keepdim=True)
    cov = e.T @ e / e.shape[0]
    return torch.linalg.cholesky(cov)


def normalise(g: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """G_norm = G D (eq. 10), for any leading dimensions of G (..., H, E)."""
    return g.double() @ chol.double()


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
