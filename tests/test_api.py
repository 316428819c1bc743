"""The public API on a user's own models: shapes found, results equal to an
independent computation (the fused torch layers, naive autograd, closed forms)."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnmem_utils as rm
from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.api import UnsupportedModel
from rnnmem_utils.models.lm import RecurrentLM


@pytest.fixture(autouse=True)
def _float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


class WordLanguageModel(nn.Module):
    """The shape of PyTorch's word-language-model example (examples/
    word_language_model/model.py, RNNModel): encoder, rnn, decoder, dropout."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden


class BatchFirstStack(nn.Module):
    """Two recurrent modules stacked by hand, batch_first, a one-hot input."""

    def __init__(self, vocab, hidden):
        super().__init__()
        self.vocab = vocab
        self.first = nn.GRU(vocab, hidden, batch_first=True)
        self.second = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        x = nn.functional.one_hot(ids, self.vocab).double()
        return self.head(self.second(self.first(x)[0])[0])


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
def test_word_language_model_example_works_unchanged(rnn_type):
    torch.manual_seed(0)
    kind = rnn_type.split("_")[0]
    model = WordLanguageModel(kind, 30, 8, 12, nlayers=2)
    if rnn_type == "RNN_RELU":
        model.rnn = nn.RNN(8, 12, 2, nonlinearity="relu")
    model.eval()
    net = rm.adapt(model)
    assert repr(net).count(f"{kind.upper()}(12)") == 2
    ids = torch.randint(0, 30, (9, 3))
    out, _ = model.rnn(model.encoder(ids))  # the fused layers, independently
    torch.testing.assert_close(net.states(ids)["h2"], out)
    torch.testing.assert_close(net.logits(ids), model(ids, None)[0])


def test_batch_first_one_hot_stack_of_two_modules():
    torch.manual_seed(1)
    model = BatchFirstStack(7, 5).eval()
    net = rm.adapt(model)
    assert net.data_batch_first and net.embedding is None
    assert net.state_names == ("h1", "h2", "c2")
    ids = torch.randint(0, 7, (2, 6))  # (B, T)
    mine = net.logits(rm.api.as_streams(ids, batch_first=True))
    torch.testing.assert_close(mine.transpose(0, 1), model(ids))


def test_unsupported_models_are_refused_with_what_was_found():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.cell = nn.LSTMCell(3, 4)

    with pytest.raises(UnsupportedModel, match=r"cell.*nn\.\*Cell.*adapter"):
        rm.adapt(Loop())
    with pytest.raises(UnsupportedModel, match="bidirectional"):
        rm.adapt(nn.LSTM(3, 4, bidirectional=True))
    with pytest.raises(UnsupportedModel, match="not a torch.nn.Module"):
        rm.adapt(object())


def test_own_adapter_is_used_as_it_is():
    torch.manual_seed(2)
    lm = RecurrentLM("lstm", 11, 6, embedding_size=4)
    assert rm.adapt(lm) is lm


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_state_gradients_equal_the_project_classes_and_naive_autograd(cell):
    """Copied weights: the user's torch model through the API and the project's
    RecurrentLM through the engine give the same G; both match per-unit
    autograd at one target."""
    torch.manual_seed(3)
    lm = RecurrentLM(cell, 13, 6, embedding_size=4)
    user = WordLanguageModel(cell.upper(), 13, 4, 6, nlayers=1, dropout=0.0)
    user.encoder.load_state_dict(lm.embedding.state_dict())
    user.rnn.load_state_dict(lm.rnn.state_dict())
    state = "c" if cell == "lstm" else "h"
    ids = torch.randint(0, 13, (40,))
    df = rm.state_gradients(user, ids, state=state, max_delay=5, streams=2,
                            normalise=False, burn_in=0, progress=False)  # fmt: skip
    streams = rm.api.as_streams(ids, streams=2)
    ref = sg.state_gradient_sums(lm, streams, {"all": torch.ones(20, 2, dtype=bool)},
                                 state=state, max_delay=5)  # fmt: skip
    want = sg.svd_summaries(ref.mean())["sigma_1"][0].numpy()
    np.testing.assert_allclose(df.sigma_1.to_numpy(), want, rtol=1e-10)
    naive = sg.naive_state_gradients(lm, streams, 12, state=state, max_delay=5)
    net = rm.adapt(user)
    one = sg.state_gradient_sums(net, streams[:13, :1],
                                 {"t": torch.arange(13)[:, None] == 12},
                                 state=state, max_delay=5)  # fmt: skip
    torch.testing.assert_close(one.mean()[0], naive)


def test_grouping_by_labels_and_normalisation():
    torch.manual_seed(4)
    user = WordLanguageModel("LSTM", 10, 4, 6, nlayers=2, dropout=0.0)
    ids = torch.randint(0, 10, (30,))
    labels = np.where(ids.numpy() < 5, "low", "high")
    df = rm.state_gradients(user, ids, labels=labels, state="c1", max_delay=4,
                            streams=3, progress=False)  # fmt: skip
    assert set(df.group) == {"all", "low", "high"}
    n = df.pivot(index="delay", columns="group", values="n")
    np.testing.assert_allclose(n["low"] + n["high"], n["all"])
    raw = rm.state_gradients(user, ids, state="c1", max_delay=4, streams=3,
                             normalise=False, progress=False)  # fmt: skip
    assert not np.allclose(raw.sigma_1, df[df.group == "all"].sigma_1)
    src = rm.state_gradients(user, ids, labels=labels, state="c1", max_delay=4,
                             streams=3, by="source", progress=False)  # fmt: skip
    assert set(src.group) == {"all", "low", "high"}
    with pytest.raises(ValueError, match="labels of shape"):
        rm.state_gradients(user, ids, labels=labels[:-1], streams=3, progress=False)


def test_group_chunks_bound_memory(monkeypatch):
    from rnnmem_utils.api import measures

    torch.manual_seed(5)
    user = WordLanguageModel("GRU", 10, 4, 6, nlayers=1, dropout=0.0)
    ids = torch.randint(0, 10, (48,))
    assert rm.adapt(user).folded  # the engine's hand-written tangents
    labels = ids.numpy() % 4
    whole = rm.state_gradients(user, ids, labels=labels, state="h", max_delay=3,
                               streams=2, progress=False)  # fmt: skip
    # a budget of one group's sums: every group in a pass of its own
    monkeypatch.setattr(measures, "MEMORY_BUDGET", 3 * 6 * 4 * 8 * 2)
    chunked = rm.state_gradients(user, ids, labels=labels, state="h", max_delay=3,
                                 streams=2, progress=False)  # fmt: skip
    np.testing.assert_allclose(chunked.sigma_1, whole.sigma_1, rtol=1e-12)


def test_memory_capacity_of_a_delay_line_is_its_length():
    """A shift register of N units holds u(t-1..t-N) exactly: MC_k = 1 for
    k < N... and 0 beyond (the closed form)."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, 3000)
    n = 10
    line = np.stack([np.roll(u, k) for k in range(n)], axis=1)  # x_k(t) = u(t-k)
    mc = rm.memory_capacity(line, u, max_delay=20, washout=n)
    np.testing.assert_allclose(mc.mc_k[:n], 1.0, atol=1e-9)
    assert mc.mc_k[n:].max() < 0.02
    assert mc.mc_k.sum() == pytest.approx(n, abs=0.2)


def test_echo_state_network_capacity_is_below_its_size():
    u = np.random.default_rng(1).uniform(-1, 1, 4000)
    x = rm.esn_states(u, units=30, spectral_radius=0.9, seed=0)
    mc = rm.memory_capacity(x, u, max_delay=60).mc_k.sum()
    assert 5 < mc <= 30  # Jaeger 2001: MC <= N for i.i.d. input


def test_drive_equals_the_fused_layer():
    torch.manual_seed(6)
    lstm = nn.LSTM(1, 5)
    u = np.random.default_rng(2).uniform(-1, 1, 50)
    out, _ = lstm(torch.as_tensor(u).reshape(-1, 1, 1))
    np.testing.assert_allclose(rm.drive(lstm, u), out[:, 0].detach().numpy())


def test_probe_decodes_a_planted_label():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 8))
    x[:, 0] += 3 * y  # the label lives on one axis
    for kind in ("lda", "logistic"):
        row = rm.probe(x, y, kind=kind).iloc[0]
        assert row.accuracy > 0.9 and row.chance < 0.45
    noise = rm.probe(rng.normal(size=(600, 8)), y).iloc[0]
    assert noise.accuracy < 0.5
    with pytest.raises(ValueError, match="options are"):
        rm.probe(x, y, kind="svm")


def test_folded_tangents_equal_the_generic_jvp_path_on_a_stack():
    torch.manual_seed(7)
    user = WordLanguageModel("LSTM", 9, 4, 5, nlayers=2, dropout=0.0)
    ids = rm.api.as_streams(torch.randint(0, 9, (24,)), streams=2)
    groups = {"all": torch.ones(ids.shape, dtype=torch.bool)}
    net = rm.adapt(user)
    a, b = (sg.state_gradient_sums(net, ids, groups, state="c1", max_delay=4,
                                   method=m) for m in ("folded", "jvp"))  # fmt: skip
    torch.testing.assert_close(a.sums, b.sums)


def _one_hot_autograd(user, ids, targets):
    """Connectivity from first principles: a one-hot input that requires grad,
    through the user's own fused modules; the L2 norm, each row / its max."""
    T = len(ids)
    out = torch.zeros(T, T)
    for t in range(T):
        onehot = nn.functional.one_hot(ids, 13).double().requires_grad_(True)
        x = onehot @ user.encoder.weight
        h, _ = user.rnn(x[:, None])
        logit = user.decoder(h[t, 0])[targets[t]]
        (g,) = torch.autograd.grad(logit, onehot)
        out[t] = g.norm(dim=-1)
    return (out / out.max(1, keepdim=True).values).numpy()


def test_connectivity_equals_one_hot_autograd_through_the_users_model():
    torch.manual_seed(8)
    user = WordLanguageModel("GRU", 13, 5, 6, nlayers=2, dropout=0.0).eval()
    ids = torch.randint(0, 13, (9,))
    df = rm.connectivity(user, ids)  # targets: the next token
    targets = torch.cat([ids[1:], user(ids[:, None], None)[0][-1, 0].argmax()[None]])
    want = _one_hot_autograd(user, ids, targets)
    got = np.zeros((9, 9))
    got[df.output, df.input] = df.connectivity
    np.testing.assert_allclose(got, np.tril(want), atol=1e-10)
    assert (df.delay == df.output - df.input).all() and (df.delay >= 0).all()


def test_connectivity_of_a_one_hot_model_and_the_explorer_page(tmp_path):
    torch.manual_seed(9)
    model = BatchFirstStack(7, 5).eval()
    df = rm.connectivity(model, torch.randint(0, 7, (6,)), targets=3)
    assert len(df) == 21 and df.groupby("output").connectivity.max().eq(1).all()
    user = WordLanguageModel("LSTM", 13, 5, 6, nlayers=1, dropout=0.0).eval()
    vocab = [f"w{i}" for i in range(13)]
    html = rm.explorer_page(
        {"lstm": user}, [1, 4, 2, 7], vocab, path=tmp_path / "p.html"
    )
    assert (tmp_path / "p.html").read_text() == html
    assert '" w4"' in html and "http" not in html.split("<script")[0]


def test_group_chunks_respect_the_byte_budget(monkeypatch):
    """Each pass of the engine holds (groups x D x H x E) sums in float64 plus
    float32-or-wider partials: no pass may exceed the budget."""
    from rnnmem_utils.api import measures

    user = WordLanguageModel("LSTM", 10, 4, 6, nlayers=1, dropout=0.0)
    net = rm.adapt(user)
    per_group = 7 * 6 * 4 * 8 * 2
    monkeypatch.setattr(measures, "MEMORY_BUDGET", 5 * per_group + 1)
    passes = measures._passes(50, net, "c", 7)
    assert [len(p) for p in passes] == [5] * 10
    assert sum(passes, []) == list(range(50))


def test_relative_memory_of_the_best_and_a_forgotten_direction():
    """Closed forms on the model's own G: d = v_1 (its top right singular
    vector) is remembered fully (m = 1, cosine 1); a d in G's null space not
    at all (m = 0)."""
    torch.manual_seed(10)
    user = WordLanguageModel("LSTM", 12, 6, 3, nlayers=1, dropout=0.0)
    ids = torch.randint(0, 12, (60,))
    kw = dict(state="c", max_delay=3, streams=2, normalise=False, burn_in=0,
              progress=False)  # fmt: skip
    streams = rm.api.as_streams(ids, streams=2)
    g = sg.state_gradient_sums(rm.adapt(user), streams,
                               {"all": torch.ones(30, 2, dtype=torch.bool)},
                               state="c", max_delay=3).mean()[0, 1].double()  # fmt: skip
    _, _, vh = torch.linalg.svd(g)
    null = vh[-1]  # H = 3 < E = 6: G has a null space
    df = rm.relative_memory(user, ids, {"v1": vh[0], "null": null}, **kw)
    at1 = df[df.delay == 1].set_index("property")
    assert at1.loc["v1", "relative_memory"] == pytest.approx(1.0, abs=1e-9)
    assert at1.loc["v1", "cosine_top1"] == pytest.approx(1.0, abs=1e-9)
    assert at1.loc["null", "relative_memory"] == pytest.approx(0.0, abs=1e-9)
    pairs = rm.relative_memory(user, ids, {"a-b": ([1, 2], [3])}, **kw)
    assert pairs.relative_memory.between(0, 1 + 1e-9).all()
