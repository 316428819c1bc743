"""Full and truncated backpropagation through time, clipping, memory and cost.

Seed 003 (lecture notes): BPTT "treats the unrolled RNN as a deep feedforward
graph" and must store every step's activations; truncated BPTT "partitions a
long sequence into chunks, computes forward and backward passes within each
chunk, and transfers the final hidden state to the next chunk while
discarding per-step activations", which "yields multiple gradient estimation
steps over disjoint windows". Two forms live here:

- :func:`window_step` / :func:`tbptt_sequence`: the lecture's form, one
  optimizer step per window of ``k`` steps, the final state passed on
  (detached). :func:`window_flops` counts the arithmetic of one such step.
- :func:`tbptt_update`: the windows' gradients summed ("summed updates
  approximate full BPTT") and applied in one optimizer step per batch, so
  every truncation sees the same number of updates on the same batches (the
  accuracy comparison). At most one window's graph is alive at a time.

``truncation >= T`` is full BPTT.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..data.chars import IGNORE
from ..models.handbuilt import detach_state


def windows(T: int, truncation: int) -> list[slice]:
    """``[0, T)`` cut into consecutive slices of at most ``truncation`` steps."""
    return [slice(s, min(s + truncation, T)) for s in range(0, T, truncation)]


def truncated_forward(step_fn: Callable, x: torch.Tensor, truncation: int, state=None):
    """Run ``step_fn(x_window, state) -> (out, state)`` window by window, detaching the
    state between windows, so no gradient crosses a window boundary. Returns the
    concatenated outputs ``(T, ...)`` (for measuring gradient reach)."""
    outs = []
    for sl in windows(x.shape[0], truncation):
        out, state = step_fn(x[sl], detach_state(state))
        outs.append(out)
    return torch.cat(outs)


def _window_loss(logits: torch.Tensor, y: torch.Tensor, n_valid: int) -> torch.Tensor:
    # Sum over the window divided by the whole batch's valid count: the windows'
    # losses then add up to the batch's mean loss.
    return (
        F.cross_entropy(
            logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum"
        )
        / n_valid
    )


def tbptt_update(
    model,
    optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    truncation: int,
    state=None,
    clip_norm: float | None = None,
):
    """One optimizer step on a batch ``x, y (T, B)`` with truncated BPTT.

    Returns ``(loss, grad_norm, state)``: the batch's mean loss, the gradient norm
    before clipping, and the final state (detached) to carry into the next batch.
    """
    optimizer.zero_grad(set_to_none=True)
    n_valid = max(int((y != IGNORE).sum()), 1)
    total = 0.0
    for sl in windows(x.shape[0], truncation):
        logits, state = model(x[sl], detach_state(state))  # (k, B, n_out)
        loss = _window_loss(logits, y[sl], n_valid)
        if loss.requires_grad:
            loss.backward()
        total += float(loss.detach())
    grad_norm = _grad_norm(model)
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return total, grad_norm, detach_state(state)


def window_step(
    model, optimizer, x: torch.Tensor, y: torch.Tensor, state=None, clip_norm=None
):
    """One gradient step of truncated BPTT on one window ``x, y (k, B)``: forward
    from the carried state (detached: no gradient crosses into the previous
    window), backward within the window, one optimizer step.

    Returns ``(loss, state)``: the window's mean loss (nan if it has no target)
    and its final state, detached, for the next window. A window without targets
    (delayed recall's first steps) only carries the state on.
    """
    optimizer.zero_grad(set_to_none=True)
    logits, state = model(x, detach_state(state))  # (k, B, n_out)
    n_valid = int((y != IGNORE).sum())
    if n_valid == 0:
        return float("nan"), detach_state(state)
    loss = _window_loss(logits, y, n_valid)
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return float(loss.detach()), detach_state(state)


def tbptt_sequence(
    model, optimizer, x: torch.Tensor, y: torch.Tensor, truncation: int, state=None
):
    """The lecture's truncated BPTT over a whole sequence ``x, y (T, B)``: one
    :func:`window_step` per window of ``truncation`` steps, the state passed on.
    Returns ``(losses, state)``, one loss per window."""
    losses = []
    for sl in windows(x.shape[0], truncation):
        loss, state = window_step(model, optimizer, x[sl], y[sl], state)
        losses.append(loss)
    return losses, state


_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}  # weight blocks per recurrent layer


def window_flops(model, k: int, batch_size: int) -> dict:
    """Matrix-product FLOPs (2 per multiply-add) of one gradient step on a window
    of ``k`` steps of a :class:`~rnnmem_utils.models.handbuilt.TokenRNN`.

    Forward, per step and layer: the input and recurrent products ``x W_ih^T``,
    ``h W_hh^T`` (``gates * H`` outputs each), then the readout. Backward: every
    product's gradient with respect to its weight and to its input (twice the
    forward), except the gradient into the window's initial state, which
    truncation cuts (one recurrent product per layer). Elementwise gate
    arithmetic (``O(B H)`` per step, also linear in ``k``) is not counted.
    """
    rnn, B = model.rnn, batch_size
    g, H = _GATES[type(rnn).__name__], rnn.hidden_size
    per_step = 2 * B * H * model.readout.out_features
    cut = 0  # the products into the window's initial state, not computed
    for layer in range(rnn.num_layers):
        d_in = rnn.input_size if layer == 0 else H
        per_step += 2 * B * g * H * (d_in + H)
        cut += 2 * B * g * H * H
    forward = k * per_step
    backward = 2 * forward - cut
    return {"forward": forward, "backward": backward, "total": forward + backward}


def sequence_flops(model, seq_len: int, truncation: int, batch_size: int) -> int:
    """FLOPs of :func:`tbptt_sequence` over ``seq_len`` steps: the windows' sum.
    It barely depends on ``truncation``: only the cut products differ."""
    return sum(
        window_flops(model, sl.stop - sl.start, batch_size)["total"]
        for sl in windows(seq_len, truncation)
    )


def _grad_norm(model) -> float:
    grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


def train(
    model,
    sample: Callable,
    *,
    steps: int,
    lr: float,
    truncation: int,
    clip_norm: float | None = None,
    carry_state: bool = False,
    optimizer: str = "adam",
    progress: bool = False,
) -> list[dict]:
    """Train ``model`` with Adam (or plain SGD: Adam's per-parameter scaling
    hides exploding gradients, so the clipping demo uses SGD) for ``steps`` updates on batches ``sample(step) ->
    (x, y)``; returns one record per step: loss, grad_norm (before clipping),
    seconds. ``carry_state`` passes the final state on to the next batch (a long
    stream cut into consecutive batches, as for the character LM)."""
    from tqdm.auto import tqdm

    opt_cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    opt = opt_cls(model.parameters(), lr=lr)
    state, history = None, []
    for step in tqdm(range(steps), disable=not progress, leave=False):
        x, y = sample(step)
        t0 = time.perf_counter()
        loss, gnorm, state = tbptt_update(
            model, opt, x, y, truncation, state if carry_state else None, clip_norm
        )
        history.append(
            {
                "step": step,
                "loss": loss,
                "grad_norm": gnorm,
                "seconds": time.perf_counter() - t0,
            }
        )
    return history


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of non-ignored targets predicted right (full forward pass)."""
    pred = model(x)[0].argmax(-1)
    valid = y != IGNORE
    return float((pred[valid] == y[valid]).float().mean())


@torch.no_grad()
def sequence_accuracies(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per sequence (column of ``x (T, B)``): fraction of its targets predicted
    right ``(B,)``; the independent repeats for an interval on the accuracy."""
    valid = y != IGNORE
    right = (model(x)[0].argmax(-1) == y) & valid
    return right.sum(0) / valid.sum(0).clamp(min=1)


def saved_bytes(fn: Callable) -> int:
    """Bytes of the distinct tensor storages autograd keeps for the backward pass
    while ``fn(exclude)`` runs: the activation memory BPTT pays for.

    ``fn`` first calls ``exclude(tensors)`` with what any method holds anyway,
    the parameters and the data: a saved view of them (an index tensor sliced
    from a test set, say) would otherwise count the whole storage it views."""
    held: set[int] = set()
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        st = t.untyped_storage()
        if st.data_ptr() not in held:
            seen[st.data_ptr()] = st.nbytes()
        return t

    def exclude(tensors):
        held.update(t.untyped_storage().data_ptr() for t in tensors)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(exclude)
    return sum(seen.values())


def window_memory(model, x: torch.Tensor, y: torch.Tensor, truncation: int) -> int:
    """Activation bytes held at once by truncated BPTT: those of one window's graph
    (the first window; all windows but a shorter last one are alike). The
    window is cut from compact copies of ``x`` and ``y``, so the count does not
    depend on how the caller sliced them (a reshape of a view may copy)."""
    sl = windows(x.shape[0], truncation)[0]
    n_valid = max(int((y != IGNORE).sum()), 1)
    x, y = x[sl].contiguous(), y[sl].contiguous()

    def run(exclude):
        exclude([*model.parameters(), x, y])
        logits, _ = model(x)
        return _window_loss(logits, y, n_valid)

    return saved_bytes(run)


def train_regression(model, sample: Callable, *, steps: int, lr: float) -> list[float]:
    """Adam on the mean squared error of ``model(x)`` against ``y`` for batches
    ``sample(step) -> (x, y)``; returns the loss per step (the repeat detector)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        x, y = sample(step)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
