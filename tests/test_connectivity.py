"""Connectivity (Distill 2019) against independent computations, in float64:
per-position autograd through the embedding, autograd through an explicit
one-hot input, and central finite differences."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnmem_utils.analysis import connectivity as conn
from rnnmem_utils.models import cells

V_IN, D, H, V = 7, 5, 6, 9


class CharModel(nn.Module):
    """Embedding -> fused torch.nn GRU/LSTM (2 layers) -> linear decoder."""

    def __init__(self, kind="gru", layers=2, seed=0, sizes=(V_IN, D, H, V)):
        super().__init__()
        torch.manual_seed(seed)
        v_in, d, h, v = sizes
        self.embedding = nn.Embedding(v_in, d)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
        self.rnn = rnn(d, h, num_layers=layers)
        self.decoder = nn.Linear(h, v)
        self.double()

    def features(self, x):
        return self.rnn(x)[0]


class CellModel(nn.Module):
    """The cell library's TF-form GRU stacked with run_layers (step by step)."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(V_IN, D)
        self.layers = nn.ModuleList(
            [cells.GRUCell(D, H, form="tf"), cells.GRUCell(H, H, form="tf")]
        )
        self.decoder = nn.Linear(H, V)
        self.double()

    def features(self, x):
        return cells.run_layers(self.layers, x)[0]


class BatchFirstLogits(nn.Module):
    """Only ``logits_from_embedded``, batch-first: the generic path."""

    batch_first = True

    def __init__(self, inner):
        super().__init__()
        self.inner, self.embedding = inner, inner.embedding

    def logits_from_embedded(self, x):  # (B, T, D) -> (B, T, V)
        return self.inner.decoder(self.inner.features(x.transpose(0, 1))).transpose(
            0, 1
        )


def sequence(T=13, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V_IN, (T,), generator=g), torch.randint(
        0, V, (T,), generator=g
    )


def onehot_reference(model, tokens, targets):
    """Unnormalised squared map by autograd w.r.t. an explicit one-hot leaf (T, V_IN):
    independent of the `grad_e @ E^T` step the library uses."""
    E = model.embedding.weight if hasattr(model, "embedding") else model.embed.weight
    T = len(tokens)
    out = np.zeros((T, T))
    for t in range(T):
        o = nn.functional.one_hot(tokens, V_IN).double().requires_grad_()
        z = model.decoder(model.features((o @ E)[:, None]))[:, 0]
        (g,) = torch.autograd.grad(z[t, targets[t]], o)  # (T, V_IN)
        out[t] = (g**2).sum(-1).detach().numpy()
    return out


MODELS = {"gru": lambda: CharModel("gru"), "lstm": lambda: CharModel("lstm")}
MODELS["tf_gru_cells"] = CellModel


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batched_equals_per_position_and_onehot(name):
    model = MODELS[name]()
    tokens, targets = sequence()
    squared = onehot_reference(model, tokens, targets)
    for norm, ref in [("squared", squared), ("l2", np.sqrt(squared))]:
        naive = conn.connectivity_per_position(
            model, tokens, targets, norm=norm, normalise=False
        )
        np.testing.assert_allclose(naive, ref, rtol=1e-10, atol=1e-14)
        for method in conn.METHODS:
            for chunk in (1, 4, 64):
                fast = conn.connectivity(
                    model,
                    tokens,
                    targets,
                    norm=norm,
                    normalise=False,
                    chunk=chunk,
                    method=method,
                )
                np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-14)


def test_finite_differences_of_the_onehot_input():
    model = CharModel("lstm")
    tokens, targets = sequence(T=8)
    E = model.embedding.weight.detach()
    o = nn.functional.one_hot(tokens, V_IN).double()

    def z(o_in, t):
        with torch.no_grad():
            return model.decoder(model.features((o_in @ E)[:, None]))[t, 0, targets[t]]

    raw = conn.connectivity(model, tokens, targets, normalise=False)
    eps = 1e-6
    for t, s in [(7, 0), (7, 5), (4, 4), (3, 1)]:
        grad = []
        for v in range(V_IN):
            d = torch.zeros_like(o)
            d[s, v] = eps
            grad.append((z(o + d, t) - z(o - d, t)).item() / (2 * eps))
        assert raw[t, s] == pytest.approx(np.sum(np.square(grad)), rel=1e-6)


def test_rows_normalised_causal_and_l2_is_root_of_squared():
    model = CharModel("gru")
    tokens, targets = sequence(T=11)
    c = conn.connectivity(model, tokens, targets)
    assert np.allclose(c.max(axis=1), 1.0)
    assert np.all(np.triu(c, k=1) == 0), "no output depends on a later input"
    sq = conn.connectivity(model, tokens, targets, normalise=False)
    l2 = conn.connectivity(model, tokens, targets, norm="l2", normalise=False)
    np.testing.assert_allclose(l2, np.sqrt(sq), rtol=1e-12)
    one = conn.connectivity(model, tokens, 3)
    np.testing.assert_allclose(one, conn.connectivity(model, tokens, [3] * 11))


def test_batch_first_logits_path_and_modes():
    inner = CharModel("gru")
    tokens, targets = sequence(T=9)
    wrapped = BatchFirstLogits(inner)
    wrapped.train()
    got = conn.connectivity(wrapped, tokens, targets, chunk=4)
    want = conn.connectivity(inner, tokens, targets)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert wrapped.training, "the caller's train/eval mode is restored"
    lg = conn.logits(wrapped, tokens)
    with torch.no_grad():
        ref = inner.decoder(inner.features(inner.embedding(tokens)[:, None]))[:, 0]
    np.testing.assert_allclose(lg, ref.numpy(), rtol=1e-12)


def test_adapter_of_plain_callables_in_float32():
    model = CharModel("gru").float()
    ad = conn.Adapter(
        weight=model.embedding.weight, features=model.features, decoder=model.decoder
    )
    tokens, targets = sequence(T=10)
    c = conn.connectivity(ad, tokens, targets, chunk=3)
    ref = conn.connectivity(CharModel("gru"), tokens, targets)
    assert c.dtype == np.float32
    np.testing.assert_allclose(c, ref, atol=1e-4)


def test_bad_input_is_refused_with_a_reason():
    model = CharModel("gru")
    tokens, targets = sequence(T=5)
    with pytest.raises(ValueError, match="options are"):
        conn.connectivity(model, tokens, targets, norm="l1")
    with pytest.raises(ValueError, match="options are"):
        conn.connectivity(model, tokens, targets, method="loop")
    with pytest.raises(ValueError, match=r"\(T,\)"):
        conn.connectivity(model, tokens, targets[:3])
    with pytest.raises(ValueError, match="empty"):
        conn.connectivity(model, tokens[:0], targets[:0])
    with pytest.raises(TypeError, match="nn.Embedding"):
        conn.adapt(nn.GRU(3, 3))
    bare = nn.Module()
    bare.embedding = nn.Embedding(3, 2)
    with pytest.raises(TypeError, match="features"):
        conn.adapt(bare)
    with pytest.raises(ValueError, match="needs"):
        conn.Adapter(weight=torch.zeros(2, 2))


def test_top_k_against_sorting_by_hand():
    words = ["<eos>", "<unknown>", "the", "of", "and"]
    z = np.log(np.array([[0.1, 0.1, 0.5, 0.2, 0.1], [0.3, 0.0, 0.1, 0.2, 0.4]]) + 1e-12)
    got = conn.top_k(z, words, k=3)
    assert [w for w, _ in got[0]] == ["the", "of", "<eos>"], "ties keep id order"
    assert [w for w, _ in got[1]] == ["and", "<eos>", "of"]
    assert got[0][0][1] == pytest.approx(0.5, rel=1e-9)
    assert conn.top_k(torch.as_tensor(z), words, k=1)[1] == [
        ("and", pytest.approx(0.4))
    ]
    with pytest.raises(ValueError, match="len"):
        conn.top_k(z[:, :4], words)
    with pytest.raises(ValueError, match="k must"):
        conn.top_k(z, words, k=0)


class StackModel(nn.Module):
    """Any list of cell-library cells stacked with run_layers."""

    def __init__(self, make_cells, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(V_IN, D)
        self.cells = nn.ModuleList(make_cells())
        self.decoder = nn.Linear(H, V)
        self.double()
        with torch.no_grad():  # every bias and gate visible in the gradients
            for p in self.cells.parameters():
                p.mul_(2.0)

    def features(self, x):
        return cells.run_layers(self.cells, x)[0]


STACKS = {
    "nlstm": lambda: [cells.NestedLSTMCell(D, H, forget_bias=1.0)],
    "nlstm_2_layers": lambda: [
        cells.NestedLSTMCell(D, H, forget_bias=0.5),
        cells.NestedLSTMCell(H, H, forget_bias=1.0),
    ],
    "lstm_tf_one_bias": lambda: [
        cells.LSTMCell(D, H, forget_bias=1.0, two_biases=False),
        cells.LSTMCell(H, H, forget_bias=1.0, two_biases=False),
    ],
    "gru_torch_then_tf": lambda: [
        cells.GRUCell(D, H, form="torch"),
        cells.GRUCell(H, H, form="tf"),
    ],
    "rnn_tanh_3_layers": lambda: [
        cells.RNNCell(D, H),
        cells.RNNCell(H, H),
        cells.RNNCell(H, H),
    ],
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_sweep_through_every_cell_kind(name):
    """The hand-written batched backward of each cell equals the one-hot
    autograd reference (and so the per-position method)."""
    model = StackModel(STACKS[name])
    tokens, targets = sequence(T=12)
    ref = onehot_reference(model, tokens, targets)
    for chunk in (None, 1, 5):
        got = conn.connectivity(
            model, tokens, targets, normalise=False, chunk=chunk, method="sweep"
        )
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_sweep_finite_differences_nested_lstm():
    model = StackModel(STACKS["nlstm_2_layers"])
    tokens, targets = sequence(T=7)
    E = model.embed.weight.detach()
    o = nn.functional.one_hot(tokens, V_IN).double()
    raw = conn.connectivity(model, tokens, targets, normalise=False, method="sweep")
    eps = 1e-6
    for t, s in [(6, 0), (6, 6), (3, 1)]:
        grad = []
        for v in range(V_IN):
            d = torch.zeros_like(o)
            d[s, v] = eps
            with torch.no_grad():
                z = [
                    model.decoder(model.features((oo @ E)[:, None]))[t, 0, targets[t]]
                    for oo in (o + d, o - d)
                ]
            grad.append((z[0] - z[1]).item() / (2 * eps))
        assert raw[t, s] == pytest.approx(np.sum(np.square(grad)), rel=1e-6)


def test_sweep_refuses_cells_that_are_not_the_features_and_auto_falls_back():
    class Shifted(CellModel):
        def features(self, x):  # not what its cells compute
            return super().features(x) * 0.5

    model = Shifted()
    tokens, targets = sequence(T=9)
    with pytest.raises(ValueError, match="do not reproduce"):
        conn.connectivity(model, tokens, targets, method="sweep")
    got = conn.connectivity(model, tokens, targets, normalise=False)  # auto
    ref = onehot_reference(model, tokens, targets)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_sweep_falls_back_for_cells_it_has_no_backward_for():
    model = StackModel(
        lambda: [cells.GRUCell(D, H, form="tf", gate=cells.hard_sigmoid)]
    )
    tokens, targets = sequence(T=8)
    with pytest.raises(ValueError, match="no cells"):
        conn.connectivity(model, tokens, targets, method="sweep")
    got = conn.connectivity(model, tokens, targets, normalise=False)
    np.testing.assert_allclose(
        got, onehot_reference(model, tokens, targets), rtol=1e-10, atol=1e-14
    )
