"""E4 (PTB memory): data, alignment, training recipe, store reuse, analysis pieces.

Numbers are checked against independent computations: golden sizes of the
corpus, a hand-computed perplexity, the TF-form GRU's equations written out,
the engine's all-delay sums for the per-word delay-0 pass.
"""

import dataclasses
import math
import types

import numpy as np
import pytest
import torch

from rnnmem_utils import config
from rnnmem_utils.analysis import memory as mem
from rnnmem_utils.analysis import state_gradients as sg
from rnnmem_utils.data import corpora, ptb, treebank
from rnnmem_utils.data.corpora import DataError
from rnnmem_utils.experiments.ptb_memory import analyses, zoo
from rnnmem_utils.experiments.ptb_memory import schema as ptb_schema
from rnnmem_utils.models.lm import RecurrentLM
from rnnmem_utils.training import lm as training


def _need_ptb():
    try:
        corpora.locate("ptb.train", download=False)
        corpora.locate("treebank", download=False)
    except DataError:
        pytest.skip("PTB / treebank not in the data directory (set RNNMEM_DATA_DIR)")


@pytest.fixture(scope="module")
def train_lines():
    _need_ptb()
    return ptb.read_lines("train")


@pytest.fixture(scope="module")
def vocab(train_lines):
    return ptb.build_vocabulary(train_lines)


# ---------------------------------------------------------------------------
# PTB and the treebank alignment
# ---------------------------------------------------------------------------


def test_ptb_sizes_and_vocabulary(train_lines, vocab):
    assert len(vocab) == ptb.VOCAB_SIZE == 10_000
    assert vocab.words[:4] == ("the", "<unk>", "<eos>", "N")  # ids are ranks
    assert list(vocab.counts) == sorted(vocab.counts, reverse=True)
    for split in ptb.SPLITS:
        lines = train_lines if split == "train" else ptb.read_lines(split)
        assert len(lines) == ptb.LINES[split]
        assert len(ptb.encode(lines, vocab)) == ptb.SIZES[split]


def test_ptb_missing_file_names_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(corpora, "_fetch", lambda *a: (_ for _ in ()).throw(
        DataError(f"cannot fetch into {tmp_path}")))  # fmt: skip
    with pytest.raises(DataError, match=str(tmp_path)):
        ptb.read_lines("valid")


def test_held_out_lines_leave_training(train_lines):
    corpus = ptb.load(held_out=range(1, 11))
    removed = sum(len(line) + 1 for line in train_lines[1:11])
    assert len(corpus.train) == ptb.SIZES["train"] - removed
    assert corpus.held_out == tuple(range(1, 11))


@pytest.mark.parametrize(
    "word, expected",
    [("Pierre", "pierre"), ("61", "N"), ("3\\/4", "N"), ("1,000", "N"),
     ("23.72", "N"), ("%", "N"), ("$", "$"), ("#", "#"), ("Vinken", "<unk>"),
     ("n't", "n't")],
)  # fmt: skip
def test_normalise_word(word, expected, vocab):
    assert treebank.normalise_word(word, vocab.index) == expected


def test_normalise_drops_punctuation_and_traces(vocab):
    sent = [("Pierre", "NNP"), (",", ","), ("*T*-1", "-NONE-"), ("said", "VBD"),
            ("``", "``"), ("-LRB-", "-LRB-"), (".", ".")]  # fmt: skip
    assert treebank.normalise(sent, vocab.index) == [("pierre", "NNP"), ("said", "VBD")]


def test_alignment_counts(train_lines, vocab):
    a = treebank.align(treebank.tagged_sentences(), train_lines, vocab.index)
    assert a.n_sentences == treebank.SENTENCES
    assert len(a.pairs) == 3910  # every line 2-3911 of ptb.train.txt
    assert a.unmatched == (1845, 1849, 1850, 1854)  # lists of fined brokers
    assert a.lines_unmatched == ()
    assert a.lines == tuple(range(1, 3911))
    for _, line, sent in a.pairs[:50]:
        assert [w for w, _ in sent] == train_lines[line]


# ---------------------------------------------------------------------------
# The training recipe
# ---------------------------------------------------------------------------


class _Cfg:
    embedding_size, dropout, seed, init_scale = 8, 0.0, 0, 0.05


def _tiny(cell="lstm", vocab=30, hidden=12, seed=0):
    torch.manual_seed(seed)
    m = RecurrentLM(cell, vocab, hidden, 8)
    return m


def test_perplexity_hand_computed():
    """A model whose prediction ignores the input: p = softmax(bias)."""
    m = _tiny()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.bias.copy_(torch.log(torch.tensor([0.5, 0.25, 0.25] + [1e-9] * 27)))
    tokens = np.array([0, 1, 2, 0, 0, 1])  # targets 1, 2, 0, 0, 1
    nll = zoo.token_nll(m, tokens, seq_len=2)
    probs = np.array([0.25, 0.25, 0.5, 0.5, 0.25])
    expected = math.exp(-np.log(probs).mean())
    assert math.exp(nll.mean().item()) == pytest.approx(expected, rel=1e-5)


def test_lr_schedule_values():
    s = training.TrainSettings(9, 4, 5, 1.0, "sgd", lr_decay=0.8, decay_after=6)
    assert [round(s.lr_at(e), 6) for e in range(9)] == [
        1,
        1,
        1,
        1,
        1,
        1,
        0.8,
        0.64,
        0.512,
    ]


def _train(settings, seed=0):
    m = _tiny(seed=seed)
    tokens = np.random.default_rng(0).integers(0, 30, 400)
    torch.manual_seed(1)
    log = training.train(m, tokens, settings, progress=False)
    return m, log


def _same(a, b):
    return all(
        torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True)
    )


def test_lr_schedule_changes_training():
    base = dict(epochs=3, batch_size=4, seq_len=10, lr=1.0, optimizer="sgd")
    with_decay, log = _train(
        training.TrainSettings(**base, lr_decay=0.5, decay_after=1)
    )
    without, _ = _train(training.TrainSettings(**base))
    assert [r["lr"] for r in log] == [1.0, 0.5, 0.25]
    assert not _same(with_decay, without)


def test_clipping_changes_training():
    base = dict(epochs=1, batch_size=4, seq_len=10, lr=5.0, optimizer="sgd")
    clipped, _ = _train(training.TrainSettings(**base, clip=0.01))
    free, _ = _train(training.TrainSettings(**base))
    assert not _same(clipped, free)


def test_resume_from_epoch_checkpoint_equals_uninterrupted(tmp_path):
    base = dict(batch_size=4, seq_len=10, lr=1.0, optimizer="sgd", clip=5.0,
                lr_decay=0.5, decay_after=1)  # fmt: skip
    whole, _ = _train(training.TrainSettings(epochs=3, **base))
    ck = tmp_path / "ck.pt"
    m = _tiny()
    tokens = np.random.default_rng(0).integers(0, 30, 400)
    torch.manual_seed(1)
    training.train(m, tokens, training.TrainSettings(epochs=2, **base), ck, False)
    resumed = _tiny(seed=99)  # a fresh process: other weights until loaded
    torch.manual_seed(12345)  # the checkpoint restores the RNG
    log = training.train(resumed, tokens, training.TrainSettings(epochs=3, **base), ck,
                         False)  # fmt: skip
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert _same(whole, resumed)


@pytest.mark.parametrize("clip", [5.0, 1e-3, 1e6])  # clipped or not
def test_e4_step_is_the_papers_summed_cost_step(clip):
    """One update of E4's training equals the paper's TF update, computed here
    independently: cost = cross-entropy summed over the unrolled steps / batch
    size, its gradient clipped to global norm ``clip``, SGD at ``lr``."""
    cfg = types.SimpleNamespace(epochs=1, batch_size=2, seq_len=7, lr=0.3,
                                clip=clip, lr_decay=0.8, decay_after=6)  # fmt: skip
    tokens = np.random.default_rng(0).integers(0, 30, 2 * 8)  # one chunk of 7
    ours, ref = _tiny(), _tiny()
    torch.manual_seed(1)
    training.train(ours, tokens, zoo.settings(cfg), progress=False)
    data = training.batchify(tokens, cfg.batch_size)
    torch.manual_seed(1)  # the same dropout masks (none in _tiny) and order
    ref.train()
    logits, _ = ref(data[:-1], ref.init_state(cfg.batch_size))
    cost = (
        torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), data[1:].flatten(), reduction="sum"
        )
        / cfg.batch_size
    )
    cost.backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), cfg.clip)
    with torch.no_grad():
        for w in ref.parameters():
            w -= cfg.lr * w.grad
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_paper_initialisation():
    m = zoo.build(_Cfg, "lstm256", 50)
    assert m.rnn.bias_ih_l0.abs().max() == 0 and m.rnn.bias_hh_l0.abs().max() == 0
    for p in (m.embedding.weight, m.rnn.weight_hh_l0, m.decoder.weight):
        assert p.abs().max() <= 0.05 and p.std() > 0.02


# ---------------------------------------------------------------------------
# The TF-form GRU language model
# ---------------------------------------------------------------------------


def test_gru_tf_step_against_its_equations():
    m = _tiny("gru_tf")
    x, h = torch.randn(3, 8), torch.randn(3, 12)
    w_x, w_h, b = m.rnn.W_x, m.rnn.W_h, m.rnn.b
    H = 12
    r = torch.sigmoid(x @ w_x[:, :H] + h @ w_h[:, :H] + b[:H])
    z = torch.sigmoid(x @ w_x[:, H : 2 * H] + h @ w_h[:, H : 2 * H] + b[H : 2 * H])
    n = torch.tanh(x @ w_x[:, 2 * H :] + (r * h) @ w_h[:, 2 * H :] + b[2 * H :])
    expected = (1 - z) * n + z * h
    (got,) = m.step(x, (h,))
    torch.testing.assert_close(got, expected)


def test_gru_tf_loop_equals_steps_and_engine_matches_naive():
    m = _tiny("gru_tf").double()
    tokens = torch.randint(0, 30, (9, 2))
    logits, (last,) = m(tokens)
    states = m.states(tokens)["h"]
    torch.testing.assert_close(last, states[-1])
    torch.testing.assert_close(logits, m.decoder(states))
    sums = sg.state_gradient_sums(m, tokens[:, :1], {"t": _at(9, 8)}, state="h",
                                  max_delay=4)  # fmt: skip
    naive = sg.naive_state_gradients(m, tokens[:, :1], 8, state="h", max_delay=4)
    torch.testing.assert_close(sums.mean()[0], naive)


def _at(n, t):
    mask = torch.zeros(n, 1, dtype=torch.bool)
    mask[t] = True
    return mask


# ---------------------------------------------------------------------------
# Analysis pieces
# ---------------------------------------------------------------------------


def test_per_word_delay0_equals_engine_groups():
    m = _tiny().double()
    tokens = torch.randint(0, 6, (15, 3))
    words, sums, counts = analyses.per_word_delay0(m, tokens, state="c")
    ref = sg.state_gradient_sums(m, tokens, {str(int(w)): tokens == w for w in words},
                                 state="c", max_delay=1)  # fmt: skip
    torch.testing.assert_close(counts, ref.counts[:, 0])
    torch.testing.assert_close(sums, ref.sums[:, 0])


def _e4_cfg(**kw):
    base = dict(positions=400, seed=0, max_delay=3, gradient_streams=2, bootstrap=30)
    return types.SimpleNamespace(**{**base, **kw})


def test_e4_groups_by_source_on_a_constructed_text():
    """Every E4 grouping is the paper's: G[t, tau] = d s_t / d e_{t-tau}
    filed under the class of the word at t - tau. A text in which each noun
    is followed by a determiner tells it apart from filing by the word at t:
    the nouns' mean at delay 1 is then the memory of nouns one step later,
    not the memory of the determiners that precede them."""
    m = _tiny().double().eval()
    d = 3
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 30, 400)
    tags = np.array(["JJ"] * 400, dtype=object)
    ids[::4], tags[::4] = 0, "NN"  # noun, then a determiner
    ids[1::4], tags[1::4] = 1, "DT"
    cfg = _e4_cfg(max_delay=d)
    smp = analyses.sample(m, ids, cfg)
    sums = analyses.group_sums(m, smp, {"pos": analyses.pos_grouping(tags)}, cfg)
    nouns = sums["pos"].mean(sums["pos"].index("N"))
    # naive reference: the per-unit loop over every target of each segment
    tokens = torch.as_tensor(ids)[:, None]
    total = {"source": torch.zeros(d, 12, 8, dtype=torch.float64)}
    total["target"] = total["source"].clone()
    count = {k: torch.zeros(d, dtype=torch.float64) for k in total}
    for seg in smp.positions.T:
        for k, t in enumerate(seg):
            g = sg.naive_state_gradients(m, tokens, int(t), max_delay=d)
            for tau in range(min(k, d - 1) + 1):
                for by, pos in (("source", t - tau), ("target", t)):
                    if tags[pos] == "NN":
                        total[by][tau] += g[tau]
                        count[by][tau] += 1
    mean = {k: total[k] / count[k][:, None, None] for k in total}
    torch.testing.assert_close(nouns, mean["source"], atol=1e-10, rtol=0)
    assert (nouns[1] - mean["target"][1]).abs().max() > 1e-4


def test_draws_value_is_the_full_mean_and_survives_the_store():
    g = torch.randn(1, 4, 3, 5, 2, dtype=torch.float64)  # 4 blocks, D=3, H=5, E=2
    counts = torch.tensor([[[2.0, 2, 1], [1, 1, 1], [3, 3, 2], [1, 2, 2]]])
    sums = mem.BlockSums(g, counts, ("all",))
    packed = analyses.draws({"all": sums}, _e4_cfg())["all"]["all"]
    out = analyses.unpack(packed)
    mean = g[0].sum(0) / counts[0].sum(0)[:, None, None]
    sv = torch.linalg.svdvals(mean).numpy()
    np.testing.assert_allclose(out["sigma_1"][0], sv[:, 0])
    np.testing.assert_allclose(out["selectiveness"][0], sv[:, 0] / sv.sum(-1))
    assert out.boot.shape == (30, len(analyses.STATISTICS), 3)
    table = analyses.tidy({"all": out}, model="m")
    assert list(table.columns[:2]) == ["model", "group"] and len(table) == 4 * 3
    assert (table.lo <= table.hi).all() and table["count"].iloc[0] == 7


def test_sample_refuses_too_many_positions():
    with pytest.raises(ValueError, match="analysis tokens"):
        analyses.sample(_tiny(), np.zeros(1000, dtype=int), _e4_cfg(positions=1200))


# ---------------------------------------------------------------------------
# Configuration, data checks, the store
# ---------------------------------------------------------------------------


def test_config_registry_and_variants():
    assert ptb_schema.PTB_VARIANTS == tuple(zoo.VARIANTS)
    assert config.EXPERIMENTS["ptb_memory"].entry.endswith("ptb_memory.main:run")
    for preset in config.PRESET_NAMES:
        config.resolve("ptb_memory", preset)
    with pytest.raises(config.ConfigError, match="lstm256"):
        config.resolve("ptb_memory", "smoke", {"variants": ["gru256"]})


def test_wikitext_missing_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    cfg = config.resolve("ptb_memory", "paper")
    with pytest.raises(DataError, match="wiki.train.tokens"):
        zoo.check_available(cfg)


def test_store_trains_a_model_once(tmp_path, monkeypatch):
    _need_ptb()
    cfg = config.resolve(
        "ptb_memory", "smoke", {"train_tokens": 4_200, "eval_tokens": 300}
    )
    corpus = ptb.load(held_out=range(1, 3911), train_tokens=cfg.train_tokens)
    calls = []
    real = training.train
    monkeypatch.setattr(
        training, "train", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    m1, rec1, key1 = zoo.trained(cfg, "lstm256", corpus, tmp_path, progress=False)
    m2, rec2, key2 = zoo.trained(cfg, "lstm256", corpus, tmp_path, progress=False)
    assert calls == [1] and key1 == key2
    assert _same(m1, m2) and rec1["ppl"] == rec2["ppl"]
    other = dataclasses.replace(cfg, seed=1)
    zoo.trained(other, "lstm256", corpus, tmp_path, progress=False)
    assert calls == [1, 1]  # another seed is another model


def test_jobs_run_as_units_of_the_executor_models_first(monkeypatch, tmp_path):
    """E4's jobs go through the one unit scheduler (map_units: a local pool of
    ``workers`` processes or the Dask cluster), every model before any
    analysis, each job in a single-threaded unit."""
    from rnnmem_utils.experiments.ptb_memory import units

    cfg = config.resolve("ptb_memory", "smoke", {"workers": 2})
    jobs = units.plan(cfg)
    calls, ran = [], []
    monkeypatch.setattr(units, "compute", lambda c, job, out, progress: ran.append(
        (job, torch.get_num_threads())))  # fmt: skip

    def fake_map(fn, items, *, jobs, out_dir, label):
        calls.append(([label(x) for x in items], jobs, out_dir))
        return [fn(x) for x in items]

    monkeypatch.setattr(units, "map_units", fake_map)
    units.run_parallel(cfg, jobs, tmp_path)
    assert [j for j, _ in ran] == [j for j in jobs if j[0] == "model"] + [
        j for j in jobs if j[0] != "model"
    ]
    assert all(threads == 1 for _, threads in ran)
    assert len(calls) == 2 and all(c[1] == 2 and c[2] == tmp_path for c in calls)
    assert calls[0][0] == [" ".join(j) for j in jobs if j[0] == "model"]
    units.run_parallel(config.resolve("ptb_memory", "smoke"), jobs, tmp_path)
    assert len(calls) == 2  # one worker: nothing here, collect computes them


def test_per_word_delay0_against_autograd():
    """Mean G[t, 0] = d c_t / d e_t per word, from the engine's folded step,
    against autograd through torch's fused nn.LSTM one position at a time."""
    m = _tiny().double()
    tokens = torch.randint(0, 6, (7, 2))
    words, sums, counts = analyses.per_word_delay0(m, tokens, state="c")
    xs = m.embed(tokens).detach()
    want = torch.zeros_like(sums)
    state = m.init_state(2)
    for t in range(len(xs)):
        for b in range(2):

            def c_t(x, t=t, b=b, state=state):
                packed = tuple(s[b : b + 1, None].transpose(0, 1) for s in state)
                _, (_, c) = m.rnn(x[None, None], packed)
                return c[0, 0]

            jac = torch.autograd.functional.jacobian(c_t, xs[t, b])  # (H, E)
            want[(words == tokens[t, b]).nonzero()[0, 0]] += jac
        with torch.no_grad():
            _, state = m(tokens[t : t + 1], state)
    torch.testing.assert_close(sums, want)
    torch.testing.assert_close(counts, torch.bincount(
        torch.searchsorted(words, tokens.flatten()), minlength=len(words)).double())  # fmt: skip


@pytest.mark.parametrize("variants", [["lstm256", "untrained"],
                                      ["lstm256", "rnn256", "untrained"]])  # fmt: skip
def test_table2_claims_exist_whatever_the_variants(variants):
    """The notebook shows ppl_rnn_far_worse in every run: without the vanilla
    RNN it says 'not run' (a paper dry run without it failed at that cell)."""
    from rnnmem_utils import claims as cl
    from rnnmem_utils.experiments.ptb_memory import claims as pc

    cfg = config.resolve("ptb_memory", "smoke", {"variants": variants})
    blocks = list(np.linspace(4.0, 5.0, 50))
    ppl = {n: {"valid": 90.0, "test": 100.0, "test_blocks": blocks}
           for n in variants if n != "untrained"}  # fmt: skip
    cs = cl.ClaimSet("ptb_memory", cfg, "smoke")
    pc._table2(cs, cfg, {"extra": {"ppl": ppl}})
    (claim,) = [c for c in cs.claims if c.id == "ppl_rnn_far_worse"]
    assert (claim.verdict == "not run at this preset") == ("rnn256" not in variants)


def test_figure_8a_draws_a_class_whose_interval_rounds_above_its_value():
    """A class whose bootstrap draws are all alike has lo = value up to float32
    rounding; lo just above the value (the smoke run on an AVX-512 machine)
    must draw a zero-length bar, not stop the notebook."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from rnnmem_utils.plotting import ptb_memory as pp

    rows = [
        dict(group=g, delay=d, statistic=s, value=v, lo=v * (1 - 1e-3), hi=v * 1.001)
        for g, v in (("N", 2.0), ("Conj-P", 0.009231168101499569))
        for s, d in (("sigma_1", 0), ("sum_sigma", 5))
    ]
    rows[2]["lo"] = 0.009231169035011607  # Conj-P sigma_1: lo 9e-10 above value
    fig = pp.pos_classes(pd.DataFrame(rows).assign(model="lstm256", state="c"))
    assert len(fig.axes) == 2
    plt.close(fig)
