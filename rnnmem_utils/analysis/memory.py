"""What a language model remembers, in state-gradient terms (Verwimp et al. 2018,
sections 4.3 to 5, appendix 9), on top of :mod:`.state_gradients`.

The pipeline (each step a function; every table tidy, one row per value)::

    sample = sample_segments(model, stream, length=200, positions=20_000)
    groupings = {"all": Grouping.single(len(stream)),
                 "pos": Grouping(pos_ids, pos_names),             # one label per position
                 "word": Grouping(stream, vocab, bootstrap=False)}  # many groups
    sums = block_sums(model, sample, {k: groupings[k] for k in ("all", "pos")})
    table = curves(sums, chol=embedding_cholesky(emb))      # sigma_1, ... with bands
    draws = curve_draws(sums, chol=...)                     # the same, as draws
    words = streamed_curves(model, sample, {"word": groupings["word"]}, chol=...)
    fits = decay_fits(words)                                 # sigma_1 = a exp(-b tau)
    d = difference_vector(emb, plural_ids, singular_ids, chol)
    props = property_curves(sums["pos"], "N", {"sg-pl": d}, chol=...)

Grouping. G[t, tau] = d s_t / d e_{t-tau} goes to the group of the SOURCE
t - tau, the word whose embedding is differentiated (``by="source"``, the
default): the paper averages "the gradient matrices over all occurrences of
a word" (section 4.3.4) or of a POS class (4.3.3) to see how that word is
remembered tau steps later, and its public code files each matrix under the
input word at t - tau. ``by="target"`` (the word at t) is kept for
comparison; the two differ at every delay > 0.

Sampling. The analysed text is one stream (N,) of token ids, cut into disjoint
segments of ``length`` tokens; ``positions`` (a budget) picks a random subset.
Each segment starts from the model's true state at its first token (one
forward pass over the stream), so G[t, tau] is exact for every source and
target inside the segment: a source at offset k contributes delays
0..length-1-k (a target at offset k, delays 0..k), and ``n`` (the count per
delay) says how many matrices each delay averages.

Bands. Segments are assigned at random to ``blocks`` bootstrap blocks; the
sums are kept per block, and a bootstrap replicate resamples blocks with
replacement (segments, not single positions, because neighbouring positions
share their history). ``lo``/``hi`` are percentile intervals of the statistic
of the replicate's mean matrix. A grouping with ``bootstrap=False`` (words)
keeps one block: no band (NaN), its sampling error is the fit's.

Memory. Sums take ``groups * blocks * D * E * H`` numbers of the model's
dtype; :func:`block_sums` refuses more than ``max_bytes``;
:func:`streamed_curves` splits the groups into passes that each fit (one
sweep of the engine per pass, only near that pass's targets), summarises each
pass and drops its sums, so the whole vocabulary fits under any budget.
:func:`plan_passes` says what a run will take before it starts.

Section 5 measures: relative memory m = ||G d|| / (sigma_1 ||d||) and the
cosine of d with the span of the top-n right singular vectors,
||V_n^T d|| / ||d|| (eq. 16-20); d is taken as a direction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import state_gradients as sg

STATISTICS = ("sigma_1", "selectiveness", "sum_sigma")
CURVE_COLUMNS = ["grouping", "group", "delay", "statistic", "value", "lo", "hi", "n"]


# ---------------------------------------------------------------------------
# Groupings and samples
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Grouping:
    """A label per position of the analysed stream: ``labels`` (N,) ints in
    ``[0, len(names))`` or -1 (not counted); ``names`` the groups' names.
    ``bootstrap=False`` keeps one block per group (no band; for words)."""

    labels: np.ndarray
    names: tuple[str, ...]
    bootstrap: bool = True

    def __init__(self, labels, names, bootstrap: bool = True):
        labels = np.asarray(labels, dtype=np.int64)
        names = tuple(str(n) for n in names)
        if labels.ndim != 1:
            raise ValueError(
                f"labels must be 1-D (one per position); got {labels.shape}"
            )
        if labels.size and (labels.min() < -1 or labels.max() >= len(names)):
            raise ValueError(
                f"labels must lie in [-1, {len(names)}); "
                f"got [{labels.min()}, {labels.max()}]"
            )
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "bootstrap", bootstrap)

    @classmethod
    def single(cls, n_positions: int, name: str = "all") -> Grouping:
        """Every position in one group."""
        return cls(np.zeros(n_positions, dtype=np.int64), (name,))

    def restrict(self, groups: Sequence[int]) -> Grouping:
        """Only ``groups`` (indices), renumbered in the given order."""
        remap = np.full(len(self.names) + 1, -1, dtype=np.int64)
        remap[np.asarray(groups, dtype=np.int64)] = np.arange(len(groups))
        labels = remap[self.labels]  # label -1 reads remap[-1] = -1
        return Grouping(labels, [self.names[g] for g in groups], self.bootstrap)


@dataclass
class Sample:
    """Segments of the analysed stream as parallel streams.

    ``tokens`` (L, S) long; ``initial_state``: the model's state before each
    segment (tuple of (S, H)); ``positions`` (L, S) the stream index of each
    token; ``blocks`` (S,) the bootstrap block of each segment."""

    tokens: torch.Tensor
    initial_state: tuple
    positions: np.ndarray
    blocks: np.ndarray
    n_blocks: int
    stream_length: int

    @property
    def n_positions(self) -> int:
        return int(self.positions.size)

    def labels(self, grouping: Grouping) -> np.ndarray:
        """(L, S) labels of the sampled positions."""
        if len(grouping.labels) != self.stream_length:
            raise ValueError(
                f"grouping has {len(grouping.labels)} labels; "
                f"the stream has {self.stream_length} positions"
            )
        return grouping.labels[self.positions]


def sample_segments(
    model,
    stream,
    *,
    length: int = 200,
    positions: int | None = None,
    blocks: int = 20,
    seed: int = 0,
) -> Sample:
    """Cut ``stream`` (N,) into disjoint segments of ``length`` tokens (the
    remainder dropped) and keep all, or ``ceil(positions / length)`` of them
    at random; assign them at random to ``blocks`` bootstrap blocks."""
    stream = torch.as_tensor(np.asarray(stream), dtype=torch.long)
    n_slots = len(stream) // length
    if n_slots == 0:
        raise ValueError(f"stream of {len(stream)} tokens < one segment ({length})")
    rng = np.random.default_rng(seed)
    slots = np.arange(n_slots)
    if positions is not None and positions < n_slots * length:
        keep = max(1, math.ceil(positions / length))
        slots = np.sort(rng.choice(n_slots, size=keep, replace=False))
    starts = slots * length
    index = starts[None, :] + np.arange(length)[:, None]  # (L, S)
    n_blocks = min(blocks, len(slots))
    block = np.empty(len(slots), dtype=np.int64)
    block[rng.permutation(len(slots))] = np.arange(len(slots)) % n_blocks
    return Sample(
        tokens=stream[torch.as_tensor(index)],
        initial_state=states_at(model, stream, starts),
        positions=index,
        blocks=block,
        n_blocks=n_blocks,
        stream_length=len(stream),
    )


@torch.no_grad()
def states_at(model, stream: torch.Tensor, starts: np.ndarray) -> tuple:
    """The model's state before each of ``starts`` (sorted) when it reads
    ``stream`` from a zero state: a tuple of (S, H) in the analysis view's
    order. Through the fused layer when the model has one (the training
    path; the same numbers up to rounding), else stepped by the cells."""
    view = sg.analysis_view(model)
    rnn = getattr(model, "rnn", None)
    if isinstance(rnn, torch.nn.RNNBase) and isinstance(view, sg.CellStack):
        return _fused_states_at(model, rnn, stream, starts)
    s = view.init_state(1)
    out = [[] for _ in s]
    last = int(starts.max(initial=0))
    xs = view.embed(stream[:last][:, None])
    want = set(starts.tolist())
    for t in range(last + 1):
        if t in want:
            for k, v in enumerate(s):
                out[k].append(v[0])
        if t < len(xs):
            s = view.step(xs[t], s)
    return tuple(torch.stack(v) for v in out)


def _fused_states_at(model, rnn, stream, starts):
    """states_at through ``rnn`` (nn.LSTM/GRU/RNN), one call per gap."""
    w = rnn.weight_hh_l0
    zeros = w.new_zeros(rnn.num_layers, 1, rnn.hidden_size)
    last = (zeros, zeros.clone()) if isinstance(rnn, torch.nn.LSTM) else zeros
    out, prev = [], 0
    for start in np.asarray(starts).tolist():
        if start > prev:
            _, last = rnn(model.embed(stream[prev:start][:, None]), last)
            prev = start
        parts = last if isinstance(last, tuple) else (last,)
        out.append([p[layer, 0] for layer in range(rnn.num_layers) for p in parts])
    return tuple(torch.stack(v) for v in zip(*out, strict=True))


# ---------------------------------------------------------------------------
# Sums per group and bootstrap block
# ---------------------------------------------------------------------------


@dataclass
class BlockSums:
    """Sums of G per group and bootstrap block: ``sums`` (K, M, D, H, E) and
    ``counts`` (K, M, D); the mean of group k is the sum over blocks over the
    count over blocks."""

    sums: torch.Tensor
    counts: torch.Tensor
    groups: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    @property
    def n_blocks(self) -> int:
        return self.sums.shape[1]

    def index(self, group: str) -> int:
        if group not in self.groups:
            shown = list(self.groups)[:20]
            raise KeyError(f"group {group!r}; options are {shown}")
        return self.groups.index(group)

    def mean(self, k: int) -> torch.Tensor:
        """G-bar of group k (D, H, E), float64; NaN at delays with no target."""
        total = self.sums[k].double().sum(0)
        count = self.counts[k].sum(0)
        return total / count[:, None, None]

    def replicate_means(self, k: int, weights: torch.Tensor) -> torch.Tensor:
        """Means of bootstrap replicates (R, D, H, E); ``weights`` (R, M)
        says how often each block is drawn."""
        w = weights.double()
        flat = self.sums[k].double().reshape(self.n_blocks, -1)
        total = (w @ flat).view(len(w), *self.sums.shape[2:])
        count = w @ self.counts[k]  # (R, D)
        return total / count[..., None, None]


def plan_passes(
    groupings: Mapping[str, Grouping],
    n_blocks: int,
    *,
    max_delay: int,
    n_in: int,
    hidden: int,
    itemsize: int = 4,
    max_bytes: int = 2 << 30,
    order: Mapping[str, np.ndarray] | None = None,
) -> list[dict[str, list[int]]]:
    """Split the groups into passes whose sums each fit ``max_bytes``.

    Each pass is {grouping: [group indices]}; a group takes ``blocks * D * E
    * H * itemsize`` bytes (one block without bootstrap). Groups go in the
    given ``order`` (default: as named) so frequent groups share a pass."""
    per_matrix = max_delay * n_in * hidden * itemsize
    passes, current, used = [], {}, 0
    for name, grouping in groupings.items():
        need = per_matrix * (n_blocks if grouping.bootstrap else 1)
        if need > max_bytes:
            raise ValueError(
                f"one group of {name!r} takes {need / 2**30:.2f} GiB > "
                f"max_bytes {max_bytes / 2**30:.2f} GiB; raise max_bytes or "
                f"use fewer blocks"
            )
        ids = range(len(grouping.names)) if order is None else order[name]
        for k in ids:
            if used + need > max_bytes:
                passes.append(current)
                current, used = {}, 0
            current.setdefault(name, []).append(int(k))
            used += need
    if current:
        passes.append(current)
    return passes


def block_sums(
    model,
    sample: Sample,
    groupings: Mapping[str, Grouping],
    *,
    state: str = "c",
    max_delay: int = 50,
    by: str = "source",
    max_bytes: int = 2 << 30,
    dtype: torch.dtype | None = None,
    batch: int = 8,
    progress: bool = False,
) -> dict[str, BlockSums]:
    """One sweep of the engine over ``sample``: sums per group and block of
    every grouping, held in memory (at most ``max_bytes`` of sums, else a
    ValueError: use :func:`streamed_curves`). ``by``: group G[t, tau] by the
    label of the source t - tau (the paper's) or of the target t. ``dtype`` of the sums: the
    model's by default (float32 sums of one block's few thousand terms keep
    about 6 digits); the means are formed in float64."""
    view = sg.analysis_view(model)
    dtype = sample.initial_state[0].dtype if dtype is None else dtype
    n_in = view.embed(sample.tokens[:1, :1]).shape[-1]
    hidden = sample.initial_state[view.state_index(state)].shape[-1]
    itemsize = torch.empty(0, dtype=dtype).element_size()
    plan = plan_passes(groupings, sample.n_blocks, max_delay=max_delay, n_in=n_in,
                       hidden=hidden, itemsize=itemsize, max_bytes=max_bytes)  # fmt: skip
    if len(plan) > 1:
        raise ValueError(
            f"the sums need {len(plan)} passes of max_bytes "
            f"{max_bytes / 2**30:.2f} GiB; use streamed_curves for this grouping"
        )
    labels, layout, offset = [], {}, 0
    for name, grouping in groupings.items():
        m = sample.n_blocks if grouping.bootstrap else 1
        lab = sample.labels(grouping)  # (L, S)
        blk = sample.blocks[None, :] if grouping.bootstrap else 0
        labels.append(np.where(lab >= 0, offset + lab * m + blk, -1))
        layout[name] = (offset, len(grouping.names), m)
        offset += len(grouping.names) * m
    sums = sg.label_gradient_sums(
        view,
        sample.tokens,
        torch.as_tensor(np.stack(labels)),
        offset,
        state=state,
        max_delay=max_delay,
        by=by,
        initial_state=sample.initial_state,
        batch=batch,
        dtype=dtype,
        progress=progress,
    )
    out = {}
    for name, (lo, k, m) in layout.items():
        part = sums.sums[lo : lo + k * m]
        out[name] = BlockSums(
            part.unflatten(0, (k, m)),
            sums.counts[lo : lo + k * m].view(k, m, -1),
            groupings[name].names,
            meta={
                "state": state,
                "by": by,
                "bytes": part.element_size() * part.nelement(),
            },
        )
    return out


# ---------------------------------------------------------------------------
# Curves with bootstrap bands
# ---------------------------------------------------------------------------


def _gram_svdvals(g: torch.Tensor) -> torch.Tensor:
    """Singular values (descending) of (..., H, E) from eig(G^T G): three
    times faster than an SVD for the many bootstrap replicates; exact to
    sqrt(eps) sigma_1, far below what a band resolves. The cost of a band:
    n_boot * D small eigenproblems per group (about 2.5 s per group for
    n_boot = 100, D = 50, E = 64, H = 256 on one core)."""
    gram = g.transpose(-1, -2) @ g
    return torch.linalg.eigvalsh(gram).clamp(min=0).sqrt().flip(-1)


def _stats(sv: torch.Tensor) -> dict[str, torch.Tensor]:
    total = sv.sum(-1)
    return {
        "sigma_1": sv[..., 0],
        "selectiveness": sv[..., 0] / total,
        "sum_sigma": total,
        "share_top5": sv[..., :5].sum(-1) / total,
    }


def _boot_weights(n_blocks: int, n_boot: int, seed: int) -> torch.Tensor:
    """(R, M) block counts of R bootstrap replicates (multinomial draws)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_blocks, size=(n_boot, n_blocks))
    counts = np.apply_along_axis(np.bincount, 1, draws, minlength=n_blocks)
    return torch.as_tensor(counts, dtype=torch.float64)


def _replicates(bs: BlockSums, k, chol, n_boot, seed, max_bytes):
    """Yield (means, ok, scale) of bootstrap replicates of group k in batches
    under ``max_bytes``: means (R_b, D', H, E) normalised and divided by
    ``scale`` (D',), ok (R_b, D') where the replicate has a target at that
    delay (elsewhere the mean is 0, not NaN). D' = the delays with any
    target. The block sums are normalised once."""
    if bs.n_blocks < 2 or n_boot < 1:
        return
    has = bs.counts[k].sum(0) > 0
    blocks = bs.sums[k][:, has].double()  # (M, D', H, E)
    blocks = sg.normalise(blocks, chol) if chol is not None else blocks
    # replicates in float32 (a band needs 3 digits, and it halves the time),
    # each delay scaled to O(1) first: sigma_1 spans tens of decades over the
    # delays (a vanilla RNN), and its Gram matrix would underflow float32
    scale = blocks.abs().amax(dim=(0, 2, 3)).clamp(min=1e-300)  # (D',)
    blocks = blocks / scale[None, :, None, None]
    flat = blocks.reshape(bs.n_blocks, -1).float()
    counts = bs.counts[k][:, has].float()  # (M, D')
    weights = _boot_weights(bs.n_blocks, n_boot, seed).float()
    per = 4 * flat.shape[1] * 2  # a replicate and its share of the Gram work
    step = max(1, min(n_boot, max_bytes // per))
    for lo in range(0, n_boot, step):
        w = weights[lo : lo + step]
        count = w @ counts  # (R_b, D')
        total = (w @ flat).view(len(w), *blocks.shape[1:])
        yield total / count.clamp(min=1)[..., None, None], count > 0, scale


def _spread(values: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Values at the delays in ``has``, NaN elsewhere."""
    out = np.full(len(has), np.nan)
    out[has] = values
    return out


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - level) / 2
    return (
        np.nanpercentile(values, tail, axis=0),
        np.nanpercentile(values, 100 - tail, axis=0),
    )


def curves(
    sums: Mapping[str, BlockSums],
    *,
    chol: torch.Tensor | None = None,
    statistics: Sequence[str] = STATISTICS,
    n_boot: int = 100,
    level: float = 0.95,
    seed: int = 0,
    max_bytes: int = 1 << 30,
) -> pd.DataFrame:
    """Tidy table of the SVD statistics of every group's mean matrix per
    delay (normalised G D when ``chol`` is given; eq. 10), with percentile
    bootstrap bands over blocks: columns grouping, group, delay, statistic,
    value, lo, hi, n (targets averaged at that delay). Statistics:
    sigma_1, selectiveness (sigma_1 / sum), sum_sigma, share_top5."""
    unknown = set(statistics) - {"sigma_1", "selectiveness", "sum_sigma", "share_top5"}
    if unknown:
        raise ValueError(f"statistics {sorted(unknown)}; options are {STATISTICS}")
    frames = []
    for name, bs in sums.items():
        for k, group in enumerate(bs.groups):
            frames.append(_group_curves(bs, k, chol, statistics, n_boot, level,
                                        seed, max_bytes).assign(
                grouping=name, group=group))  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]


# statistics in units of the matrix (they scale with G); the others are ratios
_SCALED = ("sigma_1", "sum_sigma")


@dataclass
class Draws:
    """One group's curves and their bootstrap draws: ``value`` (S, D) the
    statistics of the mean matrix, ``boot`` (R, S, D) those of the R
    replicates (NaN where a replicate has no target), ``n`` (D,) the matrices
    averaged per delay; S = ``statistics``. The replicates of every group
    and every model reuse the same block weights for a given ``seed`` and
    number of blocks, so draw r of two curves over the same sample is a
    paired draw of their difference."""

    value: np.ndarray
    boot: np.ndarray
    n: np.ndarray
    statistics: tuple[str, ...]

    def __getitem__(self, statistic: str) -> tuple[np.ndarray, np.ndarray]:
        """(value (D,), draws (R, D)) of one statistic."""
        k = self.statistics.index(statistic)
        return self.value[k], self.boot[:, k]


def group_draws(
    bs: BlockSums,
    k: int,
    *,
    chol=None,
    statistics=STATISTICS,
    n_boot: int = 100,
    seed: int = 0,
    max_bytes: int = 1 << 30,
) -> Draws:
    """:class:`Draws` of group ``k``: point values from the SVD of the mean
    (float64), draws from the replicates (eig of the Gram matrix)."""  # fmt: skip
    statistics = tuple(statistics)
    n = bs.counts[k].sum(0).numpy()
    has = n > 0
    g = bs.mean(k)[torch.as_tensor(has)]
    g = sg.normalise(g, chol) if chol is not None else g
    point = _stats(torch.linalg.svdvals(g))
    value = np.full((len(statistics), len(n)), np.nan)
    for i, s in enumerate(statistics):
        value[i, has] = point[s].numpy()
    reps = []
    for batch, ok, scale in _replicates(bs, k, chol, n_boot, seed, max_bytes):
        stats = _stats(_gram_svdvals(batch).double())
        part = np.full((len(batch), len(statistics), len(n)), np.nan)
        for i, s in enumerate(statistics):
            v = stats[s] * scale if s in _SCALED else stats[s]
            part[:, i, has] = torch.where(ok, v, torch.nan).numpy()
        reps.append(part)
    boot = np.concatenate(reps) if reps else np.empty((0, len(statistics), len(n)))
    return Draws(value, boot, n, statistics)


def curve_draws(sums: Mapping[str, BlockSums], **kw) -> dict[str, dict[str, Draws]]:
    """``{grouping: {group: Draws}}`` of every group (keywords of
    :func:`group_draws`): what claims compare draw by draw."""
    return {name: {g: group_draws(bs, k, **kw) for k, g in enumerate(bs.groups)}
            for name, bs in sums.items()}  # fmt: skip


def draws_table(draws: Draws, level: float = 0.95) -> pd.DataFrame:
    """Tidy rows (delay, statistic, value, lo, hi, n) of one group's draws:
    percentile bands at ``level`` (NaN without replicates or targets)."""
    rows = []
    delays = np.arange(len(draws.n))
    for s in draws.statistics:
        value, boot = draws[s]
        lo = hi = np.full(len(delays), np.nan)
        if len(boot):
            with warnings.catch_warnings():  # all-NaN delays (no target): NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = _interval(boot, level)
        rows.append(pd.DataFrame({"delay": delays, "statistic": s, "value": value,
                                  "lo": lo, "hi": hi, "n": draws.n}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _group_curves(bs, k, chol, statistics, n_boot, level, seed, max_bytes):
    """Rows of one group: statistics of the mean per delay, NaN at delays
    without a target; bands from the replicates that have one."""
    return draws_table(group_draws(bs, k, chol=chol, statistics=statistics,
                                   n_boot=n_boot, seed=seed, max_bytes=max_bytes),
                       level)  # fmt: skip


def streamed_curves(
    model,
    sample: Sample,
    groupings: Mapping[str, Grouping],
    *,
    chol: torch.Tensor | None = None,
    state: str = "c",
    max_delay: int = 50,
    by: str = "source",
    max_bytes: int = 2 << 30,
    statistics: Sequence[str] = STATISTICS,
    n_boot: int = 100,
    level: float = 0.95,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    batch: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """:func:`curves` for groupings too large to hold (every word): the
    groups are split into passes of at most ``max_bytes`` of sums
    (:func:`plan_passes`, most frequent groups first so they share a pass),
    each pass sweeps the engine, is summarised and dropped. Groups with no
    sampled target are left out. ``table.attrs``: passes, peak_bytes (the
    largest pass's sums)."""
    view = sg.analysis_view(model)
    dtype = sample.initial_state[0].dtype if dtype is None else dtype
    order, present = {}, {}
    for name, grouping in groupings.items():
        lab = sample.labels(grouping)
        freq = np.bincount(lab[lab >= 0], minlength=len(grouping.names))
        order[name] = [k for k in np.argsort(-freq, kind="stable") if freq[k] > 0]
        present[name] = grouping
    n_in = view.embed(sample.tokens[:1, :1]).shape[-1]
    hidden = sample.initial_state[view.state_index(state)].shape[-1]
    itemsize = torch.empty(0, dtype=dtype).element_size()
    plan = plan_passes(present, sample.n_blocks, max_delay=max_delay, n_in=n_in,
                       hidden=hidden, itemsize=itemsize, max_bytes=max_bytes,
                       order=order)  # fmt: skip
    frames, peak = [], 0
    for part in plan:
        sub = {name: groupings[name].restrict(ids) for name, ids in part.items()}
        sums = block_sums(view, sample, sub, state=state, max_delay=max_delay,
                          by=by, max_bytes=max_bytes, dtype=dtype, batch=batch,
                          progress=progress)  # fmt: skip
        peak = max(peak, sum(bs.meta["bytes"] for bs in sums.values()))
        # the bands' replicate batches get a quarter of the budget beside the sums
        frames.append(curves(sums, chol=chol, statistics=statistics, n_boot=n_boot,
                             level=level, seed=seed,
                             max_bytes=max_bytes // 4))  # fmt: skip
        del sums
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    table.attrs.update(passes=len(plan), peak_bytes=peak)
    return table


# ---------------------------------------------------------------------------
# Section 5: how well a direction of embedding space is remembered
# ---------------------------------------------------------------------------


def difference_vector(
    embedding: torch.Tensor, a, b, chol: torch.Tensor | None = None
) -> torch.Tensor:
    """d_{a-b} = Z (e_a - e_b) / ||e_a - e_b|| (eq. 14): the mean embeddings of
    the words ``a`` and ``b`` (id lists), their difference to unit length,
    then into the normalised space (Z = D^-1, ``chol`` = D) when given."""
    e = torch.as_tensor(embedding).double()
    diff = e[torch.as_tensor(a)].mean(0) - e[torch.as_tensor(b)].mean(0)
    d = diff / diff.norm()
    if chol is None:
        return d
    return torch.linalg.solve_triangular(chol.double(), d[:, None], upper=False)[:, 0]


def relative_memory(g: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """m = ||G d|| / (sigma_1 ||d||) for G (..., H, E) (eq. 18-20): 1 when d
    is the best remembered direction v_1, 0 when G forgets it."""
    g, d = g.double(), torch.as_tensor(d).double()
    r = (g @ d).norm(dim=-1)
    return r / (torch.linalg.matrix_norm(g, ord=2) * d.norm())


def top_cosine(g: torch.Tensor, d: torch.Tensor, n: int) -> torch.Tensor:
    """Cosine of d with H_n, the span of G's top-n right singular vectors:
    ||V_n^T d|| / ||d|| (eq. 15-16)."""
    g, d = g.double(), torch.as_tensor(d).double()
    vh = torch.linalg.svd(g, full_matrices=False).Vh  # (..., E, E) rows v_i
    return (vh[..., :n, :] @ d).norm(dim=-1) / d.norm()


def _measures_from_gram(g: torch.Tensor, d: torch.Tensor, tops: Sequence[int]):
    """relative memory and top-n cosines of a batch (..., H, E) via eigh(G^T G)."""
    d = d.to(g.dtype)
    evals, evecs = torch.linalg.eigh(g.transpose(-1, -2) @ g)  # ascending
    sigma_1 = evals[..., -1].clamp(min=0).sqrt()
    out = {"relative_memory": (g @ d).norm(dim=-1) / (sigma_1 * d.norm())}
    v = evecs.flip(-1)  # columns v_1, v_2, ...
    for n in tops:
        out[f"cosine_top{n}"] = (v[..., :n].transpose(-1, -2) @ d).norm(
            dim=-1
        ) / d.norm()
    return out


def property_curves(
    sums: BlockSums,
    group: str,
    directions: Mapping[str, torch.Tensor],
    *,
    chol: torch.Tensor | None = None,
    tops: Sequence[int] = (1, 5),
    n_boot: int = 100,
    level: float = 0.95,
    seed: int = 0,
    max_bytes: int = 1 << 30,
) -> pd.DataFrame:
    """Relative memory and top-n cosines of each direction d (Figures 10-11)
    against the mean matrix of ``group`` (e.g. all nouns), normalised when
    ``chol`` is given (then d must be in the normalised space:
    :func:`difference_vector` with the same ``chol``). Tidy: property, delay,
    measure, value, lo, hi, n; the band is the bootstrap over blocks."""
    k = sums.index(group)
    n = sums.counts[k].sum(0).numpy()
    has = n > 0
    g = sums.mean(k)
    g = sg.normalise(g, chol) if chol is not None else g
    frames = []
    for name, d in directions.items():
        d = torch.as_tensor(d).double()
        sub = g[torch.as_tensor(has)]
        point = {"relative_memory": relative_memory(sub, d)}
        point.update({f"cosine_top{t}": top_cosine(sub, d, t) for t in tops})
        point = {m: _spread(v.numpy(), has) for m, v in point.items()}
        reps = {m: [] for m in point}
        for batch, ok, _ in _replicates(sums, k, chol, n_boot, seed, max_bytes):
            for m, v in _measures_from_gram(batch, d, tops).items():
                reps[m].append(torch.where(ok, v, torch.nan).numpy())
        for m, value in point.items():
            lo, hi = (np.full(len(n), np.nan) for _ in range(2))
            if reps[m]:
                lo[has], hi[has] = _interval(np.concatenate(reps[m]), level)
            frames.append(pd.DataFrame({"property": name, "delay": np.arange(len(n)),
                                        "measure": m, "value": value,
                                        "lo": lo, "hi": hi, "n": n}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------
# Exponential decay per word (Figure 9)
# ---------------------------------------------------------------------------


def fit_decay(delays, values, method: str = "curve_fit") -> dict:
    """Fit values = a exp(-b delay) (eq. 13); returns a, b, their standard
    errors a_se, b_se and ok (the fit converged to finite values).

    ``method="curve_fit"`` (default): non-linear least squares on the values
    themselves (scipy.optimize.curve_fit, as the paper's footnote 4), started
    from the log-linear fit. It weights the large short-delay values, the
    paper's choice, and tolerates exact zeros (sigma_1 of "the" is 0 beyond
    delay 37). ``method="loglinear"``: least squares on log(values) over the
    positive values, every delay weighted alike in relative terms (a closed
    form; better when the tail matters). Standard errors from the fit's
    covariance (curve_fit) or the regression (loglinear, delta method for a).
    """
    from scipy import optimize, stats

    x, y = np.asarray(delays, float), np.asarray(values, float)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    pos = y > 0
    nan = {"a": np.nan, "b": np.nan, "a_se": np.nan, "b_se": np.nan, "ok": False}
    if pos.sum() < 2:
        return nan
    lin = stats.linregress(x[pos], np.log(y[pos]))
    a0, b0 = float(np.exp(lin.intercept)), float(-lin.slope)
    if method == "loglinear":
        return {"a": a0, "b": b0, "a_se": a0 * lin.intercept_stderr,
                "b_se": float(lin.stderr), "ok": bool(np.isfinite(b0))}  # fmt: skip
    if method != "curve_fit":
        raise ValueError(f"method={method!r}; options are ['curve_fit', 'loglinear']")
    try:
        with warnings.catch_warnings():  # no covariance: a_se, b_se are NaN
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            (a, b), cov = optimize.curve_fit(
                lambda t, a, b: a * np.exp(-b * t), x, y, p0=(a0, b0), maxfev=10_000
            )
    except (RuntimeError, ValueError):
        return nan
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else (
        np.nan, np.nan)  # fmt: skip
    return {"a": float(a), "b": float(b), "a_se": float(se[0]), "b_se": float(se[1]),
            "ok": bool(np.isfinite(a) and np.isfinite(b))}  # fmt: skip


def decay_fits(
    table: pd.DataFrame, *, statistic: str = "sigma_1", method: str = "curve_fit"
) -> pd.DataFrame:
    """:func:`fit_decay` per (grouping, group) of a curves table: columns
    grouping, group, a, b, a_se, b_se, ok, n (targets at delay 0)."""
    rows = []
    part = table[table.statistic == statistic]
    for (grouping, group), curve in part.groupby(["grouping", "group"], sort=False):
        curve = curve.sort_values("delay")
        fit = fit_decay(curve.delay, curve.value, method)
        n0 = curve.n.iloc[0] if len(curve) else 0
        rows.append({"grouping": grouping, "group": group, **fit, "n": n0})
    return pd.DataFrame(rows)


def frequency_bins(counts, edges: Sequence[int] = (10, 100, 500)) -> np.ndarray:
    """Label each count with its bin: edges (10, 100, 500) give "<10",
    "10-99", "100-499", ">=500" (the paper's Figure 8b/9b bins)."""
    counts = np.asarray(counts)
    names = [f"<{edges[0]}"]
    names += [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    names += [f">={edges[-1]}"]
    return np.asarray(names, dtype=object)[np.searchsorted(edges, counts, side="right")]


def decay_distribution(
    fits: pd.DataFrame,
    bins: Mapping[str, str],
    b_edges: Sequence[float] = (0.2, 0.4, 0.6, 0.8),
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Figure 9b: per frequency bin (``bins``: group -> bin label), the share
    of its words whose fitted b falls in each b bin (edges ``b_edges``; "<=0.2"
    ...), with a Wilson interval over the words of that frequency bin.
    Columns: freq_bin, b_bin, words, total, share, lo, hi."""
    from ..claims import wilson_interval

    ok = fits[fits.ok].copy()
    ok["freq_bin"] = ok.group.map(bins)
    ok = ok.dropna(subset=["freq_bin"])
    labels = [f"<={b_edges[0]}"]
    labels += [f"{lo}-{hi}" for lo, hi in zip(b_edges[:-1], b_edges[1:], strict=True)]
    labels += [f">{b_edges[-1]}"]
    ok["b_bin"] = np.asarray(labels, dtype=object)[
        np.searchsorted(b_edges, ok.b.to_numpy(), side="left")
    ]
    rows = []
    for freq_bin, part in ok.groupby("freq_bin", sort=False):
        total = len(part)
        for label in labels:
            words = int((part.b_bin == label).sum())
            lo, hi = wilson_interval(words, total, level)
            rows.append({"freq_bin": freq_bin, "b_bin": label, "words": words,
                         "total": total, "share": words / total, "lo": lo,
                         "hi": hi})  # fmt: skip
    return pd.DataFrame(rows)
