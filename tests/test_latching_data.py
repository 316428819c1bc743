"""Latching and bit-relay generators: balance, signal position, noise, seeds, split."""

import numpy as np
import torch

from rnnmem_utils.data import latching as dl


def test_latching_balance_signal_and_noise():
    x, y = dl.latching(4000, 30, np.random.default_rng(0), noise_std=0.1)
    assert x.shape == (30, 4000) and y.shape == (4000,)
    assert int(y.sum()) == 2000  # balanced
    assert torch.all(y[:2000] == 1) and torch.all(y[2000:] == 0)  # positives first
    # the signal sits at t=0 only: +1 for label 1, -1 for label 0
    sign = torch.where(y == 1, 1.0, -1.0)
    noise0 = x[0] - sign
    assert abs(float(noise0.mean())) < 0.01 and abs(float(noise0.std()) - 0.1) < 0.01
    rest = x[1:]
    assert abs(float(rest.mean())) < 0.002 and abs(float(rest.std()) - 0.1) < 0.002


def test_bengio_setting_has_no_noise_on_first():
    x, y = dl.latching(100, 10, np.random.default_rng(1), noise_on_first=False)
    assert torch.equal(x[0], torch.where(y == 1, 1.0, -1.0))
    assert float(x[1:].std()) > 0.05


def test_bit_relay_signs():
    x, y = dl.bit_relay(1000, 11, np.random.default_rng(2), noise_std=0.1)
    first, middle = torch.sign(x[0]), torch.sign(x[5])
    assert torch.equal((first == middle).long(), y)
    assert int(y.sum()) == 500
    # all four sign combinations are equally frequent
    combos = (first > 0).long() * 2 + (middle > 0).long()
    assert torch.bincount(combos).tolist() == [250, 250, 250, 250]
    others = torch.cat([x[1:5], x[6:]])
    assert abs(float(others.std()) - 0.1) < 0.005


def test_seeds_reproduce_and_differ():
    a = dl.make_split("latching", 200, 7, seed=3)
    b = dl.make_split("latching", 200, 7, seed=3)
    c = dl.make_split("latching", 200, 7, seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, c.x_train)


def test_unshuffled_split_validates_on_one_class_only():
    s = dl.make_split("latching", 1000, 5, seed=0, shuffle=False)
    assert s.y_val.shape == (200,) and torch.all(s.y_val == 0)  # the question's bug
    assert float(s.y_train.float().mean()) == 500 / 800  # training biased to positives
    fixed = dl.make_split("latching", 1000, 5, seed=0, shuffle=True)
    assert 0.4 < float(fixed.y_val.float().mean()) < 0.6
