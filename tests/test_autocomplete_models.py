"""E5's models: the post's parameter counts, the fused LSTM against the cell
library's steps (TensorFlow's BasicLSTMCell equations), gradients against
finite differences, the heads, the loss mask, and resumable training."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnmem_utils import store
from rnnmem_utils.data import autocomplete as ac
from rnnmem_utils.experiments.autocomplete import evaluate, models, train

D = torch.float64
CORPUS = (
    " the cat sat on the mat the dog sat on the log a cat and a dog sat"
    " on a mat the end"
) * 6


def cfg_of(**kw):
    base = dict(hidden_size=6, embedding_size=5, layers=2, nlstm_layers=1,
                forget_bias=1.0, softmax="full", adaptive_cutoffs=(4, 8))  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def chars_of(b=3, t=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, ac.N_CHARS, (b, t), generator=g)


@pytest.mark.parametrize("kind", models.KINDS)
def test_parameters_match_the_post(kind):
    m = models.build(kind, cfg_of(hidden_size=600, embedding_size=600), 16_386)
    n = models.count_parameters(m)
    assert n["recurrent"] == {"gru": 4_323_600, "lstm": 5_764_800,
                              "nlstm": 5_764_800}[kind]  # fmt: skip
    assert n["head"] == 9_847_986
    assert n["embedding"] == 27 * 600  # row 0 is the fixed padding row


def test_fused_lstm_is_tensorflows_basic_lstm_cell():
    """nn.LSTM with the second bias frozen at (0, 1, 0, 0) computes
    f = sigmoid(x W_f + b_f + h U_f + 1.0): the cell library's lstm_step with
    one bias and forget_bias 1.0, which tests/test_cells.py checks by hand."""
    m = models.build("lstm", cfg_of(), 11).to(D)
    with torch.no_grad():  # non-zero biases, so a wrong block would show
        m.rnn.bias_ih_l0.uniform_(-1, 1), m.rnn.bias_ih_l1.uniform_(-1, 1)
    x = torch.randn(9, 3, 5, dtype=D)
    fused = m.recurrent(x)
    stepped = m.recurrent(x, fused=False)
    torch.testing.assert_close(fused, stepped, rtol=0, atol=1e-13)
    # the same with the step function, one bias and forget_bias as TF has it
    h = x
    for layer in range(2):
        w_x = getattr(m.rnn, f"weight_ih_l{layer}").T
        w_h = getattr(m.rnn, f"weight_hh_l{layer}").T
        b = getattr(m.rnn, f"bias_ih_l{layer}")
        state = (torch.zeros(3, 6, dtype=D),) * 2
        out = []
        for x_t in h:
            state = ac_step(x_t @ w_x + b, state, w_h)
            out.append(state[0])
        h = torch.stack(out)
    torch.testing.assert_close(fused, h, rtol=0, atol=1e-13)


def ac_step(gx, state, w_h):
    from rnnmem_utils.models import cells

    return cells.lstm_step(gx, state, w_h, forget_bias=1.0)


def test_forget_bias_and_padding_row_stay_fixed_in_training():
    dataset = ac.build(CORPUS, 8, max_length=40)
    m = models.build("lstm", cfg_of(), dataset.n_words)
    b_hh = m.rnn.bias_hh_l0.detach().clone()
    train.train(m, dataset, train.Schedule(3, 4, 1e-2, 0, 100, 3), progress=False)
    assert torch.equal(m.rnn.bias_hh_l0, b_hh) and b_hh[6:12].eq(1.0).all()
    assert m.embed.weight[ac.EOS].abs().max() == 0


@pytest.mark.parametrize("kind", models.KINDS)
def test_input_gradients_match_finite_differences(kind):
    m = models.build(kind, cfg_of(hidden_size=3, embedding_size=2), 7).to(D)
    x = torch.randn(5, 2, 2, dtype=D, requires_grad=True)  # (T, B, E)
    torch.autograd.gradcheck(
        lambda v: m.logits_from_embedded(v)[-1, :, 3], (x,), eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("kind", ["gru", "nlstm"])
def test_weight_gradients_match_finite_differences(kind):
    m = models.build(kind, cfg_of(hidden_size=3, embedding_size=2), 7).to(D)
    chars, targets = chars_of(2, 5), torch.randint(2, 7, (2, 5))
    w = m.cells[0].W_h
    grad = torch.autograd.grad(m.loss(chars, targets), w)[0]
    num = torch.zeros_like(w)
    with torch.no_grad():
        for idx in np.ndindex(*w.shape):
            old = w[idx].item()
            w[idx] = old + 1e-6
            up = m.loss(chars, targets).item()
            w[idx] = old - 1e-6
            down = m.loss(chars, targets).item()
            w[idx] = old
            num[idx] = (up - down) / 2e-6
    torch.testing.assert_close(grad, num, rtol=1e-5, atol=1e-8)


def test_gru_initialisation_is_tensorflows():
    m = models.build("gru", cfg_of(), 11)
    cell = m.cells[0]
    assert cell.form == "tf" and cell.b_h is None
    assert cell.b[:12].eq(1.0).all() and cell.b[12:].eq(0.0).all()  # gates 1.0
    # TF's two kernels over [x, h] (fan_in 5 + 6): gates (11 x 12), candidate
    # (11 x 6), each Glorot-uniform over its own width
    for w in (cell.W_x, cell.W_h):
        gates, candidate = w.split([12, 6], -1)
        assert gates.abs().max() <= math.sqrt(6 / (11 + 12))
        assert candidate.abs().max() <= math.sqrt(6 / (11 + 6))


def test_gru_candidate_kernel_spans_its_own_glorot_range():
    # 64 + 64 inputs, 64 units: the candidate's range sqrt(6 / 192) = 0.177 is
    # wider than that of one kernel over all three blocks, sqrt(6 / 320) =
    # 0.137; 8,192 uniform draws reach within 0.5% of their bound
    cell = models.build("gru", cfg_of(hidden_size=64, embedding_size=64), 11).cells[0]
    w = torch.cat([cell.W_x, cell.W_h])
    gates, candidate = w.split([128, 64], -1)
    for block, width in ((gates, 128), (candidate, 64)):
        bound = math.sqrt(6 / (128 + width))
        assert bound * 0.99 < block.abs().max() <= bound


def test_loss_is_masked_cross_entropy():
    m = models.build("gru", cfg_of(), 11).to(D)
    chars = chars_of()
    targets = torch.randint(
        0, 11, chars.shape, generator=torch.Generator().manual_seed(1)
    )
    logp = torch.log_softmax(m.logits(chars), -1)
    keep = targets > 1
    want = -logp.gather(-1, targets[..., None])[..., 0][keep].mean()
    torch.testing.assert_close(m.loss(chars, targets), want)


def test_adaptive_head_is_a_distribution_over_words_in_their_own_ids():
    order = np.array([5, 2, 9, 3, 4, 6, 7, 8, 10, 0, 1])
    m = models.build(
        "nlstm", cfg_of(softmax="adaptive", adaptive_cutoffs=(4,)), 11, order
    ).to(D)
    chars = chars_of()
    logp = m.log_probs(chars)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(3, 9, dtype=D))
    targets = torch.randint(
        2, 11, chars.shape, generator=torch.Generator().manual_seed(2)
    )
    want = -logp.gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(m.loss(chars, targets), want)


def test_scores_by_characters_seen_against_a_plain_loop():
    dataset = ac.build(CORPUS, 8, max_length=40)
    m = models.build("gru", cfg_of(), dataset.n_words)
    index = np.arange(dataset.n_sequences)
    s = evaluate.per_sequence(m, dataset, index, batch_size=3)
    hits, totals, ce, n = np.zeros((22, 3)), np.zeros(22), 0.0, 0
    for i in index:
        chars, targets = dataset.sequence(i)
        logp = m.log_probs(torch.as_tensor(chars, dtype=torch.long)[None])[0]
        seen = 0
        for t, (c, y) in enumerate(zip(chars, targets, strict=True)):
            seen = 0 if c == ac.SPACE else seen + 1
            top = logp[t].topk(3).indices.tolist()
            totals[seen] += 1
            for k in range(3):
                hits[seen, k] += y in top[: k + 1]
            if y > 1:
                ce, n = ce - logp[t, y].item(), n + 1
    np.testing.assert_allclose(s["seen_total"].sum(0), totals)
    np.testing.assert_allclose(s["seen_hits"].sum(0), hits)
    assert s["ce_sum"].sum() == pytest.approx(ce, rel=1e-5) and s["n_known"].sum() == n


def test_bootstrap_with_unit_weights_is_the_plain_ratio():
    num, den = np.array([1.0, 2, 3]), np.array([2.0, 2, 4])
    assert evaluate.boot_ratio(np.ones((1, 3)), num, den)[0] == pytest.approx(0.75)
    w = evaluate.resample_weights(3, 50, seed=0)
    assert w.shape == (50, 3) and (w.sum(1) == 3).all()


def test_suggestions_name_words_of_the_vocabulary():
    dataset = ac.build(CORPUS, 8, max_length=40)
    m = models.build("lstm", cfg_of(), dataset.n_words)
    got = evaluate.suggest(m, dataset.vocab, "the cat s", k=2)
    assert len(got) == 2 and all(w in dataset.vocab for w, _ in got)
    assert got[0][1] >= got[1][1]
    with pytest.raises(IndexError):
        evaluate.suggest(m, dataset.vocab, "the", position=10)


def test_training_resumes_from_its_checkpoint_as_if_never_stopped(tmp_path):
    dataset = ac.build(CORPUS, 8, max_length=40)
    st = store.Store(tmp_path / "store")
    key = st.key("test/model", extra={"x": 1})

    def fresh():
        return models.build("gru", cfg_of(), dataset.n_words, seed=3)

    straight = fresh()
    train.train(straight, dataset, train.Schedule(6, 4, 1e-2, 0, 3, 2), progress=False)
    half = fresh()
    train.train(half, dataset, train.Schedule(3, 4, 1e-2, 0, 3, 2),
                checkpoint=(st, key), progress=False)  # fmt: skip
    resumed = fresh()  # a new process: weights from the checkpoint, not memory
    log = train.train(resumed, dataset, train.Schedule(6, 4, 1e-2, 0, 3, 2),
                      checkpoint=(st, key), progress=False)  # fmt: skip
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert {2, 4, 6} <= {r["step"] for r in log}


def test_batches_cover_each_epoch_once():
    index = np.arange(10, 20)
    seen = np.concatenate([train.batch_indices(index, 3, 0, s) for s in range(3)])
    assert len(set(seen.tolist())) == 9 and set(seen) <= set(index)
    assert not np.array_equal(train.batch_indices(index, 3, 0, 0),
                              train.batch_indices(index, 3, 0, 3))  # fmt: skip


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_connectivity_reads_the_model_as_its_logits(softmax):
    """analysis.connectivity (batched) on our model equals the per-position
    autograd reference, and its logits are the model's."""
    from rnnmem_utils.analysis import connectivity as conn

    order = np.arange(11)
    kw = dict(softmax=softmax, adaptive_cutoffs=(4,))
    m = models.build("gru", cfg_of(**kw), 11, order).to(D)
    tokens = chars_of(1, 12)[0]
    targets = torch.randint(2, 11, (12,), generator=torch.Generator().manual_seed(3))
    fast = conn.connectivity(m.connectivity_model(), tokens, targets, chunk=5)
    slow = conn.connectivity_per_position(m, tokens, targets)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    z = conn.logits(m, tokens)
    np.testing.assert_allclose(
        z, m.logits(tokens[None])[0].detach().numpy(), atol=1e-12
    )


@pytest.mark.parametrize("kind", ["gru", "lstm", "nlstm"])
def test_connectivity_sweep_through_each_model(kind):
    """The sweep (hand-written batched backward through the cells, the fused
    LSTM read through its cell-library copy) equals per-position autograd."""
    from rnnmem_utils.analysis import connectivity as conn

    m = models.build(kind, cfg_of(), 11).to(D)
    tokens = chars_of(1, 14)[0]
    targets = torch.randint(2, 11, (14,), generator=torch.Generator().manual_seed(4))
    fast = conn.connectivity(m, tokens, targets, method="sweep", normalise=False)
    slow = conn.connectivity_per_position(m, tokens, targets, normalise=False)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-14)


def test_walkthrough_facts_against_a_direct_reading():
    """Ranks from sorting the model's probabilities by hand, shares from the
    unnormalised connectivity rows by autograd."""
    from rnnmem_utils.experiments.autocomplete import published, reach

    vocab = ["<eos>", "<unknown>", "learning", "grammar", "schools", "advanced", "a"]
    models_ = {
        k: models.build(k, cfg_of(), len(vocab), seed=1).to(D) for k in models.KINDS
    }
    walk = reach.walkthrough(models_, vocab, "squared")
    facts = reach.walkthrough_facts(models_, vocab, walk)
    assert len(facts) == 3 * 6 and facts.in_vocabulary.all()
    shown = " " + published.PROBE_SENTENCE
    chars, targets = reach.encode(published.PROBE_SENTENCE, vocab)
    for kind, m in models_.items():
        with torch.no_grad():
            p = m.log_probs(torch.from_numpy(chars)[None])[0].exp().numpy()
        x = m.embed.weight[torch.from_numpy(chars)].detach().requires_grad_()
        z = m.logits_from_embedded(x[:, None])[:, 0]
        row = {}
        for t in published.WALKTHROUGH:
            (g,) = torch.autograd.grad(z[t, targets[t]], x, retain_graph=True)
            row[t] = ((g @ m.embed.weight.T) ** 2).sum(-1).detach().numpy()
        for f in facts[facts.model == kind].itertuples():
            i = vocab.index(f.word)
            assert shown[f.at - f.chars_seen] == " " and f.word.startswith(
                shown[f.at - f.chars_seen + 1 : f.at + 1]
            )
            order = np.argsort(-p[f.at], kind="stable").tolist()
            assert f.rank == order.index(i) + 1
            assert f.probability == pytest.approx(p[f.at, i])
            r = row[f.position][: f.position + 1]
            start = shown.rfind(" ", 0, f.position + 1)
            assert f.earlier_share == pytest.approx(r[:start].sum() / r.sum())
            adv = shown.index(" advanced ") + 1
            assert f.context_share == pytest.approx(r[adv : adv + 8].sum() / r.sum())
