"""Language models (step interface vs fused torch.nn) and the training loop."""

import math

import numpy as np
import pytest
import torch

from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.training import lm as training


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("embedding_size", [None, 4])
def test_step_interface_matches_fused_module(cell, embedding_size):
    torch.manual_seed(0)
    model = RecurrentLM(cell, 9, 6, embedding_size=embedding_size).double()
    tokens = torch.randint(0, 9, (12, 3))
    states = model.states(tokens)
    packed = model.init_state(3)
    packed = tuple(s.unsqueeze(0) for s in packed)
    out, last = model.rnn(model.embed(tokens), packed if cell == "lstm" else packed[0])
    assert torch.allclose(states["h"], out, atol=1e-12)  # every h, from torch.nn
    if cell == "lstm":
        assert torch.allclose(states["c"][-1], last[1][0], atol=1e-12)


def test_one_hot_parameter_count():
    # LSTM 4 * (50 * (11 + 50) + 2 * 50) = 12,600; decoder 50 * 11 + 11 = 561
    model = RecurrentLM("lstm", 11, 50)
    assert sum(p.numel() for p in model.parameters()) == 13_161


def test_batchify_follows_the_diagram():
    data = training.batchify(np.arange(26), 4)  # a..x; the remainder (2) is dropped
    assert data.shape == (6, 4)
    assert data[:, 0].tolist() == [0, 1, 2, 3, 4, 5]  # a b c d e f: one column
    assert data[0].tolist() == [0, 6, 12, 18]  # a g m s


def test_chunks_pair_inputs_with_next_tokens():
    data = training.batchify(np.arange(20), 2)  # (10, 2)
    pairs = list(training.chunks(data, 4))
    assert [x.shape[0] for x, _ in pairs] == [4, 4, 1]
    for x, y in pairs:
        assert torch.equal(y, x + 1)


def test_uniform_model_has_vocabulary_perplexity():
    model = RecurrentLM("lstm", 11, 5)
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
    tokens = np.random.default_rng(0).integers(0, 11, 300)
    ppl = training.perplexity(training.log_probs(model, tokens, seq_len=64), tokens)
    assert ppl == pytest.approx(11.0, rel=1e-5)


def _train(epochs, ckpt, tokens):
    torch.manual_seed(0)
    model = RecurrentLM("lstm", 11, 8)
    settings = training.TrainSettings(
        epochs, 4, 10, 0.05, "adagrad", checkpoint_every=3
    )
    training.train(model, tokens, settings, ckpt, progress=False)
    return model


def test_resumed_training_equals_uninterrupted(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 11, 400)
    straight = _train(2, tmp_path / "a.pt", tokens)
    _train(1, tmp_path / "b.pt", tokens)  # "interrupted" after one epoch
    resumed = _train(2, tmp_path / "b.pt", tokens)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_mid_epoch_equals_uninterrupted(tmp_path):
    tokens = np.random.default_rng(1).integers(0, 11, 400)
    straight = _train(1, tmp_path / "a.pt", tokens)
    _train(1, tmp_path / "b.pt", tokens)
    ck = torch.load(tmp_path / "b.pt", weights_only=False)
    assert ck["epoch"] == 1 and math.isfinite(ck["log"][0]["train_loss"])
    # rewind to the mid-epoch checkpoint written after batch 3 and resume from it
    mid = tmp_path / "mid.pt"
    torch.manual_seed(0)
    model = RecurrentLM("lstm", 11, 8)
    settings = training.TrainSettings(1, 4, 10, 0.05, "adagrad", checkpoint_every=3)
    data = training.batchify(tokens, 4)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.05)
    state = model.init_state(4)
    for batch, (x, y) in enumerate(training.chunks(data, 10)):
        if batch == 3:
            break
        logits, state = model(x, tuple(s.detach() for s in state))
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    here = training._Position(0, 3, tuple(s.detach() for s in state), [])
    training._checkpoint(mid, model, opt, here)
    resumed = RecurrentLM("lstm", 11, 8)
    training.train(resumed, tokens, settings, mid, progress=False)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
