"""Loss landscape of a one-unit RNN over its recurrent weight.

Pascanu, Mikolov & Bengio 2013 ("On the difficulty of training recurrent
neural networks", Fig. 6) show the error surface of a single-unit RNN: walls
("cliffs") of high curvature that steepen as the sequence grows. The asker of
seed 002 reproduced it for the latching task; we do the same here.

Model: ``h_t = tanh(w h_{t-1} + u x_t)``, ``h_0 = 0``, read out as a logistic
``p(y=1) = sigmoid(a h_T)``. Only ``w`` varies; ``u`` and ``a`` are fixed. Every
grid point is one model of the vectorised layout (R = grid size), so the
whole curve for one length costs one pass over the sequence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..data.latching import latching


def latching_loss(
    w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, u: float, readout: float
) -> torch.Tensor:
    """Mean cross-entropy of each recurrent weight in ``w`` (R,) on ``x`` (T, N)."""
    h = x.new_zeros(w.shape[0], x.shape[1])  # (R, N)
    for x_t in x:  # (N,)
        h = torch.tanh(w[:, None] * h + u * x_t[None, :])
    z = readout * h  # (R, N) logits of class 1
    target = y[None, :].to(z.dtype).expand_as(z)
    return F.binary_cross_entropy_with_logits(z, target, reduction="none").mean(1)


def loss_landscape(
    lengths,
    w_grid,
    *,
    n: int = 1000,
    noise_std: float = 0.1,
    u: float = 1.0,
    readout: float = 4.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Loss and its slope |dL/dw| over ``w_grid`` for each length.

    Returns columns ``seq_len, w, loss, slope`` (the slope from autograd in
    float64, so the cliff's steepness is measured, not eyeballed)."""
    rows = []
    w = torch.as_tensor(np.asarray(w_grid, dtype=np.float64))
    for seq_len in lengths:
        rng = np.random.default_rng([seed, int(seq_len)])
        x, y = latching(n, int(seq_len), rng, noise_std=noise_std)
        wg = w.clone().requires_grad_()
        loss = latching_loss(wg, x.double(), y, u, readout)
        (grad,) = torch.autograd.grad(loss.sum(), wg)
        rows.append(
            pd.DataFrame(
                {
                    "seq_len": int(seq_len),
                    "w": w.numpy(),
                    "loss": loss.detach().numpy(),
                    "slope": grad.abs().numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
