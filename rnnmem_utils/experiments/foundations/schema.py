"""The configuration schema of the foundations lesson: fields, ranges, rules.

The numbers of each preset live in :mod:`rnnmem_utils.presets`. A leaf module
(no torch), so the CLI validates a configuration without loading models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...schema import SEED_MAX, Rule, Schema, param

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
    lr: float = param("Adam learning rate (recall)", min=1e-6, max=10.0)
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
    lm_lr: float = param("character LM: Adam learning rate", min=1e-6, max=10.0)
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
