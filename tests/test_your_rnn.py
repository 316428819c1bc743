"""Lesson 06's own model: training resumes from the store's checkpoint.

The lesson's model trains for about 80 minutes at `paper`; an interrupted run
must resume where it stopped and end with the weights of an uninterrupted one.
"""

import dataclasses

import numpy as np
import pytest
import torch

from rnnmem_utils import config, store
from rnnmem_utils.experiments.your_rnn import main


@pytest.fixture
def setting(tmp_path, monkeypatch):
    # 13 steps over streams of 100 positions, 4 windows of 20 each: the
    # carried state is reset at steps 4, 8 and 12; the checkpoint at step 9
    # holds the second window's position and the state carried into it
    cfg = dataclasses.replace(
        config.resolve("your_rnn", "smoke"), train_tokens=2000, steps=13
    )
    train = np.random.default_rng(0).integers(0, 50, cfg.train_tokens)
    monkeypatch.setattr(main, "CHECKPOINT_EVERY", 3)
    st = store.Store(tmp_path / "store", user=tmp_path / "out")
    return cfg, train, st, st.key("your_rnn/model", cfg, main.MODEL_FIELDS)


def test_interrupted_training_resumes_to_the_uninterrupted_weights(
    setting, monkeypatch
):
    cfg, train, st, key = setting
    whole = main._train(cfg, train, 50, progress=False)

    calls = {"n": 0}
    clip = torch.nn.utils.clip_grad_norm_

    def interrupted(*args, **kw):  # Ctrl-C in step 10, after the checkpoint at 9
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return clip(*args, **kw)

    with monkeypatch.context() as m:
        m.setattr(torch.nn.utils, "clip_grad_norm_", interrupted)
        with pytest.raises(KeyboardInterrupt):
            main._train(cfg, train, 50, progress=False, checkpoint=(st, key))
    saved = st.load_checkpoint(key)
    assert saved["step"] == 9 and saved["carried"]["pos"] == 20

    resumed_from = []
    load = st.load_checkpoint
    monkeypatch.setattr(
        st, "load_checkpoint", lambda k: resumed_from.append(k) or load(k)
    )
    resumed = main._train(cfg, train, 50, progress=False, checkpoint=(st, key))
    assert resumed_from == [key]
    assert resumed["log"] == whole["log"]
    for name, tensor in whole["state"].items():
        assert torch.equal(resumed["state"][name], tensor), name


def test_without_a_checkpoint_training_starts_from_the_seed(setting):
    cfg, train, st, key = setting
    a = main._train(cfg, train, 50, progress=False, checkpoint=(st, key))
    b = main._train(cfg, train, 50, progress=False)
    assert st.load_checkpoint(key) is not None, "checkpoints were written"
    assert a["log"] == b["log"]
