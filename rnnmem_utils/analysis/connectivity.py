"""Input-output connectivity of a character model (Madsen 2019, Distill,
"Visualizing memorization in RNNs"), computed for a whole sequence at once.

Definition (the post's code, ``python/operator/connectivity``). For output
position ``t`` with class ``y_t`` (the target word, or any class asked for),
take the gradient of the logit ``z_t[y_t]`` with respect to the ONE-HOT input
``o_s`` of every input position ``s``. The one-hot vector is not in the graph
(the model looks rows of ``E`` up), so the chain rule is finished by hand::

    d z_t[y_t] / d o_s  =  E  (d z_t[y_t] / d e_s)        (V_in,)

where ``e_s = E[token_s]`` is the embedding vector fed at ``s`` and ``E``
(V_in, D) the embedding matrix: the gradient with respect to the embedding
output, multiplied by ``E^T`` on the right (``grad_e @ E.T``). That vector is
reduced to one number per (t, s):

- ``norm="squared"``: its squared L2 norm, as the post's code does
  (``reduce_sum(full_gradient ** 2)``) and so as its published figures show;
- ``norm="l2"``: its L2 norm, the article's formula.

Each row (output position) is then divided by its maximum, as the post's page
does before colouring. Entries with ``s > t`` are zero for a causal model.

How it is computed. The post runs one backward pass per output position (T
passes, each over the whole sequence, at batch one: matrix-VECTOR products).
Here (``method="auto"``, the default) a model whose recurrent layers are
cells this package knows (:func:`connectivity_sweep.cells_of`: the cell
library's GRU, LSTM, Nested LSTM and tanh RNN, or fused ``nn.GRU/LSTM/RNN``
read through them) gets ONE reverse sweep through time with the output
positions as the batch (:mod:`.connectivity_sweep`: hand-written batched
backward steps, no autograd): the same ``T (T + 1) / 2`` position pairs as
the per-position loop, in matrix-MATRIX products. The cells are checked to
reproduce the model's ``features`` before they are trusted.

Otherwise ("vjp") output positions are taken in chunks ``[a, b)``; for each,
one forward pass over the first ``b`` inputs at batch one and ONE autograd
backward pass batched over the chunk's ``n = b - a`` cotangents
(``is_grads_batched``, i.e. vmap): cotangent ``j`` is the decoder row of class
``y_{a+j}`` at time ``a + j``. Only the selected logits' gradients are formed,
never the ``(T, n, V)`` logits (16,386 classes in the post).
``method="replicas"`` runs forward and backward over a batch of ``n`` copies
of the sequence, copy ``j`` carrying output ``a + j`` (the path for models
exposing only logits). ``benchmarks/connectivity.py`` measures them against
the per-position loop.

The model interface (time-major, like ``torch.nn.RNN``). :func:`adapt`
accepts an :class:`Adapter` or any module with

- ``embedding``: ``nn.Embedding`` (or ``embed`` when that is the
  ``nn.Embedding`` itself): the input symbols' vectors ``E``;
- and either ``features(x) -> h``, ``(T, B, D) -> (T, B, H)``, the top layer's
  hidden states from embedded inputs, plus ``decoder``: ``nn.Linear(H, V)``
  (the fast path), or ``logits_from_embedded(x) -> (T, B, V)``.

A model whose ``batch_first`` attribute is true takes and returns
``(B, T, ...)`` instead. Typical use::

    from rnnmem_utils.analysis import connectivity as conn
    c = conn.connectivity(model, tokens, targets)           # (T, T) numpy
    words = conn.top_k(conn.logits(model, tokens), id_to_word, k=3)

Tokens are the input symbol ids ``(T,)``; ``targets`` the class of each output
position ``(T,)`` (the post: the id of the word the character belongs to), or
one class id for every position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from . import connectivity_sweep as sweep_mod

NORMS = ("squared", "l2")


@dataclass(frozen=True)
class Adapter:
    """What connectivity needs from a model, as plain callables.

    ``weight``: the embedding matrix ``E`` (V_in, D). Give ``features`` and
    ``decoder`` (fast: only the selected logits are formed) or ``logits``.
    All callables are time-major: ``(T, B, D)`` in, ``(T, B, ...)`` out.
    """

    weight: Tensor
    features: Callable[[Tensor], Tensor] | None = None
    decoder: nn.Linear | None = None
    logits: Callable[[Tensor], Tensor] | None = None
    module: nn.Module | None = None  # put in eval mode while computing
    # the recurrent layers as cell-library cells (bottom first), for the
    # sweep; called when needed (copying fused weights costs a little)
    cells: Callable[[], list | None] | None = None

    def __post_init__(self):
        if self.logits is None and (self.features is None or self.decoder is None):
            raise ValueError("an Adapter needs `logits`, or `features` and `decoder`")

    def embed(self, tokens: Tensor) -> Tensor:
        """Token ids (any shape) -> their embedding vectors (..., D)."""
        return self.weight[tokens]

    def all_logits(self, x: Tensor) -> Tensor:
        """``(T, B, D)`` embedded inputs -> ``(T, B, V)`` logits."""
        if self.logits is not None:
            return self.logits(x)
        return self.decoder(self.features(x))

    def selected_logits(self, x: Tensor, rows: Tensor, classes: Tensor) -> Tensor:
        """Logit ``classes[j]`` at time ``rows[j]`` of batch column ``j``: (n,)."""
        cols = torch.arange(len(rows))
        if self.logits is not None:
            return self.logits(x)[rows, cols, classes]
        h = self.features(x)[rows, cols]  # (n, H)
        w, b = self.decoder.weight[classes], self.decoder.bias
        out = (h * w).sum(-1)
        return out if b is None else out + b[classes]


def _embedding_module(model) -> nn.Embedding:
    for name in ("embedding", "embed"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Embedding):
            return module
    raise TypeError(
        f"{type(model).__name__} has no nn.Embedding named `embedding` or `embed`; "
        "wrap it in connectivity.Adapter(weight=E, ...)"
    )


def _time_major(fn: Callable, batch_first: bool) -> Callable:
    if not batch_first:
        return fn
    return lambda x: fn(x.transpose(0, 1)).transpose(0, 1)


def adapt(model) -> Adapter:
    """An :class:`Adapter` for ``model`` (see the module docstring), or
    ``model`` itself if it is one. Raises TypeError naming what is missing."""
    if isinstance(model, Adapter):
        return model
    weight = _embedding_module(model).weight
    bf = bool(getattr(model, "batch_first", False))
    features, decoder = (
        getattr(model, "features", None),
        getattr(model, "decoder", None),
    )
    if callable(features) and isinstance(decoder, nn.Linear):
        return Adapter(weight, _time_major(features, bf), decoder, module=model,
                       cells=lambda: sweep_mod.cells_of(model))  # fmt: skip
    logits_fn = getattr(model, "logits_from_embedded", None)
    if callable(logits_fn):
        return Adapter(weight, logits=_time_major(logits_fn, bf), module=model)
    raise TypeError(
        f"{type(model).__name__} needs `features(x)` and `decoder` (nn.Linear), "
        "or `logits_from_embedded(x)`; see rnnmem_utils.analysis.connectivity"
    )


@contextmanager
def _evaluating(adapter: Adapter):
    """Eval mode (no dropout) while computing; the caller's mode restored."""
    module = adapter.module
    was = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        yield
    finally:
        if module is not None:
            module.train(was)


def _check(tokens, targets, norm: str) -> tuple[Tensor, Tensor]:
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r}; options are {list(NORMS)}")
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    targets = torch.as_tensor(targets, dtype=torch.long)
    if targets.ndim == 0:  # one given class at every position
        targets = targets.expand(tokens.shape)
    if tokens.ndim != 1 or targets.shape != tokens.shape:
        raise ValueError(
            f"tokens and targets must both be (T,); got {tuple(tokens.shape)} "
            f"and {tuple(targets.shape)}"
        )
    if len(tokens) == 0:
        raise ValueError("an empty sequence has no connectivity")
    return tokens, targets


def reduce(grad_e: Tensor, weight: Tensor, norm: str = "squared") -> Tensor:
    """Gradients w.r.t. embedding vectors ``(..., D)`` -> one number each:
    the (squared) L2 norm of the one-hot gradient ``grad_e @ E^T`` (..., V_in)."""
    full = grad_e @ weight.detach().T.to(grad_e.dtype)
    sq = (full * full).sum(-1)
    return sq if norm == "squared" else sq.sqrt()


def normalise_rows(c: Tensor) -> Tensor:
    """Each row divided by its maximum (rows that are all zero stay zero)."""
    peak = c.amax(dim=-1, keepdim=True)
    return c / torch.where(peak > 0, peak, torch.ones_like(peak))


METHODS = ("auto", "sweep", "vjp", "replicas")


def connectivity(
    model,
    tokens,
    targets,
    *,
    norm: str = "squared",
    normalise: bool = True,
    chunk: int | None = None,
    method: str = "auto",
) -> np.ndarray:
    """Connectivity map ``C[t, s]`` (T, T) of one sequence, batched.

    ``tokens`` (T,) input symbol ids; ``targets`` (T,) the class whose logit is
    differentiated at each output position; ``norm`` "squared" (the post's
    code, default) or "l2" (the article); ``normalise`` divides each row by
    its maximum; ``chunk`` output positions share one pass (None: as many as
    a memory budget allows for the sweep, 64 otherwise). ``method``:

    - "sweep": one reverse sweep through the model's cells with the output
      positions as the batch (:mod:`.connectivity_sweep`); needs cells it
      knows (found by ``connectivity_sweep.cells_of``) that reproduce the
      model's ``features``, else ValueError;
    - "vjp": one forward at batch 1, one autograd backward batched over the
      chunk's cotangents;
    - "replicas": forward and backward over a batch of copies (the path for
      models exposing only logits);
    - "auto" (default): "sweep" where it applies, else "vjp", else replicas.

    A model with only ``logits_from_embedded`` always uses replicas, in chunks
    small enough that their logits stay under 2^26 numbers.
    Computed in the dtype of the model's embedding (use float64 to compare).
    """
    ad = adapt(model)
    tokens, targets = _check(tokens, targets, norm)
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if method not in METHODS:
        raise ValueError(f"method {method!r}; options are {list(METHODS)}")
    with _evaluating(ad), torch.enable_grad():
        out = None
        if method in ("auto", "sweep") and ad.logits is None:
            out = _sweep_map(ad, tokens, targets, chunk, strict=method == "sweep")
        elif method == "sweep":
            raise ValueError("method 'sweep' needs `features` and `decoder`")
        if out is None:
            out = _autograd_map(ad, tokens, targets, norm, chunk, method)
        elif norm == "l2":
            out = out.sqrt()
    return (normalise_rows(out) if normalise else out).numpy()


def _autograd_map(ad, tokens, targets, norm, chunk, method) -> Tensor:
    T = len(tokens)
    chunk = chunk or 64
    rows = (
        _vjp_rows if method in ("vjp", "auto") and ad.logits is None else _replica_rows
    )
    if ad.logits is not None:
        chunk = max(1, min(chunk, 2**26 // (T * _n_classes(ad, tokens))))
    out = torch.zeros(T, T, dtype=ad.weight.dtype)
    e = ad.embed(tokens).detach()  # (T, D)
    for a in range(0, T, chunk):
        b = min(a + chunk, T)
        out[a:b, :b] = rows(ad, e[:b], targets[a:b], a, norm)
    return out


# Steps on which the sweep's cells must reproduce the model's features (a wrong
# cell, order or wiring shows at once; the whole sequence would cost a second
# forward pass)
CHECK_STEPS = 16


def _sweep_map(ad, tokens, targets, chunk, *, strict: bool) -> Tensor | None:
    """The squared map by :func:`connectivity_sweep.sweep`, or None (strict:
    ValueError) when the model's cells are unknown or do not reproduce its
    ``features`` on this sequence."""
    found = ad.cells() if ad.cells is not None else None
    e = ad.embed(tokens).detach()
    planned = sweep_mod.plan(found, e) if found else None
    why = "no cells the sweep knows (see connectivity_sweep.cells_of)"
    if planned is not None:
        h, layers = planned
        k = min(len(e), CHECK_STEPS)  # a causal model: the prefix's states suffice
        with torch.no_grad():
            want = ad.features(e[:k, None])[:, 0]
        tol = 1e-9 if want.dtype == torch.float64 else 1e-4
        if torch.allclose(h[:k], want, rtol=tol, atol=tol):
            return _sweep_chunks(ad, layers, tokens, targets, chunk)
        why = "its cells do not reproduce its features"
    if strict:
        raise ValueError(f"method 'sweep': {why}")
    return None


def _sweep_chunks(ad, layers, tokens, targets, chunk) -> Tensor:
    T = len(tokens)
    chunk = chunk or sweep_mod.rows_budget(max(L.width for L in layers), T)
    E = ad.weight.detach()
    onehot = (E @ layers[0].w_x.to(E.dtype)).T.contiguous()  # (G H, V_in)
    dec = ad.decoder.weight.detach()
    out = torch.zeros(T, T, dtype=E.dtype)
    with torch.no_grad():
        for a in range(0, T, chunk):
            b = min(a + chunk, T)
            out[a:b, :b] = sweep_mod.sweep(layers, onehot, dec, targets[a:b], a, b)
    return out


def _n_classes(ad: Adapter, tokens: Tensor) -> int:
    with torch.no_grad():
        return ad.logits(ad.embed(tokens[:1])[:, None]).shape[-1]


def _vjp_rows(ad: Adapter, e: Tensor, classes: Tensor, a: int, norm: str) -> Tensor:
    """Rows ``a .. a+n-1`` from one forward pass over the first ``b = len(e)``
    inputs and one backward pass batched over n cotangents: cotangent j is the
    decoder row of class ``classes[j]`` at time ``a + j``, zero elsewhere (the
    bias does not change a gradient). Returns ``(n, b)``."""
    n = len(classes)
    x = e[:, None].clone().requires_grad_()  # (b, 1, D)
    h = ad.features(x)  # (b, 1, H)
    cot = h.new_zeros(n, *h.shape)  # (n, b, 1, H)
    cot[torch.arange(n), torch.arange(a, a + n), 0] = ad.decoder.weight[classes].to(
        h.dtype
    )
    (grad,) = torch.autograd.grad(h, x, cot, is_grads_batched=True)  # (n, b, 1, D)
    return reduce(grad[:, :, 0], ad.weight, norm).detach()


def _replica_rows(ad: Adapter, e: Tensor, classes: Tensor, a: int, norm: str):
    """Rows ``a .. a+n-1`` from one pass over ``n`` replicas of the first
    ``b = len(e)`` inputs, replica j carrying output ``a + j``; ``(n, b)``."""
    n = len(classes)
    x = e.unsqueeze(1).repeat(1, n, 1).requires_grad_()  # (b, n, D), own leaves
    rows = torch.arange(a, a + n)
    (grad,) = torch.autograd.grad(ad.selected_logits(x, rows, classes).sum(), x)
    return reduce(grad, ad.weight, norm).T.detach()  # (n, b)


def connectivity_per_position(
    model, tokens, targets, *, norm: str = "squared", normalise: bool = True
) -> np.ndarray:
    """The post's method, for reference and benchmarks: one forward pass, then
    one backward pass per output position through the whole sequence."""
    ad = adapt(model)
    tokens, targets = _check(tokens, targets, norm)
    T = len(tokens)
    out = torch.zeros(T, T, dtype=ad.weight.dtype)
    with _evaluating(ad), torch.enable_grad():
        x = ad.embed(tokens).detach()[:, None].requires_grad_()  # (T, 1, D)
        z = ad.all_logits(x)[:, 0]  # (T, V)
        for t in range(T):
            (g,) = torch.autograd.grad(z[t, targets[t]], x, retain_graph=True)
            out[t] = reduce(g[:, 0], ad.weight, norm).detach()
    return (normalise_rows(out) if normalise else out).numpy()


@torch.no_grad()
def logits(model, tokens) -> np.ndarray:
    """The model's logits ``(T, V)`` for one sequence of input ids ``(T,)``."""
    ad = adapt(model)
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    with _evaluating(ad):
        return ad.all_logits(ad.embed(tokens)[:, None])[:, 0].numpy()


def top_k(logits, words: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable words at each position, with their softmax
    probabilities: ``logits`` (T, V) (numpy or torch) and ``words`` the id ->
    word list (len V). Returns ``[[(word, p), ...k], ...T]``, most probable
    first; ties keep the lower id first."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if z.ndim != 2 or z.shape[1] != len(words):
        raise ValueError(
            f"logits must be (T, V) with V = len(words) = {len(words)}; "
            f"got {tuple(z.shape)}"
        )
    if not 1 <= k <= len(words):
        raise ValueError(f"k must be in 1..{len(words)}, got {k}")
    p = torch.softmax(z, dim=-1)
    # a stable descending sort keeps equal probabilities in id order
    order = torch.sort(p, dim=-1, descending=True, stable=True).indices[:, :k]
    return [
        [(words[i], float(p[t, i])) for i in row.tolist()]
        for t, row in enumerate(order)
    ]
