"""Foundations lesson, part 2: the cost of truncated BPTT as the lecture runs it
(one gradient step per window), counted against an independent FLOP count and
timed robustly; the compute claim's criterion."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import rnnmem_utils as rm
import rnnmem_utils.timing  # noqa: F401  (rm.timing)
from rnnmem_utils.data import chars
from rnnmem_utils.experiments.foundations import claims as fdc
from rnnmem_utils.experiments.foundations import parts as fdp
from rnnmem_utils.experiments.harness import single_thread
from rnnmem_utils.models import handbuilt as hb
from rnnmem_utils.training import bptt

CELLS = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell, "rnn": torch.nn.RNNCell}


def _explicit_flops(model, k: int, B: int) -> int:
    """FLOPs of one window's forward and backward, counted by PyTorch's dispatcher
    on the same network unrolled cell by cell (the fused layer hides its products
    from the counter): an independent count of what :func:`bptt.window_flops`
    derives from the shapes."""
    rnn = model.rnn
    cell = CELLS[model.cell](rnn.input_size, rnn.hidden_size)
    with torch.no_grad():
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, n).copy_(getattr(rnn, f"{n}_l0"))
    ids, y = torch.randint(0, 4, (k, B)), torch.randint(0, 4, (k, B))
    h = torch.zeros(B, rnn.hidden_size)  # the window's carried state: no gradient
    s = (h, h.clone()) if model.cell == "lstm" else h
    with FlopCounterMode(display=False) as counter:
        e, outs = model.embed(ids), []
        for t in range(k):
            s = cell(e[t], s)
            outs.append(s[0] if model.cell == "lstm" else s)
        logits = model.readout(torch.stack(outs))
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_window_flops_match_dispatcher_count(cell, k):
    torch.manual_seed(0)
    model = hb.TokenRNN(cell, 4, 6, 4, embed_size=5)
    assert bptt.window_flops(model, k, 3)["total"] == _explicit_flops(model, k, 3)


def test_window_flops_linear_in_k_and_sequence_total_barely_changes():
    model = hb.TokenRNN("lstm", 4, 8, 4)
    per_k = [bptt.window_flops(model, k, 5)["total"] for k in range(1, 21)]
    assert len(set(np.diff(per_k))) == 1  # exactly linear: the same cost per step
    cut = 2 * 5 * 4 * 8 * 8  # one recurrent product into each window's start
    full = bptt.sequence_flops(model, 20, 20, 5)
    for k in (1, 2, 4, 5, 7, 20):
        n_windows = len(bptt.windows(20, k))
        assert bptt.sequence_flops(model, 20, k, 5) == full - (n_windows - 1) * cut


def _recall(T=12, B=3, d=2, seed=0):
    x, y = chars.delayed_recall(T, B, d, 4, np.random.default_rng(seed))
    return torch.from_numpy(x), torch.from_numpy(y)


def test_tbptt_sequence_steps_once_per_window_from_detached_state():
    torch.manual_seed(0)
    model = hb.TokenRNN("lstm", 4, 6, 4).double()
    ref = hb.TokenRNN("lstm", 4, 6, 4).double()
    ref.load_state_dict(model.state_dict())
    x, y = _recall()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    opt.register_step_post_hook(lambda *_: steps.append(1))
    losses, _ = bptt.tbptt_sequence(model, opt, x, y, truncation=4)
    assert len(steps) == len(losses) == 3
    # the same by hand: each window from the previous final state, cut; SGD step
    state, ref_opt = None, torch.optim.SGD(ref.parameters(), lr=0.1)
    for sl in bptt.windows(12, 4):
        ref_opt.zero_grad()
        logits, state = ref(x[sl], hb.detach_state(state))
        valid = y[sl] != chars.IGNORE
        loss = torch.nn.functional.cross_entropy(logits[valid], y[sl][valid])
        loss.backward()
        ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_window_without_targets_only_carries_state():
    torch.manual_seed(0)
    model = hb.TokenRNN("lstm", 4, 6, 4)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = _recall(d=5)
    loss, state = bptt.window_step(
        model, torch.optim.Adam(model.parameters()), x[:3], y[:3]
    )
    assert np.isnan(loss) and state is not None
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)


def test_step_costs_structure(monkeypatch):
    monkeypatch.setattr(fdp, "TIMING_ROUNDS", 3)
    cfg = rm.config.resolve("foundations", "smoke", {"truncations": [2, 5, 20]})
    with single_thread():
        cost = fdp._step_costs(cfg)
    assert [c["truncation"] for c in cost] == [2, 5, 20]
    for c in cost:
        assert len(c["step_seconds"]) == len(c["sequence_seconds"]) == 3
        assert min(c["step_seconds"]) > 0
    flops = [c["step_flops"] for c in cost]
    assert (flops[1] - flops[0]) / 3 == (flops[2] - flops[1]) / 15  # linear in k
    seq = [c["sequence_flops"] for c in cost]
    assert seq[0] <= seq[1] <= seq[2] < 1.1 * seq[0]  # the whole sequence: ~same


def _fake_cost(step_ms: dict, rounds=20, seed=0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "truncation": k,
            "step_flops": 100 * k + 7,
            "sequence_flops": 2000,
            "step_seconds": (ms * 1e-3 * rng.uniform(0.97, 1.03, rounds)).tolist(),
            "sequence_seconds": (5e-3 * rng.uniform(0.97, 1.03, rounds)).tolist(),
        }
        for k, ms in step_ms.items()
    ]


@pytest.mark.parametrize(
    ("step_ms", "verdict", "holds"),
    [
        ({2: 1.0, 20: 3.0}, rm.claims.REPRODUCED, True),
        ({2: 0.97, 20: 1.0}, rm.claims.PARTLY, True),  # within the 10% tolerance
        ({2: 6.0, 20: 1.6}, rm.claims.PARTLY, True),
    ],
)
def test_compute_claim_criterion(step_ms, verdict, holds):
    cs = rm.claims.ClaimSet(
        "foundations", rm.config.resolve("foundations", "smoke"), "smoke"
    )
    fdc._compute_claim(cs, _fake_cost(step_ms), 20)
    (c,) = cs.claims
    assert c.verdict == verdict
    assert c.holds_across_interval is holds
    cost = _fake_cost(step_ms)
    ratio = rm.timing.median_ratio(cost[0]["step_seconds"], cost[1]["step_seconds"])
    assert c.interval[0] <= ratio <= c.interval[1]
    assert "does not shrink" in c.statement
