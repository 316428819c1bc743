"""The five parts of the foundations lesson; each ``part_<name>(cfg) -> dict``
runs alone (wrap it in :func:`rnnmem_utils.experiments.harness.single_thread`
for speed)."""

from __future__ import annotations

import itertools
import math
import time
import warnings

import numpy as np
import torch

from ... import timing
from ...analysis import jacobians as jac
from ...data import chars
from ...models import handbuilt as hb
from ...training import bptt, lm

EXPERIMENT = "foundations"
SOURCE = "seed 003, CS231n 2025 lecture 7 notes"
# Measurement constants (not hyperparameters of the claims; see presets.py for those)
TEST_SEQUENCES = 512  # held-out delayed-recall sequences: accuracy to about +-2%
PROBE_BATCH = 16  # input sequences averaged in the Jacobian and highway probes
INPUT_GAIN = 0.5  # input weights' scale in the probes: keeps tanh out of saturation
LM_EMBED_SIZE = 16  # character embedding (27 symbols)
LM_TEST_CHARS = 20_000  # held-out characters for correlations and bits/char
SNIPPET_CHARS = 360  # characters shown in the heatmap (6 rows of 60)
TIMING_ROUNDS = 30  # interleaved rounds per timing: a median's 95% interval of a few %
TIME_TOLERANCE = 0.10  # timing differences below 10% are treated as noise (shared CPU)
UNIT_BLOCKS = 20  # held-out text cut into blocks: the repeats of a unit correlation
PARTS = ("repeat", "truncation", "gradients", "units", "dropout_layers")


def _seeded(seed: int, build):
    """Build a module with torch's global generator seeded, without leaking the
    seed to the caller (``nn`` initialisers only read the global generator)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


# ---------------------------------------------------------------------------
# Part 1: the hand-built repeat detector, then learned
# ---------------------------------------------------------------------------


def part_repeat(cfg) -> dict:
    bits = chars.binary_sequences(cfg.repeat_seq_len)  # (T, 2**T)
    target = chars.repeat_targets(bits)
    x = hb.bits_to_inputs(torch.from_numpy(bits))
    hand = hb.repeat_detector()
    restarts = [_learn_detector(cfg, r) for r in range(cfg.repeat_restarts)]
    best = min(restarts, key=lambda r: r["final_loss"])
    learned = best.pop("model")
    for r in restarts:
        r.pop("model", None)
    with torch.no_grad():
        hand_out, learned_out = hand(x), learned(x)
        corr, perm = _match_units(hand.states(x), learned.states(x))
    return {
        "n_sequences": int(bits.shape[1]),
        "seq_len": cfg.repeat_seq_len,
        "hand_correct": _n_correct(hand_out, target),
        "hand_max_error": float((hand_out - torch.from_numpy(target)).abs().max()),
        "learned_correct": _n_correct(learned_out, target),
        "hand_weights": _weights(hand),
        "learned_weights": _weights(learned, perm),
        "unit_correlation": corr.tolist(),  # hand unit i vs matched learned unit
        "restarts": restarts,
        "best_history": best["history"],
    }


def _learn_detector(cfg, restart: int) -> dict:
    seed = cfg.seed * 1000 + restart
    net = hb.ExplicitRNN(2, 3, generator=torch.Generator().manual_seed(seed))
    rng = np.random.default_rng(seed)

    def sample(step):
        b = chars.random_binary(cfg.repeat_seq_len, cfg.batch_size * 2, rng)
        y = torch.from_numpy(chars.repeat_targets(b)).float()
        return hb.bits_to_inputs(torch.from_numpy(b)), y

    history = bptt.train_regression(
        net, sample, steps=cfg.repeat_steps, lr=cfg.repeat_lr
    )
    return {
        "restart": restart,
        "final_loss": float(np.mean(history[-10:])),
        "history": history[:: max(1, len(history) // 200)],
        "model": net,
    }


def _n_correct(out: torch.Tensor, target: np.ndarray) -> int:
    """Sequences whose every step is right (output thresholded at 0.5)."""
    pred = (out > 0.5).long().numpy()
    return int((pred == target).all(axis=0).sum())


def _match_units(h_hand, h_learned):
    """Pair each hand-built unit with a learned unit (the permutation maximising the
    summed |correlation| of their activations over all sequences)."""
    a = h_hand.flatten(0, 1).numpy()  # (T*B, 3)
    b = h_learned.flatten(0, 1).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(np.corrcoef(a.T, b.T)[:3, 3:])  # a constant unit -> 0
    # The bias unit is constant: correlation is undefined; compare constancy.
    r[2] = [
        1.0 if np.std(b[:, j]) < 1e-6 and b[:, j].mean() > 0 else 0.0
        for j in range(b.shape[1])
    ]
    perm = max(
        itertools.permutations(range(3)),
        key=lambda p: sum(abs(r[i, p[i]]) for i in range(3)),
    )
    return np.array([r[i, perm[i]] for i in range(3)]), list(perm)


def _weights(net, perm=None) -> dict:
    p = list(perm) if perm is not None else [0, 1, 2]
    return {
        "W_xh": net.W_xh.detach()[p].tolist(),
        "W_hh": net.W_hh.detach()[p][:, p].tolist(),
        "w_hy": net.w_hy.detach()[p].tolist(),
    }


# ---------------------------------------------------------------------------
# Part 2: BPTT vs truncated BPTT on delayed recall
# ---------------------------------------------------------------------------


def part_truncation(cfg) -> dict:
    T, d, K = cfg.recall_seq_len, cfg.recall_delay, cfg.recall_symbols
    x_test, y_test = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(
            T, TEST_SEQUENCES, d, K, np.random.default_rng(cfg.seed + 999)
        )
    )
    rows, curves = [], []
    for k in cfg.truncations:
        model, hist = _train_recall(cfg, k)
        reach = _reach_per_step(model, x_test[:, :8], k)
        per_seq = bptt.sequence_accuracies(model, x_test, y_test)
        rows.append(
            {
                "truncation": k,
                "accuracy": bptt.accuracy(model, x_test, y_test),
                "sequence_accuracies": [round(float(a), 4) for a in per_seq],
                "chance": 1 / K,
                "activation_bytes": bptt.window_memory(
                    model, x_test[:, : cfg.batch_size], y_test[:, : cfg.batch_size], k
                ),
                "max_reach": int(max(reach)),
                # targets whose input lies within their gradient's reach (reach > delay)
                "covered": float(np.mean([r > d for r in reach[d:]])),
            }
        )
        curves += [
            {"truncation": k, "step": h["step"], "loss": h["loss"]} for h in hist
        ]
    return {
        "seq_len": T,
        "delay": d,
        "rows": rows,
        "curves": curves,
        "cost": _step_costs(cfg),
    }


def _step_costs(cfg) -> list[dict]:
    """The cost of truncated BPTT as the lecture runs it, for every ``k``: one
    gradient step on one window of ``k`` steps, and a whole sequence of ``T``
    steps (``T / k`` such steps). Arithmetic counted (:func:`bptt.window_flops`);
    CPU time measured in interleaved rounds (:func:`timing.interleaved`), so a
    change of load between ``k``'s cannot decide the comparison."""
    T, d, K, B = (
        cfg.recall_seq_len,
        cfg.recall_delay,
        cfg.recall_symbols,
        cfg.batch_size,
    )
    model = _seeded(cfg.seed, lambda: hb.TokenRNN("lstm", K, cfg.hidden_size, K))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x, y = (
        torch.from_numpy(a)
        for a in chars.delayed_recall(T, B, d, K, np.random.default_rng(cfg.seed + 2))
    )
    fns = {}
    for k in cfg.truncations:  # the last window: every k has targets in it
        fns["step", k] = lambda k=k: bptt.window_step(
            model, opt, x[T - k :], y[T - k :]
        )
        fns["sequence", k] = lambda k=k: bptt.tbptt_sequence(model, opt, x, y, k)
    secs = timing.interleaved(fns, rounds=TIMING_ROUNDS, warmup=2)
    return [
        {
            "truncation": k,
            "step_flops": bptt.window_flops(model, k, B)["total"],
            "sequence_flops": bptt.sequence_flops(model, T, k, B),
            "step_seconds": secs["step", k].tolist(),  # one per round
            "sequence_seconds": secs["sequence", k].tolist(),
        }
        for k in cfg.truncations
    ]


def _train_recall(cfg, k: int):
    T, d, K = cfg.recall_seq_len, cfg.recall_delay, cfg.recall_symbols
    model = _seeded(cfg.seed, lambda: hb.TokenRNN("lstm", K, cfg.hidden_size, K))
    rng = np.random.default_rng(cfg.seed + 1)  # the same batches for every k

    def sample(step):
        x, y = chars.delayed_recall(T, cfg.batch_size, d, K, rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    hist = bptt.train(model, sample, steps=cfg.recall_steps, lr=cfg.lr, truncation=k)
    return model, hist


def _reach_per_step(model, ids, k: int) -> list[int]:
    """For a loss at each step t: how many steps back its gradient reaches."""
    e = model.embed(ids).detach()  # (T, B, E)
    T = e.shape[0]

    def forward(e_in):
        return bptt.truncated_forward(model.from_embedded, e_in, k)

    return [
        jac.gradient_reach(jac.input_gradient_norms(forward, e, t), t) for t in range(T)
    ]


# ---------------------------------------------------------------------------
# Part 3: vanishing / exploding gradients, clipping, the LSTM highway
# ---------------------------------------------------------------------------


def part_gradients(cfg) -> dict:
    return {
        "products": _jacobian_sweep(cfg),
        "highway": _highway(cfg),
        "clipping": _clipping(cfg),
    }


def _jacobian_sweep(cfg) -> list[dict]:
    H, K = cfg.hidden_size, cfg.jacobian_steps
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(K, PROBE_BATCH, H, generator=g, dtype=torch.float64)  # (T, B, D)
    W_xh = (
        INPUT_GAIN * torch.randn(H, H, generator=g, dtype=torch.float64) / math.sqrt(H)
    )
    rows = []
    for sigma, act in itertools.product(cfg.sigmas, ("linear", "tanh")):
        W_hh = jac.scaled_orthogonal(H, sigma, torch.Generator().manual_seed(cfg.seed))
        h = jac.vanilla_states(W_hh, W_xh, x, act)
        norms = jac.spectral_norms(
            jac.jacobian_products(jac.step_jacobians(W_hh, h, act))
        )
        bound = jac.singular_value_bound(W_hh, K)
        rows += [
            {
                "activation": act,
                "sigma": sigma,
                "k": k,
                "norm": float(norms[k].mean()),
                "max_norm": float(norms[k].max()),
                "bound": float(bound[k]),
            }
            for k in range(K + 1)
        ]
    return rows


def _highway(cfg) -> list[dict]:
    """``||dL/ds_{T-k}|| / ||dL/ds_T||`` for the vanilla RNN's ``h`` and the LSTM's
    cell ``c``: how much of the gradient survives ``k`` steps back."""
    H, K = cfg.hidden_size, cfg.jacobian_steps
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(K, PROBE_BATCH, H, generator=g)
    u = torch.randn(16, H, generator=g)
    zeros = torch.zeros(PROBE_BATCH, H)
    W_hh = jac.scaled_orthogonal(H, 1.0, g, torch.float32)
    W_xh = INPUT_GAIN * torch.randn(H, H, generator=g) / math.sqrt(H)
    runs = {
        "vanilla tanh (sigma=1)": (
            lambda s, x_t: (torch.tanh(s[0] @ W_hh.T + x_t @ W_xh.T),),
            (zeros,),
            0,
        )
    }
    for fb in (0.0, cfg.lstm_forget_bias):
        cell = _seeded(cfg.seed, lambda: torch.nn.LSTMCell(H, H))
        with torch.no_grad():  # PyTorch's gate order: input, forget, cell, output
            cell.bias_ih[H : 2 * H] = fb
            cell.bias_hh[H : 2 * H] = 0.0
        runs[f"LSTM cell c, forget bias {fb:g}"] = (
            lambda s, x_t, c=cell: c(x_t, s),
            (zeros, zeros),
            1,
        )
    rows = []
    for name, (step, s0, comp) in runs.items():
        norms = jac.state_gradient_norms(step, s0, x, u)[comp].detach()
        ratio = norms / norms[-1]
        rows += [
            {"model": name, "k": k, "ratio": float(ratio[K - 1 - k])} for k in range(K)
        ]
    return rows


def _clipping(cfg) -> list[dict]:
    T, d, K = cfg.recall_seq_len, cfg.recall_delay, cfg.recall_symbols
    rows = []
    for seed, clip in itertools.product(range(cfg.clip_seeds), (None, cfg.clip_norm)):
        model = _seeded(
            cfg.seed + seed,
            lambda: hb.TokenRNN("rnn", K, cfg.hidden_size, K, nonlinearity="relu"),
        )
        with torch.no_grad():  # sigma > 1: the exploding regime
            model.rnn.weight_hh_l0.copy_(
                jac.scaled_orthogonal(
                    cfg.hidden_size,
                    cfg.clip_sigma,
                    torch.Generator().manual_seed(cfg.seed + seed),
                    torch.float32,
                )
            )
        rng = np.random.default_rng(cfg.seed + seed)

        def sample(step, rng=rng):
            x, y = chars.delayed_recall(T, cfg.batch_size, d, K, rng)
            return torch.from_numpy(x), torch.from_numpy(y)

        hist = bptt.train(
            model,
            sample,
            steps=cfg.clip_steps,
            lr=cfg.clip_lr,
            truncation=T,
            clip_norm=clip,
            optimizer="sgd",
        )
        rows += [
            {
                "seed": seed,
                "clipped": clip is not None,
                "step": h["step"],
                "loss": h["loss"],
                "grad_norm": h["grad_norm"],
            }
            for h in hist
        ]
    return rows


# ---------------------------------------------------------------------------
# Part 4: interpretable units of a character LM on text8
# ---------------------------------------------------------------------------


def part_units(cfg, progress: bool = False) -> dict:
    from ...data.corpora import read_text8

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = chars.encode(read_text8(cfg.lm_chars))
    n_test = min(LM_TEST_CHARS, len(ids) // 10)
    train_ids, test_ids = ids[:-n_test], ids[-n_test:]
    model = _seeded(
        cfg.seed,
        lambda: hb.TokenRNN(
            "lstm", 27, cfg.lm_hidden_size, 27, embed_size=LM_EMBED_SIZE
        ),
    )
    h_untrained = _hidden(model, test_ids)
    t0 = time.perf_counter()
    hist = _train_lm(cfg, model, train_ids, progress)
    seconds = time.perf_counter() - t0
    h_trained = _hidden(model, test_ids)
    feats = chars.char_features(test_ids)
    r_trained, r_untrained = _corr(h_trained, feats), _corr(h_untrained, feats)
    best = {f: int(np.argmax(np.abs(r))) for f, r in r_trained.items()}
    best_untrained = {f: int(np.argmax(np.abs(r))) for f, r in r_untrained.items()}
    snippet = slice(0, SNIPPET_CHARS)
    return {
        "n_train_chars": len(train_ids),
        "n_test_chars": n_test,
        "train_seconds": seconds,
        "prefix_warning": [str(w.message) for w in caught],
        "loss_history": [h["loss"] for h in hist][:: max(1, len(hist) // 300)],
        "test_bits_per_char": _test_bpc(model, test_ids),
        "features": [
            {
                "feature": f,
                "unit": signal_name(best[f], cfg.lm_hidden_size),
                "r_trained": float(r_trained[f][best[f]]),
                "best_abs_r_untrained": float(np.abs(r_untrained[f]).max()),
                # the same two units on UNIT_BLOCKS consecutive blocks of the text
                "r_trained_blocks": _block_corr(h_trained[:, best[f]], feats[f]),
                "r_untrained_blocks": _block_corr(
                    h_untrained[:, best_untrained[f]], feats[f]
                ),
            }
            for f in feats
        ],
        "snippet": chars.decode(test_ids[snippet]),
        "snippet_activations": {
            f: h_trained[snippet, u].tolist() for f, u in best.items()
        },
        "snippet_features": {f: v[snippet].tolist() for f, v in feats.items()},
    }


def _train_lm(cfg, model, train_ids: np.ndarray, progress: bool) -> list[dict]:
    data = lm.batchify(train_ids, cfg.batch_size)  # (N, B)
    T = cfg.lm_seq_len
    n_windows = (data.shape[0] - 1) // T

    def sample(step):  # consecutive windows, so the carried state stays meaningful
        i = (step % n_windows) * T
        return data[i : i + T], data[i + 1 : i + T + 1]

    return bptt.train(
        model,
        sample,
        steps=cfg.lm_steps,
        lr=cfg.lm_lr,
        truncation=T,
        clip_norm=cfg.clip_norm,
        carry_state=True,
        progress=progress,
    )


@torch.no_grad()
def _hidden(model, ids: np.ndarray) -> np.ndarray:
    """Every unit's ``h_t`` and cell ``c_t`` over the text: ``(T, 2H)``, columns
    ``h_0..h_{H-1}, c_0..c_{H-1}`` (Karpathy et al. 2015 looked at the cells)."""
    e = model.embed(torch.from_numpy(ids))[:, None]  # (T, 1, E)
    h, c = hb.lstm_states(model.rnn, e)  # (T, 1, H) each
    return torch.cat([h[:, 0], c[:, 0]], dim=1).numpy()


def signal_name(index: int, hidden_size: int) -> str:
    """Column of :func:`_hidden` -> ``"h 12"`` or ``"c 12"``."""
    return f"{'hc'[index // hidden_size]} {index % hidden_size}"


@torch.no_grad()
def _test_bpc(model, ids: np.ndarray) -> float:
    x = torch.from_numpy(ids)[:, None]
    logits = model(x[:-1])[0]
    nll = torch.nn.functional.cross_entropy(logits[:, 0], x[1:, 0])
    return float(nll) / math.log(2)


def _block_corr(a: np.ndarray, f: np.ndarray) -> list[float]:
    """Correlation of ``a`` with ``f`` on each of :data:`UNIT_BLOCKS` consecutive
    blocks (None where a block's feature or unit is constant)."""
    out = []
    for a_b, f_b in zip(
        np.array_split(a, UNIT_BLOCKS), np.array_split(f, UNIT_BLOCKS), strict=True
    ):
        ok = np.std(a_b) > 0 and np.std(f_b) > 0
        out.append(float(np.corrcoef(a_b, f_b)[0, 1]) if ok else None)
    return out


def _corr(h: np.ndarray, feats: dict) -> dict:
    """Pearson correlation of every unit's activation with every feature."""
    hz = (h - h.mean(0)) / (h.std(0) + 1e-12)
    out = {}
    for name, f in feats.items():
        fz = (f - f.mean()) / (f.std() + 1e-12)
        out[name] = hz.T @ fz / len(f)  # (H,)
    return out


# ---------------------------------------------------------------------------
# Part 5: dropout scaling at test time; multi-layer RNNs
# ---------------------------------------------------------------------------


def part_dropout_layers(cfg) -> dict:
    return {
        "dropout": _dropout(cfg),
        "stacking": _stacking(cfg),
        "layer_memory": _layer_memory(cfg),
    }


def _dropout(cfg, n_units: int = 1000, n_masks: int = 2000) -> dict:
    """Mean activation at training time (over masks) vs the test-time output, for
    'vanilla' dropout (mask only; P = drop probability) and PyTorch's
    ``nn.Dropout`` (inverted dropout)."""
    p, g = cfg.dropout_p, torch.Generator().manual_seed(cfg.seed)
    a = torch.rand(n_units, generator=g, dtype=torch.float64) + 0.5  # activations
    keep = torch.rand(n_masks, n_units, generator=g, dtype=torch.float64) >= p
    vanilla_train = (keep * a).mean(0)
    drop = torch.nn.Dropout(p)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        inverted_train = drop.train()(a.expand(n_masks, n_units)).mean(0)
    inverted_test = drop.eval()(a)
    return {
        "p": p,
        "vanilla_train_over_unscaled_test": float((vanilla_train / a).mean()),
        "vanilla_train_over_scaled_test": float((vanilla_train / (a * (1 - p))).mean()),
        "pytorch_train_over_test": float((inverted_train / inverted_test).mean()),
        "pytorch_test_scale": float((inverted_test / a).mean()),
    }


def _stacking(cfg) -> dict:
    """``nn.RNN(num_layers=2)`` against two one-layer RNNs stacked by hand (the
    upper layer reads the lower layer's ``h_t`` at the same ``t``), weights copied."""
    H = cfg.hidden_size
    deep = _seeded(cfg.seed, lambda: torch.nn.RNN(H, H, num_layers=2)).double()
    lower, upper = torch.nn.RNN(H, H).double(), torch.nn.RNN(H, H).double()
    with torch.no_grad():
        for layer, net in ((0, lower), (1, upper)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(net, f"{name}_l0").copy_(getattr(deep, f"{name}_l{layer}"))
    x = torch.randn(
        cfg.recall_seq_len,
        4,
        H,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    with torch.no_grad():
        diff = (deep(x)[0] - upper(lower(x)[0])[0]).abs().max()
    return {"max_abs_difference": float(diff)}


def _layer_memory(cfg) -> list[dict]:
    """Activation bytes kept for backward by an ``nn.LSTM`` of 1, 2, ... layers."""
    H, T = cfg.hidden_size, cfg.recall_seq_len
    x = torch.randn(
        T, cfg.batch_size, H, generator=torch.Generator().manual_seed(cfg.seed)
    )
    rows = []
    for n in cfg.layers:
        lstm = _seeded(cfg.seed, lambda n=n: torch.nn.LSTM(H, H, num_layers=n))

        def run(exclude, lstm=lstm):
            exclude([*lstm.parameters(), x])
            return lstm(x)[0].sum()

        rows.append(
            {
                "layers": n,
                "activation_bytes": bptt.saved_bytes(run),
                "parameters": sum(p.numel() for p in lstm.parameters()),
            }
        )
    return rows
