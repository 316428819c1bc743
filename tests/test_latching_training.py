"""The vectorised trainer against independent one-model-at-a-time training."""

import pytest
import torch
import torch.nn.functional as F

import rnnmem_utils as rm
from rnnmem_utils.data.latching import make_split
from rnnmem_utils.models import keras_cells as kc
from rnnmem_utils.training import multiseed as ms

D = torch.float64


def _keras_forward(p, x, cell):
    """Keras 2.1 equations for ONE model, written out plainly: x (T, B) -> h (B, H)."""
    hs = p["W_h"].shape[0]
    h = c = x.new_zeros(x.shape[1], hs)
    blocks = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    wx = p["W_x"][0].split(hs)
    wh, b = p["W_h"].split(hs, 1), p["b_x"].split(hs)
    assert len(wx) == blocks
    for x_t in x:
        pre = [x_t[:, None] * wx[k] + b[k] for k in range(blocks)]
        if cell == "rnn":
            h = torch.tanh(pre[0] + h @ wh[0])
        elif cell == "lstm":
            i, f, o = (kc.hard_sigmoid(pre[k] + h @ wh[k]) for k in range(3))
            c = f * c + i * torch.tanh(pre[3] + h @ wh[3])
            h = o * torch.tanh(c)
        else:
            r, z = (kc.hard_sigmoid(pre[k] + h @ wh[k]) for k in range(2))
            n = torch.tanh(pre[2] + (r * h) @ wh[2])
            h = z * h + (1 - z) * n
    return h


def _train_alone(spec, split, seed):
    """One model, its own Adam, its own data order; no stacking anywhere."""
    init = kc.init_params(spec.cell, spec.style, spec.hidden_size, [seed], dtype=D)
    if spec.style == "torch":
        rnn = kc.to_torch_module(init, spec.cell)
        params = list(rnn.parameters())
    else:
        single = {
            k: v[0].clone().requires_grad_()
            for k, v in init.items()
            if k not in ("W_o", "b_o")
        }
        params = list(single.values())
    w_o = init["W_o"][0].clone().requires_grad_()
    b_o = init["b_o"][0].clone().requires_grad_()
    opt = torch.optim.Adam(params + [w_o, b_o], lr=spec.lr, eps=spec.eps)
    gen, n = ms.order_generator(seed), split.y_train.shape[0]
    x_all = split.x_train.to(D)

    def forward(x):
        if spec.style == "torch":
            return rnn(x[..., None])[0][-1]
        return _keras_forward(single, x, spec.cell)

    for _ in range(spec.epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, spec.batch_size):
            rows = perm[s : s + spec.batch_size]
            z = forward(x_all[:, rows]) @ w_o + b_o
            loss = F.cross_entropy(z, split.y_train[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (forward(split.x_val.to(D)) @ w_o + b_o).argmax(-1).eq(split.y_val)
    return torch.cat([p.detach().flatten() for p in params]), float(acc.double().mean())


def _flat(result, r, cell, style):
    p = result.params
    if style == "torch":  # compare in torch.nn's own layout
        mod = kc.to_torch_module(p, cell, r)
        return torch.cat([q.detach().flatten() for q in mod.parameters()])
    return torch.cat([p[k][r].flatten() for k in ("W_x", "b_x", "W_h")])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("style", ["keras2018", "torch"])
def test_vectorised_equals_one_at_a_time(cell, style):
    spec = ms.TrainSpec(
        cell, style, hidden_size=2, epochs=2, batch_size=16, lr=0.01, eps=1e-7
    )
    splits = [
        make_split("latching", 60, L, seed=L) for L in (3, 7)
    ]  # 48 train: 3 batches
    data_index, seeds = [0, 0, 1, 1], [11, 12, 13, 14]
    res = ms.train_multiseed(spec, splits, data_index, seeds, dtype=D)
    for r, (d, seed) in enumerate(zip(data_index, seeds, strict=True)):
        alone, acc = _train_alone(spec, splits[d], seed)
        torch.testing.assert_close(
            _flat(res, r, cell, style), alone, rtol=1e-9, atol=1e-10
        )
        assert float(res.val_acc[r]) == pytest.approx(acc)


def test_model_does_not_depend_on_its_neighbours():
    spec = ms.TrainSpec("lstm", "keras2018", 1, epochs=1, lr=0.01)
    splits = [make_split("latching", 80, L, seed=L) for L in (4, 9)]
    both = ms.train_multiseed(spec, splits, [0, 1], [5, 6], dtype=D)
    one = ms.train_multiseed(spec, splits[1:], [0], [6], dtype=D)
    for k in both.params:
        torch.testing.assert_close(both.params[k][1], one.params[k][0])


@pytest.mark.parametrize("experiment", ["latching", "bit_relay"])
@pytest.mark.parametrize(
    "override",
    [
        {"repeats": 0},
        {"cells": ["srnn"]},
        {"lengths": [1]},
        {"success_threshold": 1.5},
        {"noise_std": -0.1},
        {"epochs": "5"},
        {"hiden_size": 2},
        {"val_fraction": 0.95},
    ],
)
def test_bad_overrides_are_refused(experiment, override):
    with pytest.raises(rm.config.ConfigError):
        rm.config.resolve(experiment, "smoke", override)


def test_latching_only_fields_are_refused_for_bit_relay():
    with pytest.raises(rm.config.ConfigError, match="unknown parameter"):
        rm.config.resolve("bit_relay", "smoke", {"search_lrs": [0.1]})
    with pytest.raises(rm.config.ConfigError):
        rm.config.resolve("latching", "smoke", {"tuned_lengths": [5, 1]})


def test_per_model_learning_rates_equal_separate_runs():
    spec = ms.TrainSpec("gru", "keras2018", 2, epochs=2, batch_size=16, lr=1e-3)
    splits = [make_split("latching", 60, 5, seed=3)]
    both = ms.train_multiseed(spec, splits, [0, 0], [7, 8], dtype=D, lrs=[1e-3, 3e-2])
    for r, (lr, seed) in enumerate([(1e-3, 7), (3e-2, 8)]):
        alone = ms.train_multiseed(
            ms.TrainSpec("gru", "keras2018", 2, 2, 16, lr), splits, [0], [seed], dtype=D
        )
        for k in both.params:
            torch.testing.assert_close(
                both.params[k][r], alone.params[k][0], rtol=1e-9, atol=1e-12
            )


def test_accuracy_after_earlier_epochs_equals_shorter_training():
    spec = ms.TrainSpec("rnn", "keras2018", 1, epochs=3, batch_size=16, lr=1e-2)
    splits = [make_split("latching", 80, 6, seed=4)]
    long = ms.train_multiseed(spec, splits, [0, 0], [1, 2], dtype=D, eval_epochs=(1, 3))
    short = ms.train_multiseed(
        ms.TrainSpec("rnn", "keras2018", 1, 1, 16, 1e-2),
        splits,
        [0, 0],
        [1, 2],
        dtype=D,
    )
    torch.testing.assert_close(long.val_acc_at[0], short.val_acc)
    torch.testing.assert_close(long.val_acc_at[1], long.val_acc)
