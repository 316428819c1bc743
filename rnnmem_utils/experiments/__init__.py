"""One entry point per experiment: ``run_<name>(cfg, out_dir, ...) -> results``.

Each entry point receives its resolved configuration and its output directory,
writes its artifacts atomically there, resumes finished units of work, and
returns a results object the notebook plots from. Submodules load lazily.
"""

import importlib

_ENTRY_POINTS = {
    # "run_latching": "latching",   (entry point name -> submodule)
    "run_latching": "latching",
    "run_bit_relay": "latching",
    "run_cycles": "cycles",
    "run_foundations": "foundations",
}


def entry_point(experiment: str):
    """The entry point registered for ``experiment`` in ``config.EXPERIMENTS``."""
    from .. import config
    from .harness import lookup

    module, _, function = lookup(
        config.EXPERIMENTS, experiment, "experiment"
    ).entry.partition(":")
    return getattr(importlib.import_module(module), function)


def run(experiment: str, cfg, out_dir, **kwargs):
    """Run ``experiment``'s entry point: ``run(cfg, out_dir, preset=..., needs=...)``."""
    return entry_point(experiment)(cfg, out_dir, **kwargs)


def __getattr__(name):
    if name in _ENTRY_POINTS:
        return getattr(
            importlib.import_module(f"{__name__}.{_ENTRY_POINTS[name]}"), name
        )
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from e
