"""E3 configuration: presets resolve; bad values are refused before work starts."""

import pytest

from rnnmem_utils import config
from rnnmem_utils.config import ConfigError


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
