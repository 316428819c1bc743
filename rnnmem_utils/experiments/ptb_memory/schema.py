"""The configuration schema of E4 what PTB language models remember: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, param

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
        "analysed positions (held-out treebank tokens, in segments of 200) per "
        "state-gradient curve",
        min=10,
        max=PTB_ANALYSIS_TOKENS,
    )
    gradient_streams: int = param(
        "segments swept in parallel by the state-gradient engine", min=1, max=1024
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
        "models trained / analysed in parallel (processes)", min=1, max=64,
        result=False,  # every unit is keyed without it
    )  # fmt: skip
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
