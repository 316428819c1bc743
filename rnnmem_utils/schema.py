"""The schema machinery every experiment's configuration is built from.

An experiment declares its configuration as one frozen dataclass, a subclass of
:class:`Schema`, in its own package (``experiments/<name>/schema.py``): each
field made with :func:`param` (a help text and its valid range or choices), the
rules between fields as :class:`Rule` s. :mod:`rnnmem_utils.config` resolves and
validates them. A leaf: it imports nothing else of the library, and neither does
a schema module, so the CLI validates without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A configuration request that cannot be honoured; the message says why."""


def param(help: str, *, min=None, max=None, choices=None, result=True):  # noqa: A002
    """A dataclass field with a help text and its valid range or choices.

    ``min``/``max`` are inclusive bounds; for a tuple they apply to each element,
    as do ``choices``. ``result=False`` marks a parameter of how a run executes
    (how many processes), which no number depends on: it is left out of the
    configuration's hash and of a variant's name, so ``-p workers=1`` on a
    smaller machine gives the preset's own result, up to date as before.
    """
    return field(
        metadata={
            "help": help,
            "min": min,
            "max": max,
            "choices": choices,
            "result": result,
        }
    )


@dataclass(frozen=True)
class Rule:
    """A rule between fields that no single field's range can express.

    ``holds(cfg)`` must be true. ``text`` states the rule in the fields' names
    (listed by :func:`describe`), ``why`` says what would break otherwise;
    ``fields`` are the fields whose values the refusal shows.
    """

    fields: tuple[str, ...]
    holds: Callable[[Any], bool]
    text: str
    why: str

    def message(self, cfg) -> str:
        values = ", ".join(f"{f}={getattr(cfg, f)!r}" for f in self.fields)
        return f"{values} breaks the rule {self.text}: {self.why}"


SEED_MAX = 2**32 - 1  # numpy's and torch's seeds fit; seed * 1000 + i still fits


@dataclass(frozen=True)
class Schema:
    """Base of every experiment's configuration.

    A subclass declares its cross-field ``rules`` (extending its parent's) and,
    when it reads stored data, ``data_needs``; ``__post_init__`` checks the rules
    whenever an instance is built, by :func:`resolve` or by
    ``dataclasses.replace``.
    """

    rules: ClassVar[tuple[Rule, ...]] = ()

    def data_needs(self) -> dict[str, int | None]:
        """Data files this configuration reads (names of ``data.corpora.FILES``)
        -> characters it needs from each (None: the whole file)."""
        return {}

    def __post_init__(self) -> None:
        for rule in self.rules:
            if not rule.holds(self):
                raise ConfigError(rule.message(self))


def increasing_below(values, limit) -> bool:
    """``values`` increase strictly and all stay below ``limit`` (for a Rule)."""
    return (
        all(a < b for a, b in zip(values, values[1:], strict=False))
        and max(values) < limit
    )
