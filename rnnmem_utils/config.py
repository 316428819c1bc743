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

The numbers themselves live in :mod:`rnnmem_utils.presets`; each experiment's
*schema* (one frozen dataclass whose fields carry a help text and their valid
range, built with :mod:`rnnmem_utils.schema`) lives in its own package,
``experiments/<name>/schema.py``; this module holds the registry
(:data:`EXPERIMENTS`) and the resolution. All are leaves: they import neither
torch nor the experiments' code, so the CLI validates without loading models.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import typing
from dataclasses import dataclass
from typing import Any

from . import presets as _presets
from .experiments.autocomplete.schema import AutocompleteConfig
from .experiments.bit_relay.schema import BitRelayConfig
from .experiments.cycles.schema import CyclesConfig
from .experiments.foundations.schema import FoundationsConfig
from .experiments.latching.schema import LatchingConfig
from .experiments.ptb_memory.schema import PtbMemoryConfig
from .experiments.your_rnn.schema import YourRnnConfig
from .schema import SEED_MAX, ConfigError, Rule, Schema, param

__all__ = ["SEED_MAX", "ConfigError", "Rule", "Schema", "param", "resolve"]

PRESET_NAMES = ("smoke", "default", "paper")


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
    # what a `paper` run costs, measured or estimated (the report says it where
    # `paper` has not run: "needs a GPU, about N hours")
    paper_cost: str = ""


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "foundations",
            "00_foundations.ipynb",
            FoundationsConfig,
            "Foundations: how RNNs remember and forget",
            entry="rnnmem_utils.experiments.foundations.main:run",
            paper_cost="41 min on one CPU core beside other runs (measured 2026-12-01); the 256-unit character LM's 20,000 steps are most of it",
        ),
        Experiment(
            "latching",
            "01_information_latching.ipynb",
            LatchingConfig,
            "E1 Information latching",
            entry="rnnmem_utils.experiments.latching.main:run",
            paper_cost="96 min on 2 CPU cores (measured, beside E2's training); the asker's Keras run took over a day",
        ),
        Experiment(
            "bit_relay",
            "02_bit_relay.ipynb",
            BitRelayConfig,
            "E2 Bit relay",
            needs=("latching",),
            entry="rnnmem_utils.experiments.bit_relay.main:run",
            paper_cost="about 2 hours of one CPU core (measured: its six units, 122 min beside E1's run)",
        ),
        Experiment(
            "cycles",
            "03_synthetic_cycles.ipynb",
            CyclesConfig,
            "E3 Synthetic cycles",
            entry="rnnmem_utils.experiments.cycles.main:run",
        ),
        Experiment(
            "ptb_memory",
            "04_ptb_memory.ipynb",
            PtbMemoryConfig,
            "E4 What PTB language models remember",
            entry="rnnmem_utils.experiments.ptb_memory.main:run",
            paper_cost="about 20 CPU-hours for the 7 PTB models of 39 epochs (about 4,100 words/s on one core at 256 units, benchmarks/lm_training.py); minutes per model on a GPU (not measured: no GPU was lent)",
        ),
        Experiment(
            "autocomplete",
            "05_autocomplete.ipynb",
            AutocompleteConfig,
            "E5 Autocomplete connectivity",
            entry="rnnmem_utils.experiments.autocomplete.main:run",
            paper_cost="about 6 GPU-hours per model (the post), three models; on 2 CPU cores one step takes about 16 s, about 63 hours per model",
        ),
        Experiment(
            "your_rnn",
            "06_your_rnn.ipynb",
            YourRnnConfig,
            "Lesson: memory analysis of your own RNN",
            entry="rnnmem_utils.experiments.your_rnn.main:run",
            paper_cost="about 3 hours of one CPU core (measured 2026-12-01, beside other runs): the model trains in about 80 min (20,000 steps), the state gradients over 100,000 words take 86 CPU-min (about 19 positions/s at 200 units), the rest a few minutes",
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
    """A short, stable hash of what a resolved configuration computes: every
    field but those of how it executes (``param(result=False)``)."""
    values = _result_part(type(cfg), to_dict(cfg))
    blob = json.dumps([type(cfg).__name__, values], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def execution_fields(schema) -> set[str]:
    """The fields of ``schema`` that say how a run executes, not what it
    computes (``param(result=False)``)."""
    return {
        f.name for f in dataclasses.fields(schema) if not f.metadata.get("result", True)
    }


def result_overrides(experiment: str, overrides: dict) -> dict:
    """``overrides`` less those of how ``experiment`` executes: what makes a
    run a variant of its preset."""
    if experiment not in EXPERIMENTS:
        return dict(overrides)
    return _result_part(schema_of(experiment), overrides)


def _result_part(schema, values: dict) -> dict:
    how = execution_fields(schema)
    return {k: v for k, v in values.items() if k not in how}


def describe(experiment: str) -> str:
    """A table of the parameters of ``experiment``: name, help, default, range."""
    schema = schema_of(experiment)
    default = _presets.PRESETS[experiment]["default"]
    lines = []
    for f in dataclasses.fields(schema):
        m = f.metadata
        rng = _range_text(m)
        how = "" if m.get("result", True) else "; how it runs, not part of the result"
        lines.append(
            f"  {f.name:<22} {m['help']} (default {default[f.name]!r}{'; ' + rng if rng else ''}{how})"
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
    (a bare word); a comma list ``cells=rnn,gru`` -> ["rnn", "gru"].
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
