"""The LM training loss without the (N, V) logits, against autograd and finite
differences (the independent computations)."""

import pytest
import torch
import torch.nn.functional as F

from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.training import lm as training


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 rows at V = 7, so 10 rows make 4 chunks, the last ragged."""
    monkeypatch.setattr(training, "CHUNK_FLOATS", 21)


def _problem(n=10, h=5, v=7, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, h, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(v, h, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(v, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, v, (n,), generator=g)
    return x, w, (b if bias else None), t


@pytest.mark.parametrize("bias", [True, False])
def test_value_and_gradients_match_autograd(small_chunks, bias):
    x, w, b, t = _problem(bias=bias)
    params = [p for p in (x, w, b) if p is not None]
    ref = F.cross_entropy(F.linear(x, w, b), t)
    want = torch.autograd.grad(3.0 * ref, params)  # a non-unit upstream gradient
    ours = training.linear_cross_entropy(x, w, b, t)
    got = torch.autograd.grad(3.0 * ours, params)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-12)
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


def test_gradients_match_finite_differences(small_chunks):
    x, w, b, t = _problem(n=7, h=3, v=7)
    assert torch.autograd.gradcheck(
        lambda x, w, b: training.linear_cross_entropy(x, w, b, t), (x, w, b)
    )


def test_large_logits_do_not_overflow(small_chunks):
    x, w, b, t = _problem()
    with torch.no_grad():
        b += 1e4  # exp(1e4) overflows; the max is subtracted first
    ours = training.linear_cross_entropy(x, w, b, t)
    ref = F.cross_entropy(F.linear(x, w, b), t)
    assert torch.isfinite(ours) and ours.item() == pytest.approx(ref.item(), rel=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru_tf"])
def test_step_loss_is_the_logits_loss_of_a_recurrent_lm(small_chunks, cell):
    torch.manual_seed(0)
    model = RecurrentLM(cell, 7, 4, embedding_size=3).double()
    x, y = torch.randint(0, 7, (5, 2)), torch.randint(0, 7, (5, 2))
    loss, state = training.step_loss(model, x, y, None)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    logits, ref_state = model(x)
    ref = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    want = torch.autograd.grad(ref, list(model.parameters()))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    for a, e in zip(grads, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
    for a, e in zip(state, ref_state, strict=True):
        torch.testing.assert_close(a, e)
