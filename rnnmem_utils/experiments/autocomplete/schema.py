"""The configuration schema of E5 autocomplete connectivity: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, increasing_below, param

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
    gru_lr: float = param("Adam learning rate of the GRU", min=1e-6, max=1.0)
    lstm_lr: float = param("Adam learning rate of the LSTM", min=1e-6, max=1.0)
    nlstm_lr: float = param("Adam learning rate of the Nested LSTM", min=1e-6, max=1.0)
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
    workers: int = param(
        "models trained in parallel (single-threaded processes; on a Dask "
        "cluster each model is a task)",
        min=1,
        max=64,
        result=False,  # every model is keyed without it
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
                or increasing_below(c.adaptive_cutoffs, c.vocab_size + 2)
            ),
            "adaptive_cutoffs increase strictly and stay below vocab_size + 2",
            "torch's AdaptiveLogSoftmaxWithLoss splits the vocab_size + 2 output "
            "classes at these boundaries",
        ),
    )

    def lr_of(self, model: str) -> float:
        """The Adam learning rate ``model`` trains with."""
        return getattr(self, f"{model}_lr")

    def data_needs(self) -> dict[str, int | None]:
        return {"text8": self.text8_chars}
