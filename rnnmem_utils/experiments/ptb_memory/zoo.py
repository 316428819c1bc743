"""E4's model zoo: the PTB language models of Verwimp et al. (2018), Table 2.

Every model is the paper's baseline (section 4.3.1) with one thing changed:
embedding 64, one recurrent layer, dropout 0.5 on the recurrent output only,
SGD lr 1 for 6 epochs then x0.8 per epoch, gradient-norm clipping 5, batch
20, 200 unrolled steps with the state carried, uniform init +-0.05 (their
TF 1.8 code: biases zero, forget bias 0). The variants change the seed, the
cell (the GRU in TensorFlow's form, a vanilla RNN), the hidden size, or leave
the weights untrained. Trained models live in the store, keyed by the
configuration fields and code they depend on (:func:`trained`); training
checkpoints every epoch and resumes from the last one.

PTB models are trained on ``ptb.train.txt`` less the treebank lines, which
are E4's gold-tagged analysis set (:mod:`rnnmem_utils.data.treebank`); the
``wiki2_*`` models on WikiText-2 with its own vocabulary
(:mod:`rnnmem_utils.data.wikitext`), by the same loop.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import torch

from ... import store
from ...data import corpora, ptb, wikitext
from ...models.lm import RecurrentLM
from ...training import lm as training

SOURCE = "Verwimp et al. 2018, section 4.3.1 and Table 2"


@dataclass(frozen=True)
class Variant:
    """One model of the zoo: what differs from the baseline."""

    label: str  # as in Table 2
    cell: str = "lstm"
    hidden_size: int = 256
    seed_offset: int = 0  # added to cfg.seed
    trained: bool = True
    corpus: str = "ptb"


VARIANTS = {
    "lstm256": Variant("PTB LSTM seed 2 (baseline)"),
    "lstm256_seed1": Variant("PTB LSTM seed 1", seed_offset=1),
    "lstm256_seed2": Variant("PTB LSTM seed 3", seed_offset=2),
    "gru256": Variant("PTB GRU", cell="gru_tf"),
    "rnn256": Variant("PTB RNN", cell="rnn"),
    "lstm128": Variant("PTB LSTM 128", hidden_size=128),
    "lstm512": Variant("PTB LSTM 512", hidden_size=512),
    "untrained": Variant("PTB LSTM, random weights", trained=False),
    "wiki2_256": Variant("Wiki-2 256", corpus="wikitext2"),
    "wiki2_512": Variant("Wiki-2 512", hidden_size=512, corpus="wikitext2"),
}
# Table 2 (valid, test); the untrained model has none
PUBLISHED_PPL = {
    "lstm256_seed1": (107.6, 104.9),
    "lstm256": (103.3, 103.8),
    "lstm256_seed2": (106.4, 104.2),
    "gru256": (110.4, 108.2),
    "rnn256": (686.4, 648.3),
    "lstm128": (119.1, 115.3),
    "lstm512": (101.1, 99.8),
    "wiki2_256": (126.2, 118.0),
    "wiki2_512": (119.5, 111.8),
}
# Table 2 rows we cannot train, and why (a "not reproducible" claim each)
NOT_REPRODUCIBLE = {
    "PTB LSTM cbow WSJ (99.1 / 95.7)": (
        "needs word2vec embeddings trained on the CSR LM-1 WSJ corpus (LDC, "
        "licensed, 110M words) in the authors' own PTB/WSJ normalisation; neither "
        "the corpus nor the embeddings are public"
    ),
    "Wiki-103 512 (43.4 / 42.1)": (
        "100M training words: days on a CPU, and WikiText-103 is not in the data mirror"
    ),
}

# What a trained model depends on (the analyses never retrain it)
MODEL_FIELDS = ("epochs", "train_tokens", "eval_tokens", "embedding_size", "batch_size", "seq_len",
                "lr", "decay_after", "lr_decay", "clip", "dropout", "init_scale",
                "seed")  # fmt: skip
MODEL_CODE = ("rnnmem_utils.models.lm", "rnnmem_utils.models.cells",
              "rnnmem_utils.training.lm", "rnnmem_utils.data.ptb",
              "rnnmem_utils.data.wikitext",
              "rnnmem_utils.experiments.ptb_memory.zoo")  # fmt: skip


def build(cfg, name: str, vocab_size: int) -> RecurrentLM:
    """Variant ``name`` with the paper's initialisation (weights U(+-init_scale),
    biases of the recurrent layer zero as TensorFlow's cells start)."""
    v = VARIANTS[name]
    model = RecurrentLM(
        v.cell, vocab_size, v.hidden_size, cfg.embedding_size, cfg.dropout
    )
    gen = torch.Generator().manual_seed(cfg.seed + v.seed_offset)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.startswith("rnn.") and ("bias" in pname or pname == "rnn.b"):
                p.zero_()
            else:
                p.uniform_(-cfg.init_scale, cfg.init_scale, generator=gen)
    return model


def settings(cfg) -> training.TrainSettings:
    """The paper's update in our loop. Their TF cost is the cross-entropy
    SUMMED over the ``seq_len`` unrolled steps and averaged over the batch
    (``reduce_sum(loss) / batch_size``, lverwimp/state_gradients lm.py, as
    the TF PTB tutorial); :func:`training.train` averages over the steps too,
    a gradient ``seq_len`` times smaller. Scaling the learning rate by
    ``seq_len`` and the clipping threshold by ``1 / seq_len`` gives exactly
    their step, lr * clip_5(seq_len * g) = (seq_len * lr) * clip_{5/seq_len}(g):
    with the mean loss at lr 1 the steps are 200 times too short and the
    models sit on the unigram plateau (test perplexity ~670 after 2 epochs)."""
    return training.TrainSettings(
        cfg.epochs, cfg.batch_size, cfg.seq_len, cfg.lr * cfg.seq_len, "sgd",
        cfg.clip / cfg.seq_len, checkpoint_every=50, lr_decay=cfg.lr_decay,
        decay_after=cfg.decay_after,
    )  # fmt: skip


def held_out_digest(lines) -> str:
    """A short name for the set of held-out training lines (part of model keys)."""
    return hashlib.sha256(",".join(map(str, lines)).encode()).hexdigest()[:16]


def model_key(cfg, name: str, held_out) -> store.UnitKey:
    v = VARIANTS[name]
    return store.Store().key(
        "ptb_memory/model", cfg, MODEL_FIELDS, code=MODEL_CODE,
        extra={"variant": name, "cell": v.cell, "hidden_size": v.hidden_size,
               "seed_offset": v.seed_offset, "corpus": v.corpus,
               "held_out": held_out_digest(held_out)},
    )  # fmt: skip


def trained(cfg, name: str, corpus: ptb.Corpus, out_dir, progress=True):
    """Variant ``name`` trained (once, in the store; resumed from its last
    checkpoint) with its log and perplexities: ``(model, record, key)``."""
    v = VARIANTS[name]
    model = build(cfg, name, len(corpus.vocab))
    if not v.trained:
        ppl = evaluate(model, corpus, cfg.eval_tokens)
        return model.eval(), {"log": [], "ppl": ppl}, None
    st = store.Store(user=out_dir)
    key = model_key(cfg, name, corpus.held_out)

    def train_it():
        gen_state = torch.random.fork_rng()
        with gen_state:
            torch.manual_seed(cfg.seed + v.seed_offset + 1000)  # dropout masks
            ckpt = st.path(key) / store.CHECKPOINT
            log = training.train(model, corpus.train, settings(cfg), ckpt, progress)
        ppl = evaluate(model, corpus, cfg.eval_tokens)
        return {"model": model.state_dict(), "log": log, "ppl": ppl}

    stored = st.stage(key, train_it, kind="torch")
    model.load_state_dict(stored["model"])
    return model.eval(), {"log": stored["log"], "ppl": stored["ppl"]}, key.digest


def evaluate(model, corpus: ptb.Corpus, n_tokens=0, blocks: int = 50) -> dict:
    """Validation and test perplexity (of the first ``n_tokens`` of each; 0:
    all), the state carried through each split, and the test set's mean NLL
    in ``blocks`` contiguous blocks (for intervals)."""
    cut = slice(None, n_tokens or None)
    nll = {s: token_nll(model, t[cut]) for s, t in (("valid", corpus.valid),
                                                    ("test", corpus.test))}  # fmt: skip
    return {
        "valid": math.exp(nll["valid"].mean().item()),
        "test": math.exp(nll["test"].mean().item()),
        "test_blocks": [b.mean().item() for b in nll["test"].tensor_split(blocks)],
    }


@torch.no_grad()
def token_nll(model, tokens, seq_len: int = 200) -> torch.Tensor:
    """-log p(tokens[t+1] | tokens[..t]) for every t, one stream, the state
    carried; chunked so the (T, V) log-probabilities never exist at once."""
    model.eval()
    data = torch.as_tensor(tokens, dtype=torch.long).view(-1, 1)
    state, out = None, []
    for x, y in training.chunks(data, seq_len):
        logits, state = model(x, state)
        out.append(torch.nn.functional.cross_entropy(
            logits[:, 0], y[:, 0], reduction="none"))  # fmt: skip
    return torch.cat(out)


def check_available(cfg) -> None:
    """Refuse, before any training, variants whose data is missing or wrong."""
    wiki = [n for n in cfg.variants if VARIANTS[n].corpus == "wikitext2"]
    for split in wikitext.SPLITS if wiki else ():
        try:
            wikitext.read(split)
        except corpora.DataError as e:
            raise corpora.DataError(
                f"variants {wiki} train on WikiText-2: {e}\nThe public data mirror "
                "holds only its valid and test splits. Or leave those variants "
                "out: overrides={'variants': [...]} without 'wiki2_256', "
                "'wiki2_512'."
            ) from None


def load_corpus(name: str, ptb_corpus: ptb.Corpus, train_tokens: int = 0):
    """The corpus variant ``name`` trains on: PTB (less the held-out lines,
    ``ptb_corpus``) or WikiText-2 with its own vocabulary."""
    if VARIANTS[name].corpus == "wikitext2":
        return _wikitext(train_tokens or None)
    return ptb_corpus


@functools.lru_cache(maxsize=1)
def _wikitext(train_tokens):
    return wikitext.load(train_tokens)


def table2_rows(ppl: dict[str, dict]) -> list[dict]:
    """Our perplexities beside Table 2's, one row per model."""
    rows = []
    for name, ours in ppl.items():
        pub = PUBLISHED_PPL.get(name, (math.nan, math.nan))
        rows.append(
            {"model": name, "label": VARIANTS[name].label,
             "hidden_size": VARIANTS[name].hidden_size,
             "valid_ours": ours["valid"], "test_ours": ours["test"],
             "valid_paper": pub[0], "test_paper": pub[1]}
        )  # fmt: skip
    return rows
