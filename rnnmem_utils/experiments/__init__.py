"""The experiments: one package each, ``rnnmem_utils/experiments/<name>/``.

Each is declared by one entry in :data:`rnnmem_utils.config.EXPERIMENTS` (name,
title, notebook, configuration schema, entry point, ``needs``) and has one
entry-point signature and result type (:mod:`.harness`)::

    results = rm.experiments.run("cycles", cfg, out_dir, preset="default")

Subpackages load lazily (``rm.experiments.cycles``).
"""

import importlib


def entry_point(experiment: str):
    """The entry point registered for ``experiment`` in ``config.EXPERIMENTS``."""
    from .. import config
    from .harness import lookup

    entry = lookup(config.EXPERIMENTS, experiment, "experiment").entry
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)


def run(experiment: str, cfg, out_dir, **kwargs):
    """Run ``experiment``'s entry point: ``run(cfg, out_dir, preset=..., needs=...)``."""
    return entry_point(experiment)(cfg, out_dir, **kwargs)


def lazy_main(package: str):
    """An experiment package's module ``__getattr__`` (PEP 562): the run and its
    helpers (``<package>.main``) load on first use, so importing the package for
    its schema stays light. In the package: ``__getattr__ = lazy_main(__name__)``."""

    def __getattr__(name):
        return getattr(importlib.import_module(f"{package}.main"), name)

    return __getattr__


def __getattr__(name):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from e
