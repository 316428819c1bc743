"""rnnmem_utils: the library behind the rnnmem notebooks.

``import rnnmem_utils as rm`` is cheap (no torch): submodules load on first use,
so ``rm.config.resolve(...)`` and the CLI work without importing models, and
``rm.experiments``, ``rm.plotting`` etc. load when a notebook touches them.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "analysis",
    "claims",
    "config",
    "data",
    "experiments",
    "explorer",
    "io",
    "models",
    "plotting",
    "presets",
    "report",
    "training",
    "runner",
    "store",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
