"""Configuration: every preset resolves; bad requests are refused with the valid choices."""

import dataclasses
import re

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
        ConfigError, match=r"'srnn' is not valid; options are \['rnn', 'lstm', 'gru'\]"
    ):
        config.resolve("latching", "smoke", {"cells": ["srnn"]})


def test_overrides_change_the_hash_and_equal_configs_share_it():
    a = config.resolve("latching", "smoke")
    b = config.resolve("latching", "smoke", {})
    c = config.resolve("latching", "smoke", {"seed": 1})
    assert config.config_hash(a) == config.config_hash(b) != config.config_hash(c)


@pytest.mark.parametrize("experiment", ["ptb_memory", "autocomplete"])
def test_how_a_run_executes_is_not_part_of_its_result(experiment):
    """The processes a run uses change no number (every unit is keyed without
    them): not in the hash, not a variant; still validated and passed on."""
    assert config.execution_fields(config.schema_of(experiment)) == {"workers"}
    a = config.resolve(experiment, "smoke")
    b = config.resolve(experiment, "smoke", {"workers": 3})
    assert b.workers == 3 and config.config_hash(a) == config.config_hash(b)
    seed = {"seed": 1, "workers": 3}
    assert config.result_overrides(experiment, seed) == {"seed": 1}
    assert "how it runs, not part of the result" in config.describe(experiment)
    with pytest.raises(ConfigError, match="workers"):
        config.resolve(experiment, "smoke", {"workers": 0})
    others = [n for n in config.EXPERIMENTS if n not in ("ptb_memory", "autocomplete")]
    assert not any(config.execution_fields(config.schema_of(n)) for n in others)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("repeats=3", ("repeats", 3)),
        ("lengths=[5,100]", ("lengths", [5, 100])),
        ("cells=rnn,gru", ("cells", ["rnn", "gru"])),
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


# ---------------------------------------------------------------------------
# NaN and infinity; cross-field rules
# ---------------------------------------------------------------------------


def _float_fields():
    """(experiment, field, is_tuple) for every float field of every schema."""
    import typing

    out = []
    for name in config.EXPERIMENTS:
        hints = typing.get_type_hints(config.schema_of(name))
        for f in dataclasses.fields(config.schema_of(name)):
            typ = hints[f.name]
            if typ is float or typing.get_args(typ)[:1] == (float,):
                out.append((name, f.name, typ is not float))
    return out


def test_every_experiment_with_float_fields_is_covered():
    covered = {e for e, _, _ in _float_fields()}
    assert covered == set(config.EXPERIMENTS)
    assert ("foundations", "sigmas", True) in _float_fields()


@pytest.mark.parametrize("experiment, key, is_tuple", _float_fields())
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_for_every_float(experiment, key, is_tuple, bad):
    value = [bad] if is_tuple else bad
    with pytest.raises(
        ConfigError, match=rf"{key}(\[0\])?: .* not a finite number"
    ) as e:
        config.resolve(experiment, "smoke", {key: value})
    assert "valid: " in str(e.value) and ".." in str(e.value)  # names the range


@pytest.mark.parametrize("text", ["lr=NaN", "lr=Infinity", "lr=-Infinity"])
def test_nan_from_the_command_line_is_refused(text):
    key, value = config.parse_override(text)
    with pytest.raises(ConfigError, match="lr: .* not a finite number"):
        config.resolve("latching", "smoke", {key: value})


# (experiment, overrides that break exactly one rule, the rule's text)
_LM = "(lm_chars - min(20000, lm_chars // 10)) // batch_size - 1 >= lm_seq_len"
_SPLIT = "1 <= int(n_sequences * (1 - val_fraction)) < n_sequences"
_LDA = "lda_test_tokens + 2 * max_delay + 161 <= valid_tokens"
_CUTOFFS = "adaptive_cutoffs increase strictly and stay below vocab_size + 2"
BROKEN_RULES = [
    ("foundations", {"recall_delay": 20}, "recall_delay < recall_seq_len"),
    ("foundations", {"recall_delay": 25}, "recall_delay < recall_seq_len"),
    ("foundations", {"lm_chars": 20_000, "batch_size": 4096}, _LM),
    ("foundations", {"lm_chars": 50_000, "lm_seq_len": 1406}, _LM),
    ("latching", {"n_sequences": 10, "val_fraction": 0.9}, _SPLIT),
    ("bit_relay", {"n_sequences": 10, "val_fraction": 0.9}, _SPLIT),
    ("cycles", {"gradient_tokens": 12_001}, "gradient_tokens <= valid_tokens"),
    ("cycles", {"lda_test_tokens": 11_760}, _LDA),
    ("cycles", {"valid_tokens": 4000, "max_delay": 1000}, _LDA),
    (
        "cycles",
        {"lda_test_tokens": 100, "max_delay": 85},
        "lda_test_tokens >= max_delay + 16",
    ),
    (
        "cycles",
        {"train_tokens": 1019, "batch_size": 20},
        "train_tokens // batch_size >= seq_len + 1",
    ),
    (
        "your_rnn",
        {"train_tokens": 1019, "batch_size": 50},
        "train_tokens // batch_size >= seq_len + 1",
    ),
    (
        "your_rnn",
        {"streams": 100},
        "analysis_tokens // streams > 2 * max_delay",
    ),
    ("your_rnn", {"probe_words": 201}, "probe_words <= vocab_size"),
    (
        "your_rnn",
        {"mc_max_delay": 501},
        "mc_steps >= 100 + mc_max_delay + 200",
    ),
    ("autocomplete", {"adaptive_cutoffs": (300, 200)}, _CUTOFFS),
    ("autocomplete", {"adaptive_cutoffs": (64, 514)}, _CUTOFFS),  # smoke: 512 words
    ("ptb_memory", {"variants": ("gru256",)}, "'lstm256' in variants"),
    ("ptb_memory", {"positions": 15}, "positions >= gradient_streams"),
    (
        "ptb_memory",
        {"train_tokens": 4019},
        "train_tokens == 0 or train_tokens // batch_size >= seq_len + 1",
    ),
]


@pytest.mark.parametrize("experiment, overrides, rule", BROKEN_RULES)
def test_cross_field_rules_are_refused_when_resolved(experiment, overrides, rule):
    with pytest.raises(ConfigError, match=re.escape(rule)) as e:
        config.resolve(experiment, "smoke", overrides)
    for key, value in overrides.items():  # the message shows the values given
        assert f"{key}={value!r}" in str(e.value)


# the same rules at their boundary: the largest (or smallest) accepted value
ACCEPTED_AT_THE_BOUNDARY = [
    ("foundations", {"recall_delay": 19}),
    ("foundations", {"lm_chars": 50_000, "lm_seq_len": 1405}),  # 45_000 // 32 - 1
    ("latching", {"n_sequences": 10, "val_fraction": 0.85}),
    ("cycles", {"gradient_tokens": 12_000}),
    ("cycles", {"lda_test_tokens": 11_759}),  # 11_759 + 2 * 40 + 161 = 12_000
    ("cycles", {"lda_test_tokens": 100, "max_delay": 84}),
    ("cycles", {"train_tokens": 1020, "batch_size": 20}),  # 51 rows = seq_len + 1
    ("your_rnn", {"train_tokens": 1050, "batch_size": 50}),  # 21 = seq_len + 1
    ("your_rnn", {"streams": 92}),  # 1200 // 92 = 13 > 12
    ("your_rnn", {"probe_words": 200}),
    ("your_rnn", {"mc_max_delay": 500}),
    ("autocomplete", {"adaptive_cutoffs": (64, 513)}),  # 512 words + <eos>, <unknown>
    ("ptb_memory", {"positions": 16}),  # smoke: 16 streams
    ("ptb_memory", {"train_tokens": 4020}),  # 201 rows = seq_len + 1
]


@pytest.mark.parametrize("experiment, overrides", ACCEPTED_AT_THE_BOUNDARY)
def test_rules_accept_their_boundary(experiment, overrides):
    config.resolve(experiment, "smoke", overrides)


def test_every_rule_is_tested():
    tested = {r for _, _, r in BROKEN_RULES}
    for name in config.EXPERIMENTS:
        for rule in config.schema_of(name).rules:
            assert rule.text in tested, f"{name}: no test breaks {rule.text}"


def test_rules_hold_for_any_way_of_building_a_configuration():
    cfg = config.resolve("foundations", "smoke")
    with pytest.raises(ConfigError, match="recall_delay < recall_seq_len"):
        dataclasses.replace(cfg, recall_delay=cfg.recall_seq_len)


def test_describe_lists_the_rules():
    text = config.describe("foundations")
    assert (
        "rules between parameters" in text and "recall_delay < recall_seq_len" in text
    )


def test_split_rule_matches_the_split():
    """At the boundary the Keras-style split leaves one sequence to train on."""
    from rnnmem_utils.data import latching as data

    cfg = config.resolve("latching", "smoke", {"n_sequences": 10, "val_fraction": 0.85})
    s = data.make_split("latching", cfg.n_sequences, 5, 0, val_fraction=0.85)
    assert (s.y_train.shape[0], s.y_val.shape[0]) == (1, 9)
    s = data.make_split("latching", 10, 5, 0, val_fraction=0.9)  # what is refused
    assert s.y_train.shape[0] == 0
