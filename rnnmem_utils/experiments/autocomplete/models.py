"""The three autocomplete models of the Distill post (Madsen 2019): characters
in, the word being typed out.

    chars (B, T) -> embed (28 x E) -> recurrent stack -> dense (H x V) -> logits

- ``gru``: 2 layers of TensorFlow's ``GRUCell`` (the reset gate applied to h
  *before* the candidate's matmul: :func:`cells.gru_tf_step`);
- ``lstm``: 2 layers of TensorFlow's ``BasicLSTMCell``: one bias, a constant
  forget bias 1.0 added every step. Trained through the fused ``nn.LSTM``,
  whose second bias is frozen at ``(0, forget_bias, 0, 0)``: the same
  function, ``f = sigmoid(x W_xf + b_f + h W_hf + 1.0)`` (tested against
  :func:`cells.lstm_step`);
- ``nlstm``: 1 layer of Nested LSTM of depth 2 (:func:`cells.nested_lstm_step`,
  forget bias 1.0 at both depths as the post's ``nlstm.py``).

The embedding's row 0 (<eos>, padding) is zero and never trained (the post's
``embedding_matrix``); TensorFlow's initialisers: Glorot-uniform kernels over
the concatenated ``[x, h]`` (the GRU's gate and candidate kernels each over
its own width), zero biases except the GRU's gates (1.0), the
embedding ``U(-sqrt(1/27), sqrt(1/27))``.

The head is the post's dense layer over all ``n_words`` classes, or (a
cheaper training option, ``softmax="adaptive"``) torch's
``AdaptiveLogSoftmaxWithLoss`` over the words in frequency order; either way
:meth:`AutocompleteModel.log_probs` is the model's full distribution over every
word, which all evaluation uses.

:meth:`~AutocompleteModel.logits` is batch-first (``(B, T)`` characters,
``(B, T, V)`` logits); the recurrent stack and what
:mod:`rnnmem_utils.analysis.connectivity` reads (``embed``, ``features``,
``decoder``, ``logits_from_embedded``) are time-major like ``nn.RNN``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...analysis import connectivity as conn
from ...data import autocomplete as data
from ...models import cells

KINDS = ("gru", "lstm", "nlstm")
NAMES = {"gru": "GRU", "lstm": "LSTM", "nlstm": "Nested LSTM"}


def glorot_(w: torch.Tensor, fan_in: int, fan_out: int) -> None:
    """TensorFlow's ``glorot_uniform``: ``U(-a, a)``, ``a = sqrt(6 / (in + out))``."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(w, -a, a)


class AutocompleteModel(nn.Module):
    """Character embedding, a recurrent stack from the cell library, a word head.

    ``layers`` counts recurrent layers (the post: 2 for GRU and LSTM, 1 for the
    Nested LSTM, whose depth is 2). ``frequency_order`` (word ids from most to
    least frequent) is needed by the adaptive softmax only.
    """

    def __init__(
        self,
        kind: str,
        n_words: int,
        hidden_size: int,
        embedding_size: int,
        layers: int,
        *,
        forget_bias: float = 1.0,
        softmax: str = "full",
        cutoffs: tuple[int, ...] = (),
        frequency_order=None,
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"model {kind!r}; options are {list(KINDS)}")
        if softmax not in ("full", "adaptive"):
            raise ValueError(f"softmax {softmax!r}; options are 'full', 'adaptive'")
        self.kind, self.n_words, self.softmax = kind, n_words, softmax
        self.hidden_size, self.forget_bias = hidden_size, forget_bias
        self.embed = nn.Embedding(data.N_CHARS, embedding_size, padding_idx=data.EOS)
        sizes = [embedding_size] + [hidden_size] * (layers - 1)
        if kind == "lstm":
            self.rnn = nn.LSTM(embedding_size, hidden_size, num_layers=layers)
            self.cells = None
        else:
            self.rnn = None
            self.cells = nn.ModuleList(self._cell(kind, n) for n in sizes)
        if softmax == "full":
            self.dense = nn.Linear(hidden_size, n_words)
            self.adaptive = None
        else:
            self._adaptive(hidden_size, n_words, cutoffs, frequency_order)
        self.reset_parameters()

    def _cell(self, kind, input_size):
        h = self.hidden_size
        if kind == "gru":
            return cells.GRUCell(input_size, h, form="tf")
        return cells.NestedLSTMCell(input_size, h, forget_bias=self.forget_bias)

    def _adaptive(self, hidden_size, n_words, cutoffs, order):
        if order is None or len(order) != n_words:
            raise ValueError("the adaptive softmax needs the words' frequency order")
        self.dense = None
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
            hidden_size, n_words, list(cutoffs), div_value=4.0
        )
        order = torch.as_tensor(order, dtype=torch.long)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n_words)
        self.register_buffer("rank", rank)  # word id -> adaptive class

    # -- initialisation (TensorFlow 1's defaults, as the post trained) ---------
    def reset_parameters(self) -> None:
        with torch.no_grad():
            k = math.sqrt(1.0 / (data.N_CHARS - 1))
            nn.init.uniform_(self.embed.weight, -k, k)
            self.embed.weight[data.EOS].zero_()
            if self.rnn is not None:
                self._init_fused_lstm()
            else:
                for cell in self.cells:
                    self._init_cell(cell)
            if self.dense is not None:
                glorot_(self.dense.weight, self.hidden_size, self.n_words)
                self.dense.bias.zero_()

    def _init_cell(self, cell) -> None:
        fan_in, gh = cell.input_size + cell.hidden_size, cell.W_x.shape[1]
        # TF's kernels are over the concatenated [x, h]. The GRUCell has two,
        # gates/kernel (fan_in x 2H) and candidate/kernel (fan_in x H), each
        # Glorot over its own width; the LSTMs have one (fan_in x 4H).
        widths = (
            [2 * cell.hidden_size, cell.hidden_size] if self.kind == "gru" else [gh]
        )
        for w in (cell.W_x, cell.W_h):
            for block in w.split(widths, -1):
                glorot_(block, fan_in, block.shape[-1])
        cell.b.zero_()
        if self.kind == "gru":  # TF GRUCell: gate biases 1.0, candidate 0
            cell.b[: 2 * cell.hidden_size] = 1.0
        if self.kind == "nlstm":
            for w in (cell.W_ix, cell.W_ih):
                glorot_(w, 2 * cell.hidden_size, gh)
            cell.b_i.zero_()

    def _init_fused_lstm(self) -> None:
        h = self.hidden_size
        for layer in range(self.rnn.num_layers):
            w_ih = getattr(self.rnn, f"weight_ih_l{layer}")
            w_hh = getattr(self.rnn, f"weight_hh_l{layer}")
            glorot_(w_ih, w_ih.shape[1] + h, 4 * h)
            glorot_(w_hh, w_ih.shape[1] + h, 4 * h)
            getattr(self.rnn, f"bias_ih_l{layer}").zero_()
            b_hh = getattr(self.rnn, f"bias_hh_l{layer}")
            b_hh.zero_()
            b_hh[h : 2 * h] = self.forget_bias  # TF's constant forget bias
            b_hh.requires_grad_(False)  # a constant, not a parameter

    # -- the recurrent stack -----------------------------------------------
    def layer_cells(self) -> list[cells.Cell]:
        """The recurrent layers as cell-library cells, in order (for the LSTM,
        :class:`cells.LSTMCell` s holding copies of the fused weights)."""
        if self.cells is not None:
            return list(self.cells)
        out = []
        for layer in range(self.rnn.num_layers):
            size = self.rnn.input_size if layer == 0 else self.hidden_size
            cell = cells.LSTMCell(size, self.hidden_size).to(self.rnn.weight_hh_l0)
            out.append(cell.load_torch(self.rnn, f"_l{layer}"))
        return out

    def recurrent(self, x: torch.Tensor, *, fused: bool = True) -> torch.Tensor:
        """``x (T, B, E)`` embedded characters -> last layer's ``h (T, B, H)``.

        ``fused=False`` steps the LSTM through the cell library too (the same
        function; the GRU and the Nested LSTM always do)."""
        if self.rnn is not None and fused:
            return self.rnn(x)[0]
        return cells.run_layers(self.layer_cells(), x)[0]

    def hidden(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars (B, T)`` -> ``h (B, T, H)``."""
        return self.recurrent(self.embed(chars.t())).transpose(0, 1)

    # -- heads ---------------------------------------------------------------
    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(..., H)`` -> logits ``(..., V)`` (adaptive softmax:
        the log-probabilities, the only logits that model has)."""
        if self.dense is not None:
            return self.dense(h)
        lp = self.adaptive.log_prob(h.reshape(-1, h.shape[-1]))[:, self.rank]
        return lp.reshape(*h.shape[:-1], self.n_words)

    # -- what analysis.connectivity reads (time-major) ------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x (T, B, E)`` embedded inputs -> top hidden states ``(T, B, H)``."""
        return self.recurrent(x)

    @property
    def decoder(self) -> nn.Linear | None:
        """The dense head (None with the adaptive softmax, whose "logits" are
        log-probabilities: :meth:`logits_from_embedded`)."""
        return self.dense

    def logits_from_embedded(self, x: torch.Tensor) -> torch.Tensor:
        """``x (T, B, E)`` embedded inputs -> ``(T, B, V)`` logits: the function
        whose input gradient connectivity measures."""
        return self.head(self.recurrent(x))

    def connectivity_model(self):
        """What :mod:`rnnmem_utils.analysis.connectivity` (and the explorer)
        should read: the model itself with the full softmax; with the adaptive
        softmax an ``Adapter`` whose selected logits are the log-probabilities
        of the selected words alone (torch's adaptive forward), so that no
        ``(T, n, V)`` block of every word's log-probability is ever formed."""
        if self.adaptive is None:
            return self
        return _AdaptiveAdapter(
            self.embed.weight, logits=self.logits_from_embedded, module=self
        )

    def logits(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars (B, T)`` -> ``(B, T, V)`` logits."""
        return self.head(self.hidden(chars))

    def log_probs(self, chars: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` log-probabilities of every word (the full softmax)."""
        return F.log_softmax(self.logits(chars), -1)

    def loss(self, chars: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross entropy over the positions whose target is a word (the
        post masks <eos> and <unknown> out of the loss)."""
        keep = targets > data.UNKNOWN
        h = self.hidden(chars)[keep]  # (N, H): only the positions that count
        if self.adaptive is not None:
            return self.adaptive(h, self.rank[targets[keep]]).loss
        return F.cross_entropy(self.dense(h), targets[keep])


@dataclass(frozen=True)
class _AdaptiveAdapter(conn.Adapter):
    """``conn.Adapter`` of an adaptive-softmax model (see
    :meth:`AutocompleteModel.connectivity_model`)."""

    def selected_logits(self, x, rows, classes):
        model = self.module
        h = model.features(x)[rows, torch.arange(len(rows))]  # (n, H)
        return model.adaptive(h, model.rank[classes]).output  # (n,) log p


def build(kind: str, cfg, n_words: int, frequency_order=None, seed: int = 0):
    """The model ``kind`` at ``cfg``'s sizes, initialised from ``seed``."""
    layers = cfg.nlstm_layers if kind == "nlstm" else cfg.layers
    with torch.random.fork_rng():  # seeded init without global side effects
        torch.manual_seed(seed)
        return AutocompleteModel(
            kind,
            n_words,
            cfg.hidden_size,
            cfg.embedding_size,
            layers,
            forget_bias=cfg.forget_bias,
            softmax=cfg.softmax,
            cutoffs=cfg.adaptive_cutoffs,
            frequency_order=frequency_order,
        )


def count_parameters(model: AutocompleteModel) -> dict[str, int]:
    """Trainable parameters by part (the embedding's fixed row 0 excluded, as
    the post's ``embedding_matrix`` has it outside the variable)."""

    def n(module):
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    rec = model.rnn if model.rnn is not None else model.cells
    head = model.dense if model.dense is not None else model.adaptive
    emb = model.embed.weight.numel() - model.embed.weight.shape[1]
    return {"embedding": emb, "recurrent": n(rec), "head": n(head)}
