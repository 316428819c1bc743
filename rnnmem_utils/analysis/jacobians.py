"""Products of Jacobians over time, their singular-value bound, gradient reach.

Seed 003 (lecture notes on RNNs): "the product of Jacobians across steps
determines gradient magnitude"; for a vanilla RNN
``h_t = act(W_hh h_{t-1} + W_xh x_t + b)`` the one-step Jacobian is

    J_t = dh_t/dh_{t-1} = diag(act'(z_t)) W_hh                       (H, H)

and the gradient reaching ``k`` steps back is multiplied by
``P_k = J_T J_{T-1} ... J_{T-k+1}``. Since ``|tanh'| <= 1``,
``||P_k||_2 <= prod ||J_t||_2 <= sigma_max(W_hh)^k`` (Pascanu et al. 2013, eq. 7):
below 1 the gradient must vanish, above 1 it may explode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def activation_derivative(h: torch.Tensor, activation: str) -> torch.Tensor:
    """``act'(z)`` written in terms of the post-activation ``h = act(z)``."""
    if activation == "tanh":
        return 1 - h**2
    if activation == "relu":
        return (h > 0).to(h.dtype)
    if activation == "linear":
        return torch.ones_like(h)
    raise ValueError(
        f"activation {activation!r}; options are ['linear', 'relu', 'tanh']"
    )


def step_jacobians(
    W_hh: torch.Tensor, h: torch.Tensor, activation: str
) -> torch.Tensor:
    """``J_t = diag(act'(z_t)) W_hh`` for every step: ``h (T, B, H) -> (T, B, H, H)``."""
    d = activation_derivative(h, activation)  # (T, B, H)
    return d.unsqueeze(-1) * W_hh  # row i scaled by act'(z_t)_i


def jacobian_products(J: torch.Tensor, max_steps: int | None = None) -> torch.Tensor:
    """``P_k = dh_{T-1}/dh_{T-1-k} = J_{T-1} ... J_{T-k}`` for ``k = 0..K``.

    ``J (T, B, H, H)`` as from :func:`step_jacobians` (``J[t] = dh_t/dh_{t-1}``);
    returns ``(K + 1, B, H, H)`` with ``P_0 = I`` and ``K = max_steps or T``.
    Accumulated from the end, one matrix product per step (a backward pass).
    """
    T, B, H, _ = J.shape
    K = T if max_steps is None else min(max_steps, T)
    P = torch.eye(H, dtype=J.dtype).expand(B, H, H)
    out = [P]
    for k in range(1, K + 1):
        P = P @ J[T - k]  # (B, H, H)
        out.append(P)
    return torch.stack(out)


def spectral_norms(P: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each matrix: ``(..., H, H) -> (...)``."""
    return torch.linalg.matrix_norm(P, ord=2)


def singular_value_bound(
    W_hh: torch.Tensor, max_steps: int, max_derivative: float = 1.0
) -> torch.Tensor:
    """``(max|act'| * sigma_max(W_hh))^k`` for ``k = 0..max_steps``: ``(K + 1,)``."""
    rate = max_derivative * torch.linalg.matrix_norm(W_hh, ord=2)
    return rate ** torch.arange(max_steps + 1, dtype=W_hh.dtype)


def scaled_orthogonal(
    hidden_size: int, sigma: float, generator: torch.Generator, dtype=torch.float64
) -> torch.Tensor:
    """A random orthogonal matrix times ``sigma``: every singular value is ``sigma``,
    so the bound ``sigma^k`` is tight for a linear RNN."""
    a = torch.randn(hidden_size, hidden_size, generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(a)
    return sigma * q * torch.sign(torch.diagonal(r))


def vanilla_states(W_hh, W_xh, x, activation: str = "tanh", b=None) -> torch.Tensor:
    """States ``(T, B, H)`` of ``h_t = act(W_hh h_{t-1} + W_xh x_t + b)``, ``h_0 = 0``."""
    act = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}[activation]
    h = x.new_zeros(x.shape[1], W_hh.shape[0])
    hs = []
    for x_t in x:  # (B, D)
        z = h @ W_hh.T + x_t @ W_xh.T
        h = act(z if b is None else z + b)
        hs.append(h)
    return torch.stack(hs)


def state_gradient_norms(
    step: Callable, state0: Sequence[torch.Tensor], x: torch.Tensor, u: torch.Tensor
) -> list[torch.Tensor]:
    """``||dL/ds_t||`` for every state component ``s`` and step ``t``, with the loss
    ``L = u . s_T[0]`` read out from the first component of the final state.

    ``step(state, x_t) -> state`` is any recurrence (a tuple of tensors: ``(h,)``
    for a vanilla RNN, ``(h, c)`` for an LSTM). Returns one ``(T,)`` tensor per
    component: the norm of the gradient arriving at that step, averaged over the
    batch. One backward pass serves every step (``retain_grad`` on each state).
    """
    # The initial state needs a gradient too when nothing else does (fixed weights).
    state, kept = tuple(s.detach().requires_grad_(True) for s in state0), []
    for x_t in x:
        state = tuple(step(state, x_t))
        for s in state:
            s.retain_grad()
        kept.append(state)
    (u * state[0]).sum().backward()
    return [
        torch.stack([st[i].grad.norm(dim=-1).mean() for st in kept])
        for i in range(len(state0))
    ]


def input_gradient_norms(
    forward: Callable, x: torch.Tensor, loss_step: int
) -> torch.Tensor:
    """``||dL/dx_t||`` for each step ``t``, where ``L = sum(forward(x)[loss_step])``.

    ``x (T, B, D)``; ``forward`` maps it to outputs ``(T, B, ...)`` (it may cut the
    graph, as truncated BPTT does). Returns ``(T,)`` (norm over batch and features).
    """
    x = x.detach().clone().requires_grad_(True)
    forward(x)[loss_step].sum().backward()
    return x.grad.flatten(1).norm(dim=1)


def gradient_reach(grad_norms: torch.Tensor, loss_step: int, tol: float = 0.0) -> int:
    """How many steps back, counting the loss step itself, a gradient above ``tol``
    arrives: ``loss_step - (earliest t with grad_norms[t] > tol) + 1`` (0 if none)."""
    hit = torch.nonzero(grad_norms[: loss_step + 1] > tol)
    return 0 if len(hit) == 0 else int(loss_step - hit[0, 0] + 1)
