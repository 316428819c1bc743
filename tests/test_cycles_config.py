"""E3 configuration: presets resolve; bad values are refused before work starts."""

import pytest

from rnnmem_utils import config
from rnnmem_utils.config import ConfigError
from rnnmem_utils.experiments.cycles import schema as cycles_schema


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_presets_resolve(preset):
    cfg = config.resolve("cycles", preset)
    assert cfg.hidden_size == 50 and cfg.optimizer == "adagrad" and cfg.lr == 0.05


def test_paper_preset_has_the_papers_sizes():
    cfg = config.resolve("cycles", "paper")
    assert (cfg.train_tokens, cfg.valid_tokens, cfg.test_tokens) == (
        16_000_000,
        160_000,
        160_000,
    )
    assert (cfg.lda_test_tokens, cfg.counting_dims, cfg.max_delay) == (10_000, 5, 50)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("hidden_size", 0, "below the minimum"),
        ("counting_dims", 16, "above the maximum"),
        ("optimizer", "rmsprop", "options are"),
        ("lr", -0.1, "below the minimum"),
        ("max_delay", 2.5, "expected int"),
        ("epochs", True, "bool"),
        ("train_tokens", 10, "below the minimum"),
        ("gradient_streams", 0, "below the minimum"),
        ("lda_test_tokens", 50, "below the minimum"),
    ],
)
def test_bad_values_are_refused(key, value, match):
    with pytest.raises(ConfigError, match=match):
        config.resolve("cycles", "smoke", {key: value})


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="hidden_size"):
        config.resolve("cycles", "smoke", {"hiden_size": 10})


def test_the_rules_constants_agree_with_the_generator():
    """config cannot import the generator (it is a leaf), so its copies of the
    data's shape are checked here, against the constants and a long sample."""
    import numpy as np

    from rnnmem_utils.data import cycles as data

    assert cycles_schema._CYCLES_LINE_MAX == data.MAX_CYCLES * data.CYCLE_LEN + 1
    assert cycles_schema._CYCLES_NEW_GAP == data.CYCLE_LEN + 1
    s = data.generate(200_000, np.random.default_rng(0))
    eos = np.flatnonzero(s.tokens == data.EOS)
    assert (
        np.diff(eos).max() == cycles_schema._CYCLES_LINE_MAX
    )  # a 10-cycle line + <eos>
    assert np.diff(np.flatnonzero(s.new == 1)).max() == cycles_schema._CYCLES_NEW_GAP


def test_training_rule_matches_the_batches():
    """At the rule's boundary every training stream gives one full seq_len window."""
    import torch

    from rnnmem_utils.training import lm

    cfg = config.resolve("cycles", "smoke", {"train_tokens": 1020, "batch_size": 20})
    data = lm.batchify(torch.zeros(cfg.train_tokens, dtype=torch.long), cfg.batch_size)
    shapes = [x.shape for x, _ in lm.chunks(data, cfg.seq_len)]
    assert shapes == [(cfg.seq_len, cfg.batch_size)]


def test_gradient_tokens_may_be_all_of_the_validation_set():
    cfg = config.resolve("cycles", "paper")
    assert cfg.gradient_tokens == cfg.valid_tokens  # "recorded for the validation set"
    with pytest.raises(ConfigError, match="gradient_tokens <= valid_tokens"):
        config.resolve("cycles", "paper", {"gradient_tokens": 160_001})
