"""The run of the foundations lesson (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path

from ... import config as _config
from ... import io, store
from ..harness import Results, results, single_thread
from .claims import build_claims
from .parts import (  # noqa: F401  (re-exported: each part runs alone)
    EXPERIMENT,
    PARTS,
    part_dropout_layers,
    part_gradients,
    part_repeat,
    part_truncation,
    part_units,
)  # fmt: skip


def run(
    cfg, out_dir, *, preset: str = "default", needs=None, progress: bool = True
) -> Results:
    """Run the five parts (resumable), write the claims; the result holds one
    dict per part (``results["repeat"]`` ...) and the claims."""
    check_data(cfg)
    out_dir = Path(out_dir)
    io.write_json(out_dir / "config.json", _config.to_dict(cfg))
    funcs = [
        part_repeat,
        part_truncation,
        part_gradients,
        part_units,
        part_dropout_layers,
    ]
    parts = {}
    for i, (name, fn) in enumerate(zip(PARTS, funcs, strict=True), start=1):
        if progress:
            print(f"part {i}/5: {name}", flush=True)
        with single_thread():  # tiny models: threads only contend
            parts[name] = cached(
                out_dir / f"part{i}_{name}.json",
                cfg,
                lambda f=fn: f(cfg, progress) if f is part_units else f(cfg),
            )
    claims = build_claims(cfg, preset, parts)
    claims.write(out_dir)
    return results(EXPERIMENT, preset, claims, **parts)


def check_data(cfg) -> dict:
    """Verify every data file this lesson reads (text8, part 4) and that it is
    long enough for ``cfg``, before any part runs: a missing, corrupt or short
    file fails in seconds, not after parts 1-3. Returns ``{file: sha256}``."""
    from ...data.corpora import prepare

    return prepare(EXPERIMENT, cfg)


# The modules the parts' numbers depend on (claims, plotting and prose are not).
_CODE = (
    "rnnmem_utils.experiments.foundations.main",
    "rnnmem_utils.experiments.foundations.parts",
    "rnnmem_utils.training.bptt",
    "rnnmem_utils.training.lm",
    "rnnmem_utils.models.handbuilt",
    "rnnmem_utils.models.cells",
    "rnnmem_utils.analysis.jacobians",
    "rnnmem_utils.data.chars",
    "rnnmem_utils.timing",
)


def cached(path: Path, cfg, compute) -> dict:
    """``compute()`` once, resumable: the finished part is a unit in the store
    (keyed by the configuration and the code above), and written to ``path``
    as a result with the configuration's hash beside it."""
    data = store.cached(
        path.parent, f"foundations/{path.stem}", cfg, compute, code=_CODE
    )
    io.write_json(path, {"config_hash": _config.config_hash(cfg), "data": data})
    return data
