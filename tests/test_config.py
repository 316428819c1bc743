"""Configuration: every preset resolves; bad requests are refused with the valid choices."""

import dataclasses

import pytest

from rnnmem_utils import config, presets
from rnnmem_utils.config import ConfigError


@pytest.mark.parametrize("experiment", list(config.EXPERIMENTS))
@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_every_preset_resolves_and_is_complete(experiment, preset):
    table = presets.PRESETS[experiment][preset]
    fields = {f.name for f in dataclasses.fields(config.schema_of(experiment))}
    assert set(table) == fields, "presets.py must give every field, and only those"
    cfg = config.resolve(experiment, preset)
    assert dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # frozen: a configuration cannot drift after it is resolved


def test_every_experiment_has_the_three_presets():
    for name in config.EXPERIMENTS:
        assert set(presets.PRESETS[name]) == set(config.PRESET_NAMES)


def test_unknown_experiment_and_preset_name_the_choices():
    with pytest.raises(
        ConfigError, match=r"options are .*'latching'.*Did you mean 'latching'"
    ):
        config.resolve("latchin", "smoke")
    with pytest.raises(ConfigError, match=r"unknown preset 'fast'.*options are"):
        config.resolve("latching", "fast")


def test_unknown_override_suggests_the_closest_name():
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'repeat'.*Did you mean 'repeats'"
    ):
        config.resolve("latching", "smoke", {"repeat": 3})


@pytest.mark.parametrize(
    "value, message",
    [
        (1.5, "expected int, got float"),
        ("3", "expected int, got str"),
        (True, "expected int, got bool"),
        (0, "below the minimum 1"),
        (10**9, "above the maximum"),
    ],
)
def test_wrong_types_and_ranges_are_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        config.resolve("latching", "smoke", {"repeats": value})


def test_tuples_are_checked_elementwise_and_lists_accepted():
    cfg = config.resolve("latching", "smoke", {"lengths": [5, 100]})
    assert cfg.lengths == (5, 100)
    with pytest.raises(ConfigError, match=r"lengths\[1\]: 1 is below the minimum"):
        config.resolve("latching", "smoke", {"lengths": [5, 1]})
    with pytest.raises(ConfigError, match="expected a list"):
        config.resolve("latching", "smoke", {"lengths": 5})
    with pytest.raises(ConfigError, match="must not be empty"):
        config.resolve("latching", "smoke", {"lengths": []})


def test_choices_are_named():
    with pytest.raises(
        ConfigError, match=r"'rnn' is not valid; options are \['srnn', 'lstm', 'gru'\]"
    ):
        config.resolve("latching", "smoke", {"cells": ["rnn"]})


def test_overrides_change_the_hash_and_equal_configs_share_it():
    a = config.resolve("latching", "smoke")
    b = config.resolve("latching", "smoke", {})
    c = config.resolve("latching", "smoke", {"seed": 1})
    assert config.config_hash(a) == config.config_hash(b) != config.config_hash(c)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("repeats=3", ("repeats", 3)),
        ("lengths=[5,100]", ("lengths", [5, 100])),
        ("cells=srnn,gru", ("cells", ["srnn", "gru"])),
        ("cells=lstm", ("cells", "lstm")),
        ("lr=1e-3", ("lr", 0.001)),
    ],
)
def test_parse_override(text, expected):
    assert config.parse_override(text) == expected


def test_parse_override_needs_an_equals_sign():
    with pytest.raises(ConfigError, match="key=value"):
        config.parse_override("repeats")


def test_every_field_has_help_text():
    for name in config.EXPERIMENTS:
        for f in dataclasses.fields(config.schema_of(name)):
            assert f.metadata.get("help"), f"{name}.{f.name} has no help text"
