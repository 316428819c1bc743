"""Memory analysis of your own recurrent model: the public API.

Importable from the package top level::

    import rnnmem_utils as rm

    net = rm.adapt(model)                        # what was found, in one line
    curves = rm.state_gradients(model, tokens, labels=pos_tags, state="c")
    acc = rm.probe(rm.states(model, tokens)["h"].reshape(-1, H), labels)
    mc = rm.memory_capacity(rm.esn_states(u), u).mc_k.sum()
    conn = rm.connectivity(model, ids[:60])     # output x input, batched
    rm.explorer_page({"mine": model}, ids[:60], vocab, path="explorer.html")

See :mod:`.adapters` for the model shapes recognised (and the adapter for
the others) and :mod:`.measures` for each measure.
"""

from .adapters import ADAPTER_METHODS, StackAdapter, UnsupportedModel, adapt
from .connect import connectivity, explorer_page
from .measures import (
    as_streams,
    drive,
    esn_states,
    memory_capacity,
    probe,
    relative_memory,
    state_gradients,
    states,
)

__all__ = [
    "ADAPTER_METHODS",
    "StackAdapter",
    "UnsupportedModel",
    "adapt",
    "connectivity",
    "explorer_page",
    "as_streams",
    "drive",
    "esn_states",
    "memory_capacity",
    "probe",
    "relative_memory",
    "state_gradients",
    "states",
]
