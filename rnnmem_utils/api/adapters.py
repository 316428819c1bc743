"""Your recurrent model, seen through the cell library.

:func:`adapt` finds the parts of a PyTorch model that the analyses need: the
input (an ``nn.Embedding``, or one-hot vectors when there is none), the
recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``; stacked modules and
``num_layers > 1`` alike, ``batch_first`` either way) and the decoder (the
last ``nn.Linear`` after them, optional). It returns a :class:`StackAdapter`
that steps the same weights, copied, through :mod:`rnnmem_utils.models.cells`
and exposes the interface every engine of this package reads::

    embed(tokens (T, B)) -> (T, B, E)      init_state(B) -> tuple of (B, H)
    step(x_t (B, E), state) -> state        state_index(name) -> int
    state_names -> ("h0", "c0", "h1", ...)  states(tokens) -> {name: (T, B, H)}

State names: ``h<l>`` (and ``c<l>`` for an LSTM) for layer ``l`` counted
over all recurrent layers in order; ``h`` and ``c`` alone mean the last layer.

Anything else (a custom cell, a bidirectional or projected LSTM, an
attention model) goes through your own adapter: any object with the methods
above (see :data:`ADAPTER_METHODS`) is accepted as it is. The weights are
copied when you adapt: adapt again after further training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models import cells

ADAPTER_METHODS = ("embed", "init_state", "step", "state_index")
_KINDS = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}
_STEP_MODULES = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)


class UnsupportedModel(TypeError):
    """The model's shape is not one :func:`adapt` recognises."""


@dataclass(frozen=True)
class Layer:
    """One recurrent layer: its kind and size, and the cell that steps it."""

    kind: str
    input_size: int
    hidden_size: int
    cell: cells.Cell

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.kind == "lstm" else ("h",)


class StackAdapter(nn.Module):
    """Input -> stacked recurrent layers -> optional decoder, stepped by the
    cell library with weights copied from the user's modules."""

    def __init__(self, layers, embedding=None, input_size=None, decoder=None,
                 data_batch_first=False):  # fmt: skip
        super().__init__()
        if not layers:
            raise UnsupportedModel("no recurrent layer given")
        self.layers = list(layers)
        self._cells = nn.ModuleList(layer.cell for layer in self.layers)
        self.embedding = embedding
        self.input_size = input_size or self.layers[0].input_size
        self.decoder = decoder
        # the user's data layout ((B, T) when their layer is batch_first); the
        # adapter itself is time-major, as torch.nn.RNN without batch_first
        self.data_batch_first = data_batch_first
        self.fast = None  # a one-layer model's RecurrentLM twin (its tangents)
        names = []
        for i, layer in enumerate(self.layers):
            names += [f"{n}{i}" for n in layer.state_names]
        self.state_names = tuple(names)

    def __repr__(self) -> str:
        inp = (
            f"Embedding({self.embedding.num_embeddings}, {self.embedding.embedding_dim})"
            if self.embedding is not None
            else f"one-hot({self.input_size})"
        )
        stack = " -> ".join(f"{x.kind.upper()}({x.hidden_size})" for x in self.layers)
        dec = " -> decoder" if self.decoder is not None else ""
        return f"StackAdapter({inp} -> {stack}{dec}; states {self.state_names})"

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, B)`` ids -> ``(T, B, E)`` input vectors (one-hot without an
        embedding)."""
        if self.embedding is None:
            return F.one_hot(tokens, self.input_size).to(self._dtype())
        return self.embedding(tokens)

    def _dtype(self):
        return self._cells[0].W_h.dtype

    def init_state(self, batch_size: int) -> tuple:
        return tuple(s for cell in self._cells for s in cell.init_state(batch_size))

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple:
        out, k = [], 0
        for layer in self.layers:
            n = len(layer.state_names)
            new = layer.cell(x_t, tuple(state[k : k + n]))
            out += list(new)
            x_t, k = new[0], k + n
        return tuple(out)

    def step_tangent(self, x_t, state, d_in, d_out):
        """The engine's fast path (:meth:`RecurrentLM.step_tangent`) for one
        layer; ``None`` (the engine then uses ``torch.func.jvp``) otherwise."""
        if self.fast is None:
            return None
        return self.fast.step_tangent(x_t, state, d_in, d_out)

    def state_index(self, name: str) -> int:
        last = len(self.layers) - 1
        full = f"{name}{last}" if name in ("h", "c") else name
        if full not in self.state_names:
            raise ValueError(
                f"state {name!r}; options for this model are {self.state_names} "
                "('h' and 'c' alone name the last layer's)"
            )
        return self.state_names.index(full)

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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's hidden states ``(T, B, H)`` from embedded inputs
        ``(T, B, E)``, differentiable (connectivity reads it with the decoder)."""
        h, _ = cells.run_layers(self._cells, x)
        return h

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, B, V)`` decoder outputs from the last layer's hidden state."""
        if self.decoder is None:
            raise UnsupportedModel("this model has no decoder (nn.Linear) to read")
        h = self.states(tokens)[f"h{len(self.layers) - 1}"]
        return self.decoder(h)


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
    layers = [layer for module in rnns for layer in _layers(module)]
    _check_chain(embedding, layers)
    batch_first = bool(getattr(rnns[0], "batch_first", False))
    adapter = StackAdapter(
        layers, embedding, layers[0].input_size, decoder, batch_first
    )
    adapter = adapter.to(next(iter(rnns[0].parameters())).dtype).eval()
    if len(rnns) == 1 and len(layers) == 1:
        adapter.fast = _fast_path(rnns[0], layers[0])
    return adapter


def _fast_path(module, layer):
    """A RecurrentLM with the module's weights, whose hand-written tangents
    the state-gradient engine uses (tanh cells only; not for ReLU RNNs)."""
    from ..models.lm import RecurrentLM

    if getattr(module, "nonlinearity", "tanh") != "tanh":
        return None
    twin = RecurrentLM(layer.kind, 1, layer.hidden_size, layer.input_size)
    twin.rnn.load_state_dict(module.state_dict())
    p = next(iter(module.parameters()))
    return twin.to(p.dtype).eval()


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


def _layers(module) -> list[Layer]:
    kind = _KINDS.get(type(module))
    if kind is None:
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
    out = []
    for k in range(module.num_layers):
        size_in = module.input_size if k == 0 else module.hidden_size
        cell = _cell(kind, module, size_in)
        cell.load_torch(module, f"_l{k}")
        out.append(Layer(kind, size_in, module.hidden_size, cell))
    return out


def _cell(kind, module, size_in) -> cells.Cell:
    h = module.hidden_size
    if kind == "lstm":
        return cells.LSTMCell(size_in, h)
    if kind == "gru":
        return cells.GRUCell(size_in, h, form="torch")
    act = torch.relu if module.nonlinearity == "relu" else torch.tanh
    return cells.RNNCell(size_in, h, act=act)


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
