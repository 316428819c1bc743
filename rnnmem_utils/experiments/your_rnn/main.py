"""The run of lesson 06, memory analysis of your own RNN (see the package's docstring)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import api, io, store
from ...data import corpora
from ..harness import Results, results, single_thread
from .claims import make_claims

EXPERIMENT = "your_rnn"
UNK = "<unk>"
MODEL_FIELDS = ("train_tokens", "vocab_size", "embedding_size", "hidden_size",
                "seq_len", "batch_size", "steps", "lr", "seed")  # fmt: skip
# The model depends on this module (its training); the analyses on the model,
# this module and the API's engines. The claims (claims.py) on neither.
_CODE = ("rnnmem_utils.experiments.your_rnn.main",)
_ANALYSIS_CODE = (
    *_CODE,
    "rnnmem_utils.api.*",
    "rnnmem_utils.analysis.state_gradients",
    "rnnmem_utils.analysis.connectivity",
    "rnnmem_utils.models.cells",
)


class WordLanguageModel(nn.Module):
    """The shape of PyTorch's word-language-model example (``RNNModel``):
    ``encoder`` (embedding), ``rnn`` (nn.LSTM), ``decoder`` (linear)."""

    def __init__(self, ntoken, ninp, nhid, nlayers=1, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, ids, hidden=None):
        out, hidden = self.rnn(self.drop(self.encoder(ids)), hidden)
        return self.decoder(self.drop(out)), hidden


def run(
    cfg, out_dir, *, preset: str = "default", needs=None, progress: bool = True
) -> Results:
    """Train (or load from the store) the model, run the analyses, write the
    tables, figures' data and claims."""
    out_dir = Path(out_dir)
    words = read_words(cfg.train_tokens + cfg.analysis_tokens)
    vocab, ids = vocabulary(words, cfg.vocab_size)
    train, text = ids[: cfg.train_tokens], ids[cfg.train_tokens :]
    with single_thread():
        model, log = trained_model(cfg, train, len(vocab), out_dir, progress)
        tables = analyse(cfg, model, text, train, out_dir, progress)
    tables["training_log"] = log
    for name, table in tables.items():
        io.write_csv(out_dir / f"{name}.csv", table)
    claims = make_claims(cfg, preset, tables)
    claims.write(out_dir)
    res = results(EXPERIMENT, preset, claims, model=model, vocab=vocab,
                  sentence=text[: cfg.connectivity_tokens], **tables)  # fmt: skip
    explorer_page(cfg, res, out_dir)
    return res


def read_words(n: int) -> list[str]:
    """The first ``n`` words of PTB's training text, ``<eos>`` at line ends."""
    words = []
    for line in corpora.read_text("ptb.train").splitlines():
        words += line.split() + ["<eos>"]
        if len(words) >= n:
            break
    return words[:n]


def vocabulary(words, size: int) -> tuple[list[str], np.ndarray]:
    """The ``size - 1`` most frequent words plus ``<unk>``, and the ids."""
    common = [w for w, _ in Counter(words).most_common() if w != UNK][: size - 1]
    vocab = [UNK, *common]
    index = {w: i for i, w in enumerate(vocab)}
    return vocab, np.array([index.get(w, 0) for w in words], dtype=np.int64)


# Training steps between checkpoints: about 2 min at `paper` (20,000 steps in
# about 80 min), so an interrupted run loses at most that.
CHECKPOINT_EVERY = 500


def trained_model(cfg, train, n_vocab, out_dir, progress):
    """The model of the example's shape, trained with truncated BPTT (state
    carried across windows) and Adam; a unit of the store, resumable from its
    last checkpoint."""
    st = store.Store(user=out_dir)
    key = st.key(f"{EXPERIMENT}/model", cfg, MODEL_FIELDS, code=_CODE)

    def compute():
        return _train(cfg, train, n_vocab, progress, checkpoint=(st, key))

    unit = st.stage(key, compute, kind="torch")
    model = WordLanguageModel(n_vocab, cfg.embedding_size, cfg.hidden_size)
    model.load_state_dict(unit["state"])
    return model.eval(), pd.DataFrame(unit["log"])


def _train(cfg, train, n_vocab, progress, checkpoint=None) -> dict:
    """Train from ``cfg.seed``; with ``checkpoint`` (``(store, key)``) save the
    whole training state every :data:`CHECKPOINT_EVERY` steps and resume from
    it: the model, Adam's moments, the step, the position in the streams and
    the carried LSTM state (the model has no dropout, so nothing random is
    left), so a resumed run ends with the weights of an uninterrupted one."""
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    model = WordLanguageModel(n_vocab, cfg.embedding_size, cfg.hidden_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data = api.as_streams(train, streams=cfg.batch_size)  # (T, B)
    hidden, log, pos, start = None, [], 0, 0
    saved = checkpoint[0].load_checkpoint(checkpoint[1]) if checkpoint else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        start, log, carried = saved["step"], saved["log"], saved["carried"]
        pos, hidden = carried["pos"], tuple(carried["hidden"]) or None
    steps = tqdm(range(start, cfg.steps), disable=not progress, desc="training",
                 initial=start, total=cfg.steps)  # fmt: skip
    for step in steps:
        if pos + cfg.seq_len + 1 > len(data):
            pos, hidden = 0, None
        x, y = data[pos : pos + cfg.seq_len], data[pos + 1 : pos + cfg.seq_len + 1]
        logits, hidden = model(x, hidden)
        hidden = tuple(h.detach() for h in hidden)
        loss = nn.functional.cross_entropy(logits.reshape(-1, n_vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        pos += cfg.seq_len
        if step % 50 == 0 or step == cfg.steps - 1:
            log.append({"step": step, "train_loss": loss.item()})
        if checkpoint and (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < cfg.steps:
            checkpoint[0].save_checkpoint(checkpoint[1], {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "step": step + 1, "log": log,  # the step: `rnnmem store list`
                "carried": {"pos": pos, "hidden": list(hidden)},
            })  # fmt: skip
    return {"state": model.state_dict(), "log": log}


def frequency_bins(train, text, n_bins: int) -> np.ndarray:
    """Each analysed word's frequency bin in the training text: equal-count
    bins of positions, ``0`` = the rarest words, ``n_bins - 1`` = the most
    frequent (named by their range of training counts)."""
    counts = np.bincount(train, minlength=int(max(train.max(), text.max())) + 1)
    c = counts[text].astype(float)
    edges = np.unique(np.quantile(c, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, len(edges) - 2)
    names = [f"{int(edges[b])}-{int(edges[b + 1])}" for b in range(len(edges) - 1)]
    return np.array([f"{b}: {names[b]}" for b in bins])


def analyse(cfg, model, text, train, out_dir, progress) -> dict:
    """The three questions, each a unit of the store keyed by the model."""

    def unit(name, compute):
        return store.cached(out_dir, f"{EXPERIMENT}/{name}", cfg, compute,
                            code=_ANALYSIS_CODE)  # fmt: skip

    labels = frequency_bins(train, text, cfg.frequency_bins)
    grads = unit("state_gradients", lambda: api.state_gradients(
        model, text, labels=labels, state="c", max_delay=cfg.max_delay,
        streams=cfg.streams, progress=progress))  # fmt: skip
    probes = unit("delay_probes", lambda: delay_probes(cfg, model, text))
    capacity = unit("memory_capacity", lambda: capacity_table(cfg, model))
    sentence = text[: cfg.connectivity_tokens]
    connect = unit("connectivity", lambda: api.connectivity(model, sentence))
    return {"state_gradients": grads, "delay_probes": probes,
            "memory_capacity": capacity, "connectivity": connect}  # fmt: skip


def explorer_page(cfg, results, out_dir) -> None:
    """The connectivity explorer for the analysed sentence, beside the results."""
    api.explorer_page({"LSTM": results.model}, results.sentence, results.vocab,
                      path=Path(out_dir) / "explorer.html",
                      title="Your RNN: connectivity explorer")  # fmt: skip


def delay_probes(cfg, model, text) -> pd.DataFrame:
    """Held-out accuracy of an LDA read-out of the word ``k`` steps back from
    the cell and hidden states, among the ``probe_words`` most frequent."""
    st = api.states(model, text, streams=1)
    ids = text[: len(st["c"])]
    rows = []
    for k in cfg.probe_delays:
        past, now = ids[: len(ids) - k], np.arange(k, len(ids))
        keep = (past > 0) & (past < cfg.probe_words)  # frequent words, not <unk>
        for name in ("c", "h"):
            x = st[name][now[keep], 0]
            row = api.probe(x, past[keep], kind="lda", seed=cfg.seed).iloc[0]
            rows.append({"delay": k, "state": name, **row.drop("state").to_dict()})
    return pd.DataFrame(rows)


def capacity_table(cfg, model) -> pd.DataFrame:
    """Memory capacity per delay of an ESN and of an LSTM of the same size
    (untrained, scalar input: the model above reads words, not a signal),
    driven by the same i.i.d. uniform signal."""
    rng = np.random.default_rng(cfg.seed)
    u = rng.uniform(-1, 1, cfg.mc_steps)
    torch.manual_seed(cfg.seed)
    lstm = nn.LSTM(1, cfg.hidden_size)
    frames = []
    for name, x in (
        ("echo state network", api.esn_states(u, units=cfg.hidden_size, seed=cfg.seed)),
        ("LSTM (untrained)", api.drive(lstm, u, state="c")),
    ):
        mc = api.memory_capacity(x, u, max_delay=cfg.mc_max_delay)
        frames.append(mc.assign(network=name, units=cfg.hidden_size))
    return pd.concat(frames, ignore_index=True)
