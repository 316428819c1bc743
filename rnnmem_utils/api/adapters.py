"""Your recurrent model, seen through the cell library.

:func:`adapt` finds the parts of a PyTorch model that the analyses need: the
input (an ``nn.Embedding``, or one-hot vectors when there is none), the
recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``; stacked modules and
``num_layers > 1`` alike, ``batch_first`` either way) and the decoder (the
last ``nn.Linear`` after them, optional). It returns a :class:`StackAdapter`:
the state-gradient engine's :class:`~rnnmem_utils.analysis.state_gradients.
CellStack` (the same weights, copied into :mod:`rnnmem_utils.models.cells`,
with the engine's hand-written tangents for every layer) plus what the other
analyses read::

    embed(tokens (T, B)) -> (T, B, E)      init_state(B) -> tuple of (B, H)
    step(x_t (B, E), state) -> state        state_index(name) -> int
    states(tokens) -> {name: (T, B, H)}     features(x) -> (T, B, H); decoder

State names: ``h`` (and ``c`` for an LSTM) with one layer; with more,
``h1, c1, h2, ...`` counted over all recurrent layers in order, where ``h``
and ``c`` alone mean the top layer.

Anything else (a custom cell, a bidirectional or projected LSTM, an
attention model) goes through your own adapter: any object with the methods
above (see :data:`ADAPTER_METHODS`) is accepted as it is. The weights are
copied when you adapt: adapt again after further training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.state_gradients import CellStack
from ..models import cells

ADAPTER_METHODS = ("embed", "init_state", "step", "state_index")
_KINDS = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}
_STEP_MODULES = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)


class UnsupportedModel(TypeError):
    """The model's shape is not one :func:`adapt` recognises."""


def _kind(cell) -> str:
    return {cells.LSTMCell: "lstm", cells.GRUCell: "gru"}.get(type(cell), "rnn")


class StackAdapter(CellStack):
    """Input -> stacked recurrent layers -> optional decoder: the engine's
    :class:`CellStack` with the user's embedding (or one-hot inputs), decoder
    and data layout."""

    def __init__(self, layers, embedding=None, input_size=None, decoder=None,
                 data_batch_first=False):  # fmt: skip
        if not layers:
            raise UnsupportedModel("no recurrent layer given")
        self.embedding = embedding
        self.input_size = input_size or layers[0].input_size
        self.decoder = decoder
        # the user's data layout ((B, T) when their layer is batch_first); the
        # adapter itself is time-major, as torch.nn.RNN without batch_first
        self.data_batch_first = data_batch_first
        super().__init__(self._embed, layers)

    training = False  # read as a module's mode by the analyses; nothing to switch

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __repr__(self) -> str:
        inp = (
            f"Embedding({self.embedding.num_embeddings}, {self.embedding.embedding_dim})"
            if self.embedding is not None
            else f"one-hot({self.input_size})"
        )
        stack = " -> ".join(f"{_kind(c).upper()}({c.hidden_size})" for c in self.layers)
        dec = " -> decoder" if self.decoder is not None else ""
        return f"StackAdapter({inp} -> {stack}{dec}; states {self.state_names})"

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, B)`` ids -> ``(T, B, E)`` input vectors (one-hot without an
        embedding)."""
        if self.embedding is None:
            return F.one_hot(tokens, self.input_size).to(self.layers[0].W_h.dtype)
        return self.embedding(tokens)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The top layer's hidden states ``(T, B, H)`` from embedded inputs
        ``(T, B, E)``, differentiable (connectivity reads it with the decoder)."""
        h, _ = cells.run_layers(self.layers, x)
        return h

    @torch.no_grad()
    def states(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every state after every input: ``{name: (T, B, H)}``."""
        s = self.init_state(tokens.shape[1])
        out = {n: [] for n in self.state_names}
        for x_t in self.embed(tokens):
            s = self.step(x_t, s)
            for n, v in zip(self.state_names, s, strict=True):
                out[n].append(v)
        return {n: torch.stack(v) for n, v in out.items()}

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, B, V)`` decoder outputs from the top layer's hidden state."""
        if self.decoder is None:
            raise UnsupportedModel("this model has no decoder (nn.Linear) to read")
        return self.decoder(self.features(self.embed(tokens)))


def adapt(model, *, embedding=None, rnn=None, decoder=None):
    """A :class:`StackAdapter` for ``model``, or ``model`` itself when it
    already has the adapter methods. ``embedding``, ``rnn`` (a module or a list
    of modules, in order) and ``decoder`` override what is found."""
    if all(callable(getattr(model, m, None)) for m in ADAPTER_METHODS):
        return model
    if not isinstance(model, nn.Module):
        raise UnsupportedModel(
            f"{type(model).__name__} is not a torch.nn.Module and has no "
            f"adapter methods {ADAPTER_METHODS}"
        )
    found = _find(model)
    rnns = _as_list(rnn) if rnn is not None else found["rnn"]
    if not rnns:
        raise UnsupportedModel(_refusal(model, found))
    if embedding is None:
        if len(found["embedding"]) > 1:
            raise UnsupportedModel(
                f"{len(found['embedding'])} nn.Embedding modules found "
                f"({[n for n, _ in found['names'] if 'Embedding' in n]}); pass "
                "embedding= the one that feeds the recurrent layers"
            )
        embedding = found["embedding"][0] if found["embedding"] else None
    decoder = decoder if decoder is not None else found["decoder"]
    layers = [cell for module in rnns for cell in _layers(module)]
    _check_chain(embedding, layers)
    batch_first = bool(getattr(rnns[0], "batch_first", False))
    return StackAdapter(layers, embedding, layers[0].input_size, decoder, batch_first)


def _as_list(rnn):
    return list(rnn) if isinstance(rnn, list | tuple | nn.ModuleList) else [rnn]


def _find(model) -> dict:
    """Embeddings, recurrent modules and the decoder, in registration order."""
    found = {"embedding": [], "rnn": [], "decoder": None, "step": [], "names": []}
    for name, m in model.named_modules():
        found["names"].append((f"{name or '<model>'}: {type(m).__name__}", m))
        if isinstance(m, nn.Embedding):
            found["embedding"].append(m)
        elif type(m) in _KINDS:
            found["rnn"].append(m)
        elif isinstance(m, _STEP_MODULES):
            found["step"].append(name)
        elif isinstance(m, nn.Linear) and found["rnn"]:
            found["decoder"] = m  # the last linear layer after the recurrence
    return found


def _refusal(model, found) -> str:
    seen = ", ".join(n for n, _ in found["names"][:12])
    hint = (
        f" It steps {found['step']} (nn.*Cell) in its own loop, which cannot be "
        "read from the modules alone."
        if found["step"]
        else ""
    )
    return (
        f"no nn.LSTM, nn.GRU or nn.RNN found in {type(model).__name__} ({seen}).{hint} "
        f"Write an adapter with the methods {ADAPTER_METHODS} and state_names "
        "(see rnnmem_utils.api.adapters) and pass it instead."
    )


def _layers(module) -> list[cells.Cell]:
    """The module's layers as cells with copied weights (refusing, with the
    reason, what the cells cannot step)."""
    if type(module) not in _KINDS:
        raise UnsupportedModel(
            f"{type(module).__name__} is not nn.LSTM, nn.GRU or nn.RNN"
        )
    if module.bidirectional:
        raise UnsupportedModel(
            f"{module} is bidirectional: a state at t then depends on the future; "
            "analyse each direction with an adapter of your own"
        )
    if getattr(module, "proj_size", 0):
        raise UnsupportedModel(f"{module} has proj_size > 0 (a projected LSTM)")
    if not module.bias:
        raise UnsupportedModel(f"{module} has no biases (bias=False)")
    return CellStack.from_torch(None, module).layers


def _check_chain(embedding, layers) -> None:
    if embedding is not None and embedding.embedding_dim != layers[0].input_size:
        raise UnsupportedModel(
            f"the embedding gives {embedding.embedding_dim} features but the first "
            f"recurrent layer takes {layers[0].input_size}; pass embedding= and rnn="
        )
    for a, b in zip(layers, layers[1:], strict=False):
        if a.hidden_size != b.input_size:
            raise UnsupportedModel(
                f"layer sizes do not chain ({a.hidden_size} -> {b.input_size}); "
                "pass rnn= the layers in the order the model runs them"
            )
