"""Connectivity of your own model (Madsen 2019, Distill): how much each output
position's prediction depends on each earlier input, as a tidy table, and the
explorer page for word-level (or any token-level) models.

Character models of the post's kind (characters in, words out) use
:mod:`rnnmem_utils.explorer` directly; these functions take any token ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import explorer
from ..analysis import connectivity as conn
from ..io import write_text
from .adapters import adapt


def _connectable(model):
    """What :mod:`~rnnmem_utils.analysis.connectivity` reads: the adapter
    (embedding, features, decoder), or one-hot inputs as an identity
    embedding."""
    net = adapt(model)
    if getattr(net, "decoder", None) is None or not callable(
        getattr(net, "features", None)
    ):
        return net  # the user's own adapter: connectivity.adapt says what is missing
    if net.embedding is not None:
        return net
    eye = torch.eye(net.input_size, dtype=net.init_state(1)[0].dtype)
    return conn.Adapter(eye, features=net.features, decoder=net.decoder)


def _targets(ids: torch.Tensor, targets, model) -> torch.Tensor:
    """``"next"``: the next token (the last position: the model's own top
    prediction); ``"predicted"``: the model's top prediction everywhere; or ids."""
    if isinstance(targets, str):
        if targets not in ("next", "predicted"):
            raise ValueError(
                f"targets={targets!r}; options are 'next', 'predicted' or ids"
            )
        top = torch.as_tensor(conn.logits(model, ids)).argmax(-1)
        return torch.cat([ids[1:], top[-1:]]) if targets == "next" else top
    out = torch.as_tensor(np.asarray(targets)).long()
    return out.expand(len(ids)) if out.dim() == 0 else out


def connectivity(model, tokens, *, targets="next", norm: str = "l2",
                 normalise: bool = True) -> pd.DataFrame:  # fmt: skip
    """Connectivity of one sequence as a tidy table (``output``, ``input``,
    ``delay``, ``connectivity``), lower triangle only: for output position t,
    the norm of the gradient of the target class's logit with respect to the
    one-hot input at each position s <= t, each row divided by its maximum
    (``normalise``). ``norm``: ``"l2"`` (the article) or ``"squared"`` (the
    post's code). ``targets``: ``"next"`` (a language model's next token),
    ``"predicted"`` (its own top prediction) or ids (one, or one per position).
    ``conn.connectivity`` computes the whole map in batched passes."""
    net = _connectable(model)
    ids = torch.as_tensor(np.asarray(tokens)).long().reshape(-1)
    c = conn.connectivity(net, ids, _targets(ids, targets, net), norm=norm,
                          normalise=normalise)  # fmt: skip
    out, inp = np.tril_indices(len(ids))
    return pd.DataFrame({"output": out, "input": inp, "delay": out - inp,
                         "connectivity": c[out, inp]})  # fmt: skip


def explorer_page(models: Mapping[str, object], tokens, vocab: Sequence[str], *,
                  targets="next", k: int = 3, norm: str = "l2", path=None,
                  title: str = "Connectivity explorer") -> str:  # fmt: skip
    """A self-contained explorer page (:mod:`rnnmem_utils.explorer`) for token
    models: hover a word to see its connectivity to the earlier words and each
    model's top-``k`` next words there; switch models. Written to ``path`` if
    given; returns the HTML."""
    ids = torch.as_tensor(np.asarray(tokens)).long().reshape(-1)
    shown = [f" {vocab[i]}" for i in ids.tolist()]
    entry = {"text": shown, "models": {}}
    for name, model in models.items():
        net = _connectable(model)
        tgt = _targets(ids, targets, net)
        c = conn.connectivity(net, ids, tgt, norm=norm)
        rows = conn.top_k(conn.logits(net, ids), vocab, k)
        entry["targets"] = [vocab[j] for j in tgt.tolist()]
        entry["models"][name] = explorer.model_entry(name, c, rows)
    data = explorer.page_data(title, norm, k, list(models), [entry])
    html = explorer.render(data)
    if path is not None:
        write_text(Path(path), html)
    return html
