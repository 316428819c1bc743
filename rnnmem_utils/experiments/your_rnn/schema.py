"""The configuration schema of lesson 06, memory analysis of your own RNN: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, param


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
