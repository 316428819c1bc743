"""Published-vs-reproduced records: one :class:`Claim` per published claim checked.

A notebook builds a :class:`ClaimSet`, adds one claim per published statement it
checks, and finally calls :meth:`ClaimSet.write`, which writes ``claims.json``
(and ``claims.csv``) atomically. ``claims.json`` is the notebook's completion
marker: it is written last and carries the configuration hash.

Verdicts are decided by code from the numbers, never typed in: use
:func:`compare` for a number with a tolerance and :func:`verdict_from` for a
pass / partial / fail criterion. "Not reproduced, by 14%" is a good result to
publish; loosening a criterion until it passes is not.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import config as _config
from . import io

REPRODUCED = "reproduced"
PARTLY = "partly"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run at this preset"
# No preset of this package can test it (data that is not public, a corpus the
# vocabulary cannot express): distinct from a claim another preset would run.
CANNOT = "cannot be reproduced here"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_RUN, CANNOT)


@dataclass
class Claim:
    """One published claim and what we found.

    ``published`` and ``reproduced`` are numbers or short texts; ``criterion``
    says how the verdict was decided; ``difference`` says by how much a number
    misses (filled in by :func:`compare`).
    """

    id: str
    statement: str
    published: Any
    reproduced: Any
    criterion: str
    verdict: str
    difference: str = ""
    source: str = ""
    details: dict = field(default_factory=dict)
    # Uncertainty of ``reproduced`` from the repeats: [lo, hi], what kind of
    # interval it is ("95% Wilson over 10 runs", "95% bootstrap over 10 seeds"),
    # and whether the verdict is the same at both ends of it (None: no interval).
    interval: list | None = None
    interval_kind: str = ""
    holds_across_interval: bool | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}; options are {list(VERDICTS)}")
        if self.interval is not None:
            lo, hi = (float(v) for v in self.interval)
            if not lo <= hi:
                raise ValueError(f"interval {self.interval} of {self.id!r}: lo > hi")
            self.interval = [lo, hi]


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy's ``binomtest``).

    With 10 runs a success frequency of 0.5 is 0.24-0.76: an all-or-nothing
    outcome needs this, not mean +- standard deviation.
    """
    from scipy.stats import binomtest

    if n <= 0:
        raise ValueError("wilson_interval: n must be positive")
    ci = binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=level, method="wilson"
    )
    return float(ci.low), float(ci.high)


def bootstrap_interval(
    values, statistic=None, *, level: float = 0.95, n_resamples: int = 2000, seed=0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over
    the repeats in ``values`` (scipy's ``bootstrap``). ``values`` may be a tuple
    of equally long arrays for a paired statistic (``statistic(a, b)``)."""
    import numpy as np
    from scipy.stats import bootstrap

    data = values if isinstance(values, tuple) else (np.asarray(values, float),)
    data = tuple(np.asarray(v, float) for v in data)
    if len(data[0]) < 2 or np.ptp(np.concatenate(data)) == 0:  # no spread to resample
        stat = (statistic or np.mean)(*data)
        return float(stat), float(stat)
    res = bootstrap(
        data,
        statistic or np.mean,
        paired=len(data) > 1,
        vectorized=False,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def relative_difference(reproduced: float, published: float) -> float:
    return (reproduced - published) / abs(published) if published else math.inf


def compare(
    id: str,
    statement: str,
    published: float,
    reproduced: float,
    *,  # noqa: A002
    rel_tol: float | None = None,
    abs_tol: float | None = None,
    partly_factor: float = 2.0,
    source: str = "",
    unit: str = "",
    details: dict | None = None,
) -> Claim:
    """A numeric claim: reproduced within ``rel_tol``/``abs_tol`` of the published
    value; ``partly`` within ``partly_factor`` times that tolerance."""
    if rel_tol is None and abs_tol is None:
        raise ValueError("compare: give rel_tol or abs_tol")
    err = abs(reproduced - published)
    tol = abs_tol if abs_tol is not None else rel_tol * abs(published)
    crit = (
        f"|ours - published| <= {abs_tol:g}{unit}"
        if abs_tol is not None
        else f"within {rel_tol:.0%} of published"
    )
    if not math.isfinite(reproduced):
        verdict = NOT_REPRODUCED
    elif err <= tol:
        verdict = REPRODUCED
    elif err <= partly_factor * tol:
        verdict = PARTLY
    else:
        verdict = NOT_REPRODUCED
    rel = relative_difference(reproduced, published)
    diff = f"{reproduced - published:+.4g}{unit}" + (
        f" ({rel:+.1%})" if math.isfinite(rel) else ""
    )
    return Claim(
        id, statement, published, reproduced, crit, verdict, diff, source, details or {}
    )


def verdict_from(passed: bool, partly: bool = False) -> str:
    return REPRODUCED if passed else (PARTLY if partly else NOT_REPRODUCED)


class ClaimSet:
    """The claims of one notebook run."""

    def __init__(self, experiment: str, cfg, preset: str):
        self.experiment = experiment
        self.cfg = cfg
        self.preset = preset
        self.claims: list[Claim] = []

    def add(self, claim: Claim) -> Claim:
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"duplicate claim id {claim.id!r}")
        self.claims.append(claim)
        return claim

    def check(
        self,
        id: str,  # noqa: A002
        statement: str,
        *,
        published: Any,
        ours: Any,
        criterion: str,
        passed: bool | None = None,
        partly: bool = False,
        verdict: str | None = None,
        difference: str = "",
        source: str = "",
        interval=None,
        interval_kind: str = "",
        holds_across_interval: bool | None = None,
        **details,
    ) -> Claim:
        """Add a claim in one sentence: what was published, the criterion fixed
        before the run, our value, and whether it passed (``partly``: the
        weaker half of the criterion held), or the ``verdict`` itself where a
        function of the criterion decides it. Extra keywords go to ``details``."""
        if (passed is None) == (verdict is None):
            raise ValueError(f"claim {id!r}: give passed= or verdict=, not both")
        if verdict is None:
            verdict = verdict_from(bool(passed), bool(partly))
        return self.add(
            Claim(
                id,
                statement,
                published,
                ours,
                criterion,
                verdict,
                difference,
                source,
                details,
                interval,
                interval_kind,
                holds_across_interval,
            )  # fmt: skip
        )

    def _unassessed(
        self,
        verdict: str,
        id: str,  # noqa: A002
        statement: str,
        published: Any,
        why: str,
        source: str = "",
    ) -> Claim:
        """A claim with no number of ours; ``why`` stands in the criterion."""
        return self.add(Claim(id, statement, published, None, why, verdict, "", source))

    # (id, statement, published, why, source=""): a claim this preset is too
    # small to check, and why ("not run at this preset")
    not_run = functools.partialmethod(_unassessed, NOT_RUN)
    # the same for a claim no preset can test here (data that is not public,
    # say): "cannot be reproduced here", never a guess
    cannot_reproduce = functools.partialmethod(_unassessed, CANNOT)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.claims]).drop(columns="details")

    def write(self, out_dir) -> Path:
        """Write ``claims.csv`` then ``claims.json`` (the completion marker), atomically."""
        out_dir = Path(out_dir)
        io.write_csv(out_dir / "claims.csv", self.to_frame())
        return io.write_json(
            out_dir / "claims.json",
            {
                "experiment": self.experiment,
                "preset": self.preset,
                "config_hash": _config.config_hash(self.cfg),
                "config": _config.to_dict(self.cfg),
                "claims": [asdict(c) for c in self.claims],
            },
        )

    def table(self, *ids: str) -> str:
        """Markdown table of the claims ``ids`` (all if none), numbers from this run.

        Lessons keep their prose qualitative and show this table after a
        figure, so a notebook at any preset agrees with its own numbers.
        """
        known = {c.id: c for c in self.claims}
        missing = [i for i in ids if i not in known]
        if missing:
            raise KeyError(f"no claim {missing}; claims of this run: {sorted(known)}")
        rows = [
            "| claim | published | ours | interval | verdict |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in [known[i] for i in ids] if ids else self.claims:
            span = (
                f"{_short(c.interval[0])} to {_short(c.interval[1])} ({c.interval_kind})"
                if c.interval
                else ""
            )
            cols = (c.statement, _short(c.published), _short(c.reproduced), span)
            # a "|" in a claim's text (|r|, ||P_k||) would split its cell
            rows.append(
                "| "
                + " | ".join(v.replace("|", r"\|") for v in cols)
                + f" | {c.verdict} |"
            )
        return "\n".join(rows)

    def show(self, *ids: str):
        """Display :meth:`table` in a notebook."""
        from IPython.display import Markdown

        return Markdown(self.table(*ids))

    def _repr_markdown_(self) -> str:  # shown when a notebook displays the set
        return self.table()


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    return "—" if value is None else str(value)
