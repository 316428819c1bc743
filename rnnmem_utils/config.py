"""Resolve an experiment's configuration: presets + overrides -> one frozen dataclass.

``resolve(experiment, preset, overrides)`` is the only way notebooks, the CLI and
tests obtain a configuration. It refuses, before any work starts, an unknown
experiment, an unknown preset, an unknown override (suggesting the closest
name), a value of the wrong type and a value out of range, always naming the
valid choices (the habit of nanoGPT's ``configurator.py`` and flax's
``lock_config``). NaN and infinity are refused for every float. Rules between
fields (a delay shorter than the sequence, a held-out part smaller than the
data) are declared once per schema as :class:`Rule` s in its ``rules`` and are
checked whenever a configuration is built, so the CLI, a notebook run directly
by papermill and a test all refuse alike, before any work.

The numbers themselves live in :mod:`rnnmem_utils.presets`; this module holds
the *schema*: one frozen dataclass per experiment whose fields carry a help
text and their valid range. Both modules are leaves: they import neither torch
nor any other part of the library, so the CLI can validate without loading
models.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from . import presets as _presets

PRESET_NAMES = ("smoke", "default", "paper")


class ConfigError(ValueError):
    """A configuration request that cannot be honoured; the message says why."""


def param(help: str, *, min=None, max=None, choices=None):  # noqa: A002
    """A dataclass field with a help text and its valid range or choices.

    ``min``/``max`` are inclusive bounds; for a tuple they apply to each element,
    as do ``choices``.
    """
    return field(metadata={"help": help, "min": min, "max": max, "choices": choices})


@dataclass(frozen=True)
class Rule:
    """A rule between fields that no single field's range can express.

    ``holds(cfg)`` must be true. ``text`` states the rule in the fields' names
    (listed by :func:`describe`), ``why`` says what would break otherwise;
    ``fields`` are the fields whose values the refusal shows.
    """

    fields: tuple[str, ...]
    holds: Callable[[Any], bool]
    text: str
    why: str

    def message(self, cfg) -> str:
        values = ", ".join(f"{f}={getattr(cfg, f)!r}" for f in self.fields)
        return f"{values} breaks the rule {self.text}: {self.why}"


SEED_MAX = 2**32 - 1  # numpy's and torch's seeds fit; seed * 1000 + i still fits


@dataclass(frozen=True)
class Schema:
    """Base of every experiment's configuration.

    A subclass declares its cross-field ``rules`` (extending its parent's) and,
    when it reads stored data, ``data_needs``; ``__post_init__`` checks the rules
    whenever an instance is built, by :func:`resolve` or by
    ``dataclasses.replace``.
    """

    rules: ClassVar[tuple[Rule, ...]] = ()

    def data_needs(self) -> dict[str, int | None]:
        """Data files this configuration reads (names of ``data.corpora.FILES``)
        -> characters it needs from each (None: the whole file)."""
        return {}

    def __post_init__(self) -> None:
        for rule in self.rules:
            if not rule.holds(self):
                raise ConfigError(rule.message(self))


# ---------------------------------------------------------------------------
# One dataclass per experiment. Field order is the order shown to users.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _SequenceTaskConfig(Schema):
    """Fields shared by the two tasks of seed 002 (E1 latching, E2 bit relay)."""

    cells: tuple[str, ...] = param(
        "recurrent cells to compare", choices=("srnn", "lstm", "gru")
    )
    lengths: tuple[int, ...] = param("sequence lengths L", min=2, max=10_000)
    repeats: int = param(
        "independent training runs per (cell, length)", min=1, max=1000
    )
    epochs: int = param("passes over the training set", min=1, max=1000)
    n_sequences: int = param("sequences per data set, N", min=10, max=10_000_000)
    batch_size: int = param("sequences per gradient step", min=1, max=100_000)
    lr: float = param("Adam learning rate", min=1e-6, max=10.0)
    hidden_size: int = param("recurrent units", min=1, max=4096)
    noise_std: float = param(
        "standard deviation of the Gaussian noise", min=0.0, max=10.0
    )
    val_fraction: float = param(
        "validation split (the last fraction)", min=0.01, max=0.9
    )
    success_threshold: float = param(
        "final validation accuracy counted as a success", min=0.5, max=1.0
    )

    rules = (
        Rule(
            ("n_sequences", "val_fraction"),
            lambda c: 1 <= _n_train(c.n_sequences, c.val_fraction) < c.n_sequences,
            "1 <= int(n_sequences * (1 - val_fraction)) < n_sequences",
            "Keras' validation_split keeps int(n_sequences * (1 - val_fraction)) "
            "sequences for training and the rest for validation; both must hold "
            "at least one sequence",
        ),
    )


def _n_train(n: int, val_fraction: float) -> int:
    return int(n * (1.0 - val_fraction))  # keras: split_at = int(len * (1 - split))


@dataclass(frozen=True)
class LatchingConfig(_SequenceTaskConfig):
    """E1 information latching (seed 002; Bengio, Simard & Frasconi 1994)."""

    torch_lengths: tuple[int, ...] = param(
        "lengths run with the modern PyTorch cells", min=2, max=10_000
    )
    bug_lengths: tuple[int, ...] = param(
        "lengths of the unshuffled-vs-shuffled split comparison", min=2, max=10_000
    )
    bug_repeats: int = param("repeats of the split comparison", min=1, max=1000)
    tuned_lengths: tuple[int, ...] = param(
        "lengths of the answer's tuned training", min=2, max=10_000
    )
    tuned_repeats: int = param("tuned training: repeats", min=1, max=1000)
    search_lrs: tuple[float, ...] = param(
        "tuning search: Adam learning rates", min=1e-6, max=10.0
    )
    search_batch_sizes: tuple[int, ...] = param(
        "tuning search: batch sizes", min=1, max=100_000
    )
    search_epochs: tuple[int, ...] = param(
        "tuning search: epoch counts", min=1, max=1000
    )
    search_repeats: int = param(
        "tuning search: repeats per setting (own seeds and data)", min=1, max=1000
    )
    bengio_lengths: tuple[int, ...] = param(
        "lengths of Bengio 1994's own setting", min=2, max=10_000
    )
    bengio_repeats: int = param("repeats (trials) in Bengio's setting", min=1, max=1000)
    bengio_epochs: int = param("epochs in Bengio's setting", min=1, max=1000)
    init_lengths: tuple[int, ...] = param(
        "lengths of the initialisation variants of Bengio's task", min=2, max=10_000
    )
    init_repeats: int = param("repeats of the initialisation variants", min=1, max=1000)
    landscape_lengths: tuple[int, ...] = param(
        "lengths of the loss-landscape curves", min=1, max=10_000
    )
    landscape_points: int = param(
        "recurrent weights on the landscape grid", min=3, max=100_000
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)


@dataclass(frozen=True)
class BitRelayConfig(_SequenceTaskConfig):
    """E2 bit relay (seed 002, the answer's "task 2")."""

    styles: tuple[str, ...] = param(
        "cell forms: Keras 2018 defaults, modern PyTorch",
        choices=("keras2018", "torch"),
    )
    gru_long_lengths: tuple[int, ...] = param(
        "extra lengths run with the Keras 2018 GRU only (does it recover?)",
        min=2,
        max=10_000,
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)


# The cycles data's shape (rnnmem_utils.data.cycles; config stays a leaf, and
# tests/test_cycles_config.py checks these against the generator's constants):
_CYCLES_LINE_MAX = 10 * 16 + 1  # MAX_CYCLES * CYCLE_LEN + <eos>: the longest line
_CYCLES_NEW_GAP = 16 + 1  # CYCLE_LEN + <eos>: the widest gap between new tokens


@dataclass(frozen=True)
class CyclesConfig(Schema):
    """E3 synthetic cycles (Verwimp et al. 2018, section 4.2)."""

    train_tokens: int = param("training tokens generated", min=1_000, max=100_000_000)
    valid_tokens: int = param(
        "validation tokens (probes, state gradients)", min=2_000, max=10_000_000
    )
    test_tokens: int = param(
        "test tokens (perplexity, error analysis)", min=1_000, max=10_000_000
    )
    hidden_size: int = param("LSTM units", min=1, max=4096)
    epochs: int = param("passes over the training set", min=1, max=1000)
    batch_size: int = param("training streams (batchify columns)", min=1, max=4096)
    seq_len: int = param(
        "truncated-BPTT length (state carried across)", min=1, max=10_000
    )
    optimizer: str = param("optimizer", choices=("adagrad", "sgd", "adam"))
    lr: float = param("learning rate", min=1e-6, max=100.0)
    max_delay: int = param(
        "delays tau = 0..max_delay-1 of the state gradients", min=1, max=1000
    )
    gradient_tokens: int = param(
        "validation target positions for state gradients", min=100, max=10_000_000
    )
    gradient_streams: int = param(
        "parallel streams in the state-gradient engine", min=1, max=1024
    )
    lda_test_tokens: int = param(
        "last validation tokens held out to test the LDA probes", min=100, max=1_000_000
    )
    counting_dims: int = param("dimensions of the counting subspace", min=1, max=15)
    seed: int = param("base random seed", min=0, max=SEED_MAX)

    rules = (
        Rule(
            ("train_tokens", "batch_size", "seq_len"),
            lambda c: c.train_tokens // c.batch_size >= c.seq_len + 1,
            "train_tokens // batch_size >= seq_len + 1",
            "training cuts the tokens into batch_size streams; each must hold one "
            "truncated-BPTT window (seq_len inputs and their next-token targets), "
            "else seq_len is never used",
        ),
        Rule(
            ("gradient_tokens", "valid_tokens"),
            lambda c: c.gradient_tokens <= c.valid_tokens,
            "gradient_tokens <= valid_tokens",
            "state gradients are taken at validation positions (after the "
            "2 * max_delay burn-in positions); more than there are would be "
            "silently cut",
        ),
        Rule(
            ("lda_test_tokens", "max_delay", "valid_tokens"),
            lambda c: (
                c.lda_test_tokens + 2 * c.max_delay + _CYCLES_LINE_MAX <= c.valid_tokens
            ),
            f"lda_test_tokens + 2 * max_delay + {_CYCLES_LINE_MAX} <= valid_tokens",
            "the probes train on the validation states after 2 * max_delay "
            "burn-in positions, less the last lda_test_tokens held out; that part "
            f"must hold a whole line (up to {_CYCLES_LINE_MAX} tokens) so that "
            "every counting class is seen",
        ),
        Rule(
            ("lda_test_tokens", "max_delay"),
            lambda c: c.lda_test_tokens >= c.max_delay + _CYCLES_NEW_GAP - 1,
            f"lda_test_tokens >= max_delay + {_CYCLES_NEW_GAP - 1}",
            "the delay probes test on new tokens in the held-out part that are "
            f"followed by max_delay - 1 more states; new tokens come every "
            f"{_CYCLES_NEW_GAP} tokens at most, so a shorter held-out part may hold "
            "none to test on",
        ),
    )


# experiments.foundations.LM_TEST_CHARS (config stays a leaf; tests check they agree)
_LM_TEST_CHARS = 20_000


def _lm_train_windows(c) -> int:
    """Training windows of the character LM (experiments.foundations._train_lm)."""
    n_train = c.lm_chars - min(_LM_TEST_CHARS, c.lm_chars // 10)
    return (n_train // c.batch_size - 1) // c.lm_seq_len


@dataclass(frozen=True)
class FoundationsConfig(Schema):
    """The foundations lesson: the RNN lecture notes made runnable (seed 003)."""

    # part 1: the hand-built repeat detector
    repeat_seq_len: int = param(
        "length of the binary sequences checked exhaustively (2**n of them)",
        min=2,
        max=16,
    )
    repeat_steps: int = param(
        "gradient steps to learn the detector", min=1, max=100_000
    )
    repeat_restarts: int = param(
        "random restarts of the learned detector (best kept)", min=1, max=100
    )
    repeat_lr: float = param(
        "Adam learning rate of the learned detector", min=1e-6, max=10.0
    )
    # part 2: BPTT vs truncated BPTT on delayed recall
    recall_delay: int = param(
        "delayed recall: steps between a symbol and its recall", min=1, max=1000
    )
    recall_seq_len: int = param("delayed recall: sequence length", min=2, max=10_000)
    recall_symbols: int = param("delayed recall: alphabet size", min=2, max=256)
    truncations: tuple[int, ...] = param(
        "truncated-BPTT chunk lengths to compare", min=1, max=10_000
    )
    recall_steps: int = param(
        "delayed recall: training updates per truncation", min=1, max=1_000_000
    )
    hidden_size: int = param(
        "recurrent units (recall, clipping, Jacobians)", min=1, max=4096
    )
    batch_size: int = param("sequences per update", min=1, max=4096)
    lr: float = param("Adam learning rate (recall, character LM)", min=1e-6, max=10.0)
    # part 3: vanishing / exploding gradients
    sigmas: tuple[float, ...] = param(
        "largest singular values of W_hh to sweep", min=0.01, max=10.0
    )
    jacobian_steps: int = param(
        "steps back over which Jacobian products are measured", min=1, max=10_000
    )
    clip_norm: float = param("gradient-norm clipping threshold", min=1e-6, max=1e6)
    clip_sigma: float = param(
        "W_hh's singular value in the exploding ReLU-RNN run", min=0.01, max=10.0
    )
    clip_lr: float = param("SGD learning rate of the exploding run", min=1e-6, max=10.0)
    clip_steps: int = param("SGD updates of the exploding run", min=1, max=1_000_000)
    clip_seeds: int = param("runs with and without clipping", min=1, max=100)
    lstm_forget_bias: float = param(
        "forget-gate bias of the 'forget gate near 1' LSTM", min=-20.0, max=20.0
    )
    # part 4: interpretable units in a character LM on text8
    lm_chars: int = param(
        "characters of text8 used (training + held-out)", min=20_000, max=100_000_000
    )
    lm_hidden_size: int = param("character LM: LSTM units", min=1, max=4096)
    lm_seq_len: int = param("character LM: truncated-BPTT length", min=2, max=10_000)
    lm_steps: int = param("character LM: training updates", min=1, max=10_000_000)
    # part 5: dropout and multi-layer RNNs
    dropout_p: float = param("dropout's drop probability P", min=0.0, max=0.99)
    layers: tuple[int, ...] = param(
        "numbers of stacked layers to compare", min=1, max=16
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)

    rules = (
        Rule(
            ("recall_delay", "recall_seq_len"),
            lambda c: c.recall_delay < c.recall_seq_len,
            "recall_delay < recall_seq_len",
            "the target at step t is the input at step t - recall_delay, so the "
            "delay must fit inside the sequence",
        ),
        Rule(
            ("lm_chars", "batch_size", "lm_seq_len"),
            lambda c: _lm_train_windows(c) >= 1,
            "(lm_chars - min(20000, lm_chars // 10)) // batch_size - 1 >= lm_seq_len",
            "the character LM holds out min(20000, lm_chars // 10) characters and "
            "cuts the rest into batch_size streams; each must hold one window of "
            "lm_seq_len characters and their targets",
        ),
    )

    def data_needs(self) -> dict[str, int | None]:
        return {"text8": self.lm_chars}  # part 4 reads the first lm_chars of text8


# ---------------------------------------------------------------------------
# E5 autocomplete connectivity (seed 000; Madsen 2019, Distill)
# ---------------------------------------------------------------------------
_TEXT8_SIZE = 100_000_000  # data.corpora.FILES["text8"].size (config stays a leaf)


@dataclass(frozen=True)
class AutocompleteConfig(Schema):
    """E5 autocomplete: GRU, LSTM and Nested LSTM reading characters and
    predicting the word being typed (Madsen 2019, "Visualizing memorization in
    RNNs")."""

    models: tuple[str, ...] = param(
        "models to train and compare", choices=("gru", "lstm", "nlstm")
    )
    text8_chars: int = param(
        "characters of text8 the data set is built from (the post: all of it)",
        min=10_000,
        max=_TEXT8_SIZE,
    )
    vocab_size: int = param(
        "most frequent words kept as output classes (plus <eos>, <unknown>)",
        min=2,
        max=1_000_000,
    )
    max_length: int = param(
        "characters per sequence at most (whole words)", min=30, max=100_000
    )
    embedding_size: int = param("character embedding size", min=1, max=8192)
    hidden_size: int = param("recurrent units per layer", min=1, max=8192)
    layers: int = param("recurrent layers of the GRU and the LSTM", min=1, max=8)
    nlstm_layers: int = param(
        "layers of the Nested LSTM (each of depth 2)", min=1, max=8
    )
    forget_bias: float = param(
        "constant added to the forget gate (TensorFlow's BasicLSTMCell)",
        min=-10.0,
        max=10.0,
    )
    softmax: str = param(
        "training head: the full softmax (the post) or torch's adaptive "
        "softmax (evaluation always scores every word)",
        choices=("full", "adaptive"),
    )
    adaptive_cutoffs: tuple[int, ...] = param(
        "cluster boundaries of the adaptive softmax (words by frequency)",
        min=1,
        max=1_000_000,
    )
    batch_size: int = param("sequences per Adam step", min=1, max=4096)
    steps: int = param("Adam steps", min=1, max=10_000_000)
    lr: float = param("Adam learning rate", min=1e-6, max=1.0)
    checkpoint_every: int = param(
        "steps between checkpoints of a training run", min=1, max=10_000_000
    )
    log_every: int = param("steps between training-log records", min=1, max=1_000_000)
    log_valid_sequences: int = param(
        "validation sequences scored at each log record", min=0, max=1_000_000
    )
    test_sequences: int = param(
        "test sequences evaluated, at most (the post: all)", min=10, max=10_000_000
    )
    bootstrap_resamples: int = param(
        "bootstrap resamples over test sequences (intervals)", min=100, max=100_000
    )
    local_sentences: int = param(
        "test sequences shown in connectivity figures and explorer pages",
        min=0,
        max=100,
    )
    connectivity_sequences: int = param(
        "test sequences whose connectivity maps measure the reach into earlier "
        "words (0: not measured)",
        min=0,
        max=100_000,
    )
    connectivity_norm: str = param(
        "reduction of the one-hot input gradient: squared L2 (the post's code "
        "and figures) or L2 (the article's formula)",
        choices=("squared", "l2"),
    )
    seed: int = param(
        "seed of the vocabulary order, the split, the initialisation and the "
        "batch order (the post: 450849059 for all)",
        min=0,
        max=SEED_MAX,
    )

    rules = (
        Rule(
            ("softmax", "adaptive_cutoffs", "vocab_size"),
            lambda c: (
                c.softmax == "full"
                or _increasing_below(c.adaptive_cutoffs, c.vocab_size + 2)
            ),
            "adaptive_cutoffs increase strictly and stay below vocab_size + 2",
            "torch's AdaptiveLogSoftmaxWithLoss splits the vocab_size + 2 output "
            "classes at these boundaries",
        ),
    )

    def data_needs(self) -> dict[str, int | None]:
        return {"text8": self.text8_chars}


def _increasing_below(values, limit) -> bool:
    return (
        all(a < b for a, b in zip(values, values[1:], strict=False))
        and max(values) < limit
    )


@dataclass(frozen=True)
class YourRnnConfig(Schema):
    """Lesson: memory analysis of your own RNN (the public API, rnnmem_utils.api)."""

    train_tokens: int = param("PTB training words the model learns from",
                              min=1_000, max=929_589)  # fmt: skip
    analysis_tokens: int = param("PTB words after them, analysed", min=500,
                                 max=500_000)  # fmt: skip
    vocab_size: int = param("most frequent words kept (+ <unk>)", min=10, max=10_000)
    embedding_size: int = param("embedding size", min=1, max=1024)
    hidden_size: int = param("LSTM units", min=1, max=2048)
    seq_len: int = param("truncated-BPTT window", min=2, max=1000)
    batch_size: int = param("training streams", min=1, max=1024)
    steps: int = param("training steps (Adam)", min=1, max=1_000_000)
    lr: float = param("Adam learning rate", min=1e-6, max=1.0)
    max_delay: int = param("delays of the state gradients", min=2, max=200)
    streams: int = param("analysis streams (state gradients)", min=1, max=256)
    frequency_bins: int = param("word-frequency groups", min=2, max=20)
    probe_words: int = param("probes decode the past word among the most frequent",
                             min=3, max=10_000)  # fmt: skip
    probe_delays: tuple[int, ...] = param("delays probed", min=1, max=200)
    mc_steps: int = param("steps of the memory-capacity signal", min=500,
                          max=1_000_000)  # fmt: skip
    mc_max_delay: int = param("delays of the memory capacity", min=1, max=1000)
    connectivity_tokens: int = param(  # never more than analysis_tokens' minimum
        "words of the connectivity map and explorer", min=12, max=500
    )
    seed: int = param("random seed", min=0, max=SEED_MAX)

    rules = (
        Rule(
            ("train_tokens", "batch_size", "seq_len"),
            lambda c: c.train_tokens // c.batch_size >= c.seq_len + 1,
            "train_tokens // batch_size >= seq_len + 1",
            "each training stream must hold one window and its targets",
        ),
        Rule(
            ("analysis_tokens", "streams", "max_delay"),
            lambda c: c.analysis_tokens // c.streams > 2 * c.max_delay,
            "analysis_tokens // streams > 2 * max_delay",
            "each analysis stream skips max_delay burn-in targets and must leave "
            "at least as many to average",
        ),
        Rule(
            ("probe_words", "vocab_size"),
            lambda c: c.probe_words <= c.vocab_size,
            "probe_words <= vocab_size",
            "the probed words are among the vocabulary's most frequent",
        ),
        Rule(
            ("mc_steps", "mc_max_delay"),
            lambda c: c.mc_steps >= 100 + c.mc_max_delay + 200,
            "mc_steps >= 100 + mc_max_delay + 200",
            "a 100-step washout, the longest delay and enough steps to fit and "
            "test the read-outs",
        ),
    )

    def data_needs(self) -> dict[str, int | None]:
        return {"ptb.train": None}


# ---------------------------------------------------------------------------
# E4 what PTB language models remember (Verwimp et al. 2018, sections 4.3-5)
# ---------------------------------------------------------------------------
# experiments.ptb_memory.zoo.VARIANTS (config stays a leaf; tests check they agree)
PTB_VARIANTS = ("lstm256", "lstm256_seed1", "lstm256_seed2", "gru256", "rnn256",
                "lstm128", "lstm512", "untrained", "wiki2_256", "wiki2_512")  # fmt: skip
PTB_ANALYSIS_TOKENS = 85_000  # tokens in the held-out treebank lines (with <eos>)


@dataclass(frozen=True)
class PtbMemoryConfig(Schema):
    """E4 PTB language models and what they remember (seed 001, sections 4.3-5)."""

    variants: tuple[str, ...] = param(
        "models of the zoo to train and analyse (lstm256 is the baseline)",
        choices=PTB_VARIANTS,
    )
    epochs: int = param("training epochs of every trained model", min=1, max=200)
    train_tokens: int = param(
        "training tokens used (0 = all of ptb.train less the held-out lines)",
        min=0,
        max=10_000_000,
    )
    eval_tokens: int = param(
        "validation and test tokens scored for perplexity (0 = all)",
        min=0,
        max=10_000_000,
    )
    embedding_size: int = param("word embedding size E", min=1, max=4096)
    batch_size: int = param("training streams (batchify columns)", min=1, max=4096)
    seq_len: int = param("truncated-BPTT length (state carried)", min=1, max=10_000)
    lr: float = param("SGD learning rate of the first epochs", min=1e-6, max=100.0)
    decay_after: int = param("epochs at the full learning rate", min=0, max=1000)
    lr_decay: float = param("learning-rate factor per later epoch", min=0.01, max=1.0)
    clip: float = param("gradient-norm clipping threshold (0 = none)", min=0.0, max=1e6)
    dropout: float = param("dropout on the recurrent output", min=0.0, max=0.99)
    init_scale: float = param("uniform initialisation +- scale", min=1e-6, max=1.0)
    max_delay: int = param(
        "delays tau = 0..max_delay-1 of the state gradients", min=1, max=500
    )
    positions: int = param(
        "target positions (held-out treebank tokens) per state-gradient curve",
        min=10,
        max=PTB_ANALYSIS_TOKENS,
    )
    gradient_streams: int = param(
        "parallel streams in the state-gradient engine", min=1, max=1024
    )
    word_tokens: int = param(
        "held-out tokens of the per-word delay-0 analysis, Figure 8b (0 = all)",
        min=0,
        max=PTB_ANALYSIS_TOKENS,
    )
    fit_words: int = param(
        "most frequent analysis words whose sigma_1 decay is fitted (Figure 9)",
        min=0,
        max=2000,
    )
    bootstrap: int = param("bootstrap resamples of every interval", min=10, max=100_000)
    workers: int = param(
        "models trained / analysed in parallel (processes)", min=1, max=64
    )
    seed: int = param("base random seed", min=0, max=SEED_MAX)

    rules = (
        Rule(
            ("variants",),
            lambda c: "lstm256" in c.variants,
            "'lstm256' in variants",
            "the baseline is the reference of every comparison (Table 2, Figures "
            "4-8) and the model of the per-word analyses",
        ),
        Rule(
            ("positions", "gradient_streams"),
            lambda c: c.positions >= c.gradient_streams,
            "positions >= gradient_streams",
            "each engine stream contributes at least one target position",
        ),
        Rule(
            ("train_tokens", "batch_size", "seq_len"),
            lambda c: (
                c.train_tokens == 0 or c.train_tokens // c.batch_size >= c.seq_len + 1
            ),
            "train_tokens == 0 or train_tokens // batch_size >= seq_len + 1",
            "training cuts the tokens into batch_size streams; each must hold one "
            "truncated-BPTT window",
        ),
    )

    def data_needs(self) -> dict[str, int | None]:
        # WikiText-2 is not verified here: its train split is not in the mirror,
        # and its absence is reported by the experiment with how to fetch it
        return {"ptb.train": None, "ptb.valid": None, "ptb.test": None,
                "treebank": None}  # fmt: skip


@dataclass(frozen=True)
class Experiment:
    """Where an experiment's notebook is and which schema configures it."""

    name: str
    notebook: str
    schema: type
    title: str
    needs: tuple[str, ...] = ()  # experiments whose results this one reads
    # "module:function" of the entry point (see rnnmem_utils.experiments.harness)
    entry: str = ""
    # presets at which a run needs a GPU: on Dask it asks for the resource GPU=1
    gpu: tuple[str, ...] = ()


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "foundations",
            "00_foundations.ipynb",
            FoundationsConfig,
            "Foundations: how RNNs remember and forget",
            entry="rnnmem_utils.experiments.foundations:run",
        ),
        Experiment(
            "latching",
            "01_information_latching.ipynb",
            LatchingConfig,
            "E1 Information latching",
            entry="rnnmem_utils.experiments.latching:run",
        ),
        Experiment(
            "bit_relay",
            "02_bit_relay.ipynb",
            BitRelayConfig,
            "E2 Bit relay",
            needs=("latching",),
            entry="rnnmem_utils.experiments.bit_relay:run",
        ),
        Experiment(
            "cycles",
            "03_synthetic_cycles.ipynb",
            CyclesConfig,
            "E3 Synthetic cycles",
            entry="rnnmem_utils.experiments.cycles:run",
        ),
        Experiment(
            "ptb_memory",
            "04_ptb_memory.ipynb",
            PtbMemoryConfig,
            "E4 What PTB language models remember",
            entry="rnnmem_utils.experiments.ptb_memory:run",
        ),
        Experiment(
            "autocomplete",
            "05_autocomplete.ipynb",
            AutocompleteConfig,
            "E5 Autocomplete connectivity",
            entry="rnnmem_utils.experiments.autocomplete:run",
        ),
        Experiment(
            "your_rnn",
            "06_your_rnn.ipynb",
            YourRnnConfig,
            "Lesson: memory analysis of your own RNN",
            entry="rnnmem_utils.experiments.your_rnn:run",
        ),
    ]
}


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _choices_msg(name: str, valid) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"options are {valid}.{hint}"


def _coerce_scalar(key: str, value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {typ.__name__}, got bool {value!r}")
    if not isinstance(value, typ):
        raise ConfigError(
            f"{key}: expected {typ.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _check_range(key: str, value: Any, meta: dict) -> None:
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes < and >
        raise ConfigError(
            f"{key}: {value!r} is not a finite number (valid: {_range_text(meta)})"
        )
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: {value!r} is not valid; options are {list(choices)}")
    if lo is not None and value < lo:
        raise ConfigError(
            f"{key}: {value!r} is below the minimum {lo} (valid: {_range_text(meta)})"
        )
    if hi is not None and value > hi:
        raise ConfigError(
            f"{key}: {value!r} is above the maximum {hi} (valid: {_range_text(meta)})"
        )


def _coerce(key: str, value: Any, typ: Any, meta: dict) -> Any:
    origin = typing.get_origin(typ)
    if origin is tuple:
        (elem, _ellipsis) = typing.get_args(typ)
        if not isinstance(value, list | tuple):
            raise ConfigError(
                f"{key}: expected a list of {elem.__name__}, got "
                f"{type(value).__name__} {value!r}"
            )
        if not value:
            raise ConfigError(f"{key}: must not be empty")
        out = tuple(_coerce_scalar(f"{key}[{i}]", v, elem) for i, v in enumerate(value))
        for i, v in enumerate(out):
            _check_range(f"{key}[{i}]", v, meta)
        return out
    out = _coerce_scalar(key, value, typ)
    _check_range(key, out, meta)
    return out


def schema_of(experiment: str) -> type:
    if experiment not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {experiment!r}; "
            + _choices_msg(experiment, EXPERIMENTS)
        )
    return EXPERIMENTS[experiment].schema


def resolve(experiment: str, preset: str = "default", overrides: dict | None = None):
    """Return the frozen configuration of ``experiment`` at ``preset``.

    >>> cfg = resolve("latching", "smoke", {"repeats": 2})
    >>> cfg.repeats
    2
    """
    schema = schema_of(experiment)
    table = _presets.PRESETS[experiment]
    if preset not in table:
        raise ConfigError(f"unknown preset {preset!r}; " + _choices_msg(preset, table))
    overrides = dict(overrides or {})
    if not isinstance(overrides, dict):
        raise ConfigError(f"overrides must be a dict, got {type(overrides).__name__}")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in overrides:
        if key not in fields:
            raise ConfigError(
                f"unknown parameter {key!r} for experiment {experiment!r}; "
                + _choices_msg(key, fields)
            )
    values = {**table[preset], **overrides}
    missing = set(fields) - set(values)
    extra = set(values) - set(fields)
    if missing or extra:  # a bug in presets.py, not in the user's request
        raise ConfigError(
            f"presets.py: {experiment}/{preset} misses {sorted(missing)} "
            f"and has unknown {sorted(extra)}"
        )
    return schema(
        **{k: _coerce(k, values[k], hints[k], fields[k].metadata) for k in fields}
    )


def to_dict(cfg) -> dict:
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(cfg).items()
    }


def config_hash(cfg) -> str:
    """A short, stable hash of a resolved configuration."""
    blob = json.dumps([type(cfg).__name__, to_dict(cfg)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe(experiment: str) -> str:
    """A table of the parameters of ``experiment``: name, help, default, range."""
    schema = schema_of(experiment)
    default = _presets.PRESETS[experiment]["default"]
    lines = []
    for f in dataclasses.fields(schema):
        m = f.metadata
        rng = _range_text(m)
        lines.append(
            f"  {f.name:<22} {m['help']} (default {default[f.name]!r}{'; ' + rng if rng else ''})"
        )
    rules = getattr(schema, "rules", ())  # a plain dataclass declares none
    if rules:
        lines.append("  rules between parameters:")
        lines += [f"    {rule.text}" for rule in rules]
    return "\n".join(lines)


def _range_text(meta: dict) -> str:
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices:
        return f"choices {list(choices)}"
    if lo is not None and hi is not None:
        return f"{lo}..{hi}"
    return f">= {lo}" if lo is not None else (f"<= {hi}" if hi is not None else "")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a CLI ``key=value``; the value is read as JSON, else as a string.

    ``repeats=3`` -> 3, ``lengths=[5,100]`` -> [5, 100], ``cells=lstm`` -> "lstm"
    (a bare word); a comma list ``cells=srnn,gru`` -> ["srnn", "gru"].
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.split(",") if "," in raw else raw
        if isinstance(value, list):
            value = [_json_or_str(v) for v in value]
    return key.strip(), value


def _json_or_str(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
