"""The configuration schema of E3 synthetic cycles: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, param

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
