"""How long, and what, does your model remember: the measures, as tidy tables.

Every function takes your model (through :func:`~.adapters.adapt`) and your
data, and returns a pandas DataFrame:

- :func:`state_gradients`: Verwimp et al.'s state gradients per delay (sigma_1,
  selectiveness, sum of singular values), raw or normalised by the embedding
  covariance, of any state of any layer, grouped by any label per position;
- :func:`probe`: how well a linear read-out (LDA or logistic regression)
  decodes your labels from the states, on held-out positions;
- :func:`memory_capacity`: Jaeger's (2001) linear memory capacity, for any
  states driven by a scalar signal (an echo state network's, an LSTM's), with
  :func:`esn_states` as the reference reservoir.

Data: ``tokens`` is a 1-D sequence of ids (cut into ``streams`` contiguous
streams analysed in parallel) or a 2-D batch, time-major ``(T, B)`` or
``(B, T)`` when your recurrent layer is ``batch_first``. Labels have the
tokens' shape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..analysis import state_gradients as sg
from .adapters import adapt

MEMORY_BUDGET = 2 * 1024**3  # bytes of gradient sums held at once (groups chunked)


def as_streams(values, *, streams: int = 16, batch_first: bool = False):
    """A ``(T, B)`` array from a 1-D sequence (``streams`` contiguous pieces,
    the remainder dropped) or a 2-D batch (transposed when ``batch_first``): a
    tensor for ids, a numpy array for labels of any type."""
    a = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if a.ndim == 1:
        if len(a) < streams:
            raise ValueError(f"{len(a)} positions cannot make {streams} streams")
        n = len(a) // streams
        a = a[: n * streams].reshape(streams, n).T
    elif a.ndim == 2:
        a = a.T if batch_first else a
    else:
        raise ValueError(f"tokens of shape {a.shape}; expected 1-D or 2-D")
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a) if a.dtype.kind in "iub" else a


def _groups(labels, shape, *, skip=()) -> dict[str, torch.Tensor]:
    """``{"all": mask}`` plus one mask per distinct label value."""
    out = {"all": torch.ones(shape, dtype=torch.bool)}
    if labels is None:
        return out
    lab = np.asarray(labels)
    if lab.shape != tuple(shape):
        raise ValueError(f"labels of shape {lab.shape}; the tokens give {tuple(shape)}")
    for value in pd.unique(lab.ravel()):
        if value in skip or (isinstance(value, float) and np.isnan(value)):
            continue
        out[str(value)] = torch.from_numpy(lab == value)
    return out


def state_gradients(
    model,
    tokens,
    *,
    labels=None,
    state: str = "c",
    max_delay: int = 50,
    normalise: bool = True,
    by: str = "target",
    streams: int = 16,
    burn_in: int | None = None,
    batch_first: bool | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """State gradients per delay: one row per (group, delay) with ``sigma_1``,
    ``selectiveness``, ``sum_sigma`` and ``n`` (positions averaged).

    ``state``: ``"c"`` / ``"h"`` (the top layer) or ``"h1"``, ``"c2"``, ... (any
    layer; LSTMs have ``c``). ``labels`` (the tokens' shape): a group per
    distinct value besides ``"all"`` (POS tags, frequency bins...), counted
    ``by`` the target position (the paper's averages) or the ``"source"``
    position. ``normalise``: multiply G by the Cholesky factor of the embedding
    covariance (Verwimp et al., eq. 10), so directions the embedding barely
    uses do not dominate; needs an embedding. The first ``burn_in`` targets of
    each stream (default ``max_delay``) are skipped so every target has its
    full history. Memory stays bounded on long texts: the engine streams
    through time, and groups are summed in chunks (:data:`MEMORY_BUDGET`)."""
    net, ids, lab, chol = _prepare(model, tokens, labels, streams, batch_first,
                                   normalise)  # fmt: skip
    first = max_delay if burn_in is None else burn_in
    if by == "source":
        return _by_source(net, ids, lab, state, max_delay, first, chol, progress)
    if by != "target":
        raise ValueError(f"by={by!r}; options are ['source', 'target']")
    rows = [_tidy(sums, chol) for sums in _label_sums(net, ids, lab, state,
                                                       max_delay, first, progress)]  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _label_sums(net, ids, lab, state, max_delay, first, progress):
    """GradientSums of "all" and each label (by target), in passes that fit
    :data:`MEMORY_BUDGET`, through the engine's per-label accumulator."""
    codes, names = _codes(lab, ids.shape)
    codes[:first] = -1  # the burn-in: targets without their full history
    every = np.broadcast_to(np.arange(len(codes))[:, None] >= first, codes.shape)
    for part in _passes(len(names) + 1, net, state, max_delay):
        local = np.full(len(names) + 1, -1)
        local[part] = np.arange(len(part))  # global group -> this pass's index
        lab_t = torch.from_numpy(np.stack([
            np.where(every, local[0], -1),  # "all"
            np.where(codes >= 0, local[codes + 1], -1),
        ])).long()  # fmt: skip
        with torch.no_grad():
            yield sg.label_gradient_sums(
                net, ids, lab_t, len(part), names=tuple(["all", *names][i] for i in part),
                state=state, max_delay=max_delay, progress=progress,
            )  # fmt: skip


def relative_memory(
    model,
    tokens,
    directions: dict,
    *,
    labels=None,
    group: str = "all",
    state: str = "c",
    max_delay: int = 50,
    normalise: bool = True,
    tops=(1, 5),
    streams: int = 16,
    burn_in: int | None = None,
    batch_first: bool | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Verwimp et al.'s section 5: how well a property is remembered.

    ``directions``: ``{name: d}`` with d a vector in the input space (E,), or
    ``{name: (ids_a, ids_b)}``, two word lists whose mean embeddings differ by
    the property (eq. 14: e.g. plural minus singular nouns). For the mean
    gradient G(tau) of ``group`` (``"all"``, or a value of ``labels``): the
    relative memory ``||G d|| / (sigma_1 ||d||)`` (1: d is the best remembered
    direction, 0: forgotten) and the cosine of d with the span of G's top-n
    right singular vectors, per delay. Normalised as :func:`state_gradients`
    (d then lives in the whitened space)."""
    from ..analysis import memory

    net, ids, lab, chol = _prepare(model, tokens, labels, streams, batch_first,
                                   normalise)  # fmt: skip
    first = max_delay if burn_in is None else burn_in
    found = [s for s in _label_sums(net, ids, lab, state, max_delay, first, progress)
             if group in s.groups]  # fmt: skip
    if not found:
        raise ValueError(
            f"no group {group!r}: labels give {sorted(set(map(str, np.unique(lab))))}"
        )
    sums = found[0]
    k = sums.groups.index(group)
    g = sums.mean()[k]
    g = sg.normalise(g, chol) if chol is not None else g.double()
    emb = None if net.embedding is None else net.embedding.weight.detach()
    frames = []
    for name, d in directions.items():
        if isinstance(d, tuple | list) and len(d) == 2 and emb is not None:
            d = memory.difference_vector(emb, list(d[0]), list(d[1]), chol)
        d = torch.as_tensor(d, dtype=torch.float64)
        frame = pd.DataFrame({"property": name, "delay": np.arange(len(g)),
                              "relative_memory": memory.relative_memory(g, d).numpy()})  # fmt: skip
        for n in tops:
            frame[f"cosine_top{n}"] = memory.top_cosine(g, d, n).numpy()
        frame["n"] = sums.counts[k].numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _codes(labels, shape) -> tuple[np.ndarray, list[str]]:
    """Each position's group index (-1: no label) and the groups' names."""
    if labels is None:
        return np.full(shape, -1), []
    lab = np.asarray(labels)
    if lab.shape != tuple(shape):
        raise ValueError(f"labels of shape {lab.shape}; the tokens give {tuple(shape)}")
    codes, uniques = pd.factorize(lab.ravel())  # NaN -> -1
    return codes.reshape(shape), [str(u) for u in uniques]


def _by_source(net, ids, lab, state, max_delay, first, chol, progress):
    """Grouped by the source position (dense masks, one pass per budget)."""
    groups = _groups(lab, ids.shape)
    names = list(groups)
    rows = []
    for part in _passes(len(names), net, state, max_delay):
        with torch.no_grad():
            sums = sg.state_gradient_sums(
                net, ids, {names[i]: groups[names[i]] for i in part}, state=state,
                max_delay=max_delay, by="source", first_target=first,
                progress=progress,
            )  # fmt: skip
        rows.append(_tidy(sums, chol))
    return pd.concat(rows, ignore_index=True)


def _prepare(model, tokens, labels, streams, batch_first, normalise):
    """The adapter, the ids and labels as (T, B) streams, and the
    normalisation's Cholesky factor (None when raw)."""
    net = adapt(model)
    bf = getattr(net, "data_batch_first", False) if batch_first is None else batch_first
    ids = as_streams(tokens, streams=streams, batch_first=bf)
    lab = (
        None if labels is None else as_streams(labels, streams=streams, batch_first=bf)
    )
    lab = lab.numpy() if isinstance(lab, torch.Tensor) else lab
    return net, ids, lab, (_cholesky(net) if normalise else None)


def _cholesky(net):
    emb = getattr(net, "embedding", None)
    if emb is None:
        raise ValueError(
            "normalise=True needs an embedding (its covariance); this model reads "
            "one-hot inputs: pass normalise=False"
        )
    return sg.embedding_cholesky(emb.weight.detach())


def _passes(n_groups: int, net, state, max_delay) -> list[list[int]]:
    """Group indices in passes whose sums fit :data:`MEMORY_BUDGET`."""
    h = net.init_state(1)[net.state_index(state)].shape[-1]
    e = net.embed(torch.zeros(1, 1, dtype=torch.long)).shape[-1]
    per_group = max_delay * h * e * 8 * 2  # float64 sums, and partials beside them
    size = max(1, MEMORY_BUDGET // per_group)
    return [list(range(i, min(i + size, n_groups))) for i in range(0, n_groups, size)]


def _tidy(sums, chol) -> pd.DataFrame:
    g = sums.mean()
    g = sg.normalise(g, chol) if chol is not None else g.double()
    stats = sg.svd_summaries(g)
    frames = []
    for k, group in enumerate(sums.groups):
        frame = pd.DataFrame({name: v[k].numpy() for name, v in stats.items()})
        frame.insert(0, "delay", np.arange(len(frame)))
        frame.insert(0, "group", group)
        frame["n"] = sums.counts[k].numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def states(model, tokens, *, streams: int = 16, batch_first: bool | None = None):
    """Every state of every layer: ``{name: (T, B, H)}`` as numpy arrays."""
    net = adapt(model)
    bf = getattr(net, "data_batch_first", False) if batch_first is None else batch_first
    ids = as_streams(tokens, streams=streams, batch_first=bf)
    return {k: v.numpy() for k, v in net.states(ids).items()}


def probe(
    states,
    labels,
    *,
    kind: str = "lda",
    test_fraction: float = 0.25,
    seed: int = 0,
    min_count: int = 2,
) -> pd.DataFrame:
    """Held-out accuracy of a linear read-out of ``labels`` from ``states``.

    ``states``: an array ``(N, H)`` or a dict of them (one row each);
    ``labels``: ``(N,)``. ``kind``: ``"lda"`` (scikit-learn's
    LinearDiscriminantAnalysis, as Verwimp et al.) or ``"logistic"``
    (LogisticRegression). Labels seen fewer than ``min_count`` times are
    dropped. Returns accuracy, the majority-class chance level and sizes."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    makers = {
        "lda": lambda: LinearDiscriminantAnalysis(solver="svd"),
        "logistic": lambda: LogisticRegression(max_iter=1000),
    }
    if kind not in makers:
        raise ValueError(f"kind={kind!r}; options are {sorted(makers)}")
    table = states if isinstance(states, dict) else {"state": states}
    y = np.asarray(labels).reshape(-1)
    values, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, values[counts >= min_count])
    rows = []
    for name, x in table.items():
        x = np.asarray(x).reshape(len(y), -1)[keep]
        xa, xb, ya, yb = train_test_split(
            x, y[keep], test_size=test_fraction, random_state=seed, stratify=y[keep]
        )
        clf = makers[kind]().fit(xa, ya)
        chance = pd.Series(yb).value_counts(normalize=True).iloc[0]
        rows.append((name, kind, clf.score(xb, yb), chance, len(ya), len(yb)))
    cols = ["state", "probe", "accuracy", "chance", "n_train", "n_test"]
    return pd.DataFrame(rows, columns=cols)


def memory_capacity(
    states, signal, *, max_delay: int = 50, washout: int = 100,
    test_fraction: float = 0.5, ridge: float = 1e-8,
) -> pd.DataFrame:  # fmt: skip
    """Jaeger's (2001) linear memory capacity: for each delay k, the squared
    correlation between ``signal(t - k)`` and its best linear read-out from
    ``states(t)``, fitted (ridge least squares) on the first part of the run
    and measured on the held-out rest; MC = the sum over k (``df.mc_k.sum()``).

    ``states`` (T, H) and ``signal`` (T,) aligned in time (the state after the
    input at t). The first ``washout`` steps are dropped (the initial state's
    transient). For i.i.d. input, MC <= H (Jaeger's bound)."""
    x = np.asarray(states, dtype=np.float64)
    u = np.asarray(signal, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or len(x) != len(u):
        raise ValueError(f"states {x.shape} and signal {u.shape}: need (T, H) and (T,)")
    if len(u) - washout - max_delay < 20:
        raise ValueError("too short a run for this washout and max_delay")
    t = np.arange(washout + max_delay, len(u))
    split = int(len(t) * (1 - test_fraction))
    xt = np.hstack([x[t], np.ones((len(t), 1))])
    a, b = xt[:split], xt[split:]
    gram = a.T @ a + ridge * np.eye(a.shape[1])
    rows = []
    for k in range(max_delay + 1):
        target = u[t - k]
        w = np.linalg.solve(gram, a.T @ target[:split])
        pred = b @ w
        r = np.corrcoef(pred, target[split:])[0, 1] if pred.std() > 0 else 0.0
        rows.append((k, float(r**2)))
    return pd.DataFrame(rows, columns=["delay", "mc_k"])


def esn_states(
    signal, *, units: int = 100, spectral_radius: float = 0.9,
    input_scale: float = 0.1, seed: int = 0, leak: float = 1.0,
) -> np.ndarray:  # fmt: skip
    """States ``(T, units)`` of a standard echo state network (tanh, random
    recurrent weights scaled to ``spectral_radius``, inputs ``U(-1, 1) *
    input_scale``) driven by the scalar ``signal``: the reservoir that
    reservoirpy and RCbench report memory capacity for."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(units, units))
    w *= spectral_radius / np.max(np.abs(np.linalg.eigvals(w)))
    w_in = rng.uniform(-1, 1, units) * input_scale
    x = np.zeros(units)
    out = np.empty((len(signal), units))
    for t, u in enumerate(np.asarray(signal, dtype=np.float64)):
        x = (1 - leak) * x + leak * np.tanh(w @ x + w_in * u)
        out[t] = x
    return out


def drive(model, signal, *, state: str = "h") -> np.ndarray:
    """States ``(T, H)`` of a recurrent model with a scalar input (an
    ``nn.LSTM(1, H)`` or the like, or an adapter) driven by ``signal``: the
    states :func:`memory_capacity` reads."""
    net = adapt(model)
    x = torch.as_tensor(np.asarray(signal), dtype=net.init_state(1)[0].dtype)
    k = net.state_index(state)
    s, out = net.init_state(1), []
    with torch.no_grad():
        for u in x.reshape(-1, 1, 1):
            s = net.step(u, s)
            out.append(s[k][0])
    return torch.stack(out).numpy()
