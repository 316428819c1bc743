"""THE one place the numbers live: every experiment's settings at every preset.

Three presets per experiment:

- ``smoke``: seconds to a minute; used by the tests to run every notebook end to end.
- ``default``: a laptop / 2-core CPU; the qualitative claims must show. ``make
  reproduce`` runs every notebook at this preset.
- ``paper``: the published settings (for a GPU or a long CPU run).

Each block starts from ``paper`` (values citing the source) and states only
what ``default`` and ``smoke`` change, and why. The schema (types, valid
ranges, help) is in :mod:`rnnmem_utils.config`.

Sections are owned by experiment; keep each self-contained.
"""

# ---------------------------------------------------------------------------
# E1 information latching (seed 002: the Cross Validated question)
# ---------------------------------------------------------------------------
_latching_paper = dict(
    cells=("rnn", "lstm", "gru"),
    lengths=(2, 5, 8, 10, 15, 20, 25, 30, *range(40, 201, 10)),  # the question's grid
    repeats=30,  # "num_repeats = 30"
    epochs=5,  # "num_epochs = 5"
    n_sequences=10_000,  # "N = 10000"
    batch_size=16,  # "batch_size=16"
    lr=1e-3,  # Keras 2.1 Adam default (the question passes no optimizer settings)
    hidden_size=1,  # "RNN_CELL(1, ...)": one recurrent unit, as Bengio et al. 1994
    noise_std=0.1,  # "np.random.normal(loc=0, scale=0.1, ...)"
    val_fraction=0.2,  # "validation_split=0.2"
    # Our criterion (the question states none): a latching model is ~100% right
    # (signal 1 vs noise 0.1), a failed one ~50%; runs are bimodal, 0.9 splits them.
    success_threshold=0.9,
    torch_lengths=(2, 5, 8, 10, 15, 20, 25, 30, *range(40, 201, 10)),  # as the grid
    bug_lengths=(
        2,
        5,
        8,
        10,
        15,
        20,
        25,
        30,
        *range(40, 201, 10),
    ),  # the question ran the bug everywhere
    bug_repeats=30,
    tuned_lengths=(5, 100),  # "I ran only for 5 and 100 time steps"
    # The answer tweaked "the learning rate, number of epochs, and batch size" "to
    # make sure training always converged", without giving values. Ours are the
    # best of a search over that space run by the experiment for EACH cell with
    # the same budget, at the longest tuned length, on seeds and data of its own
    # (never those reported): highest success frequency, then mean accuracy.
    # The grid spans the answer's three knobs around Keras' defaults (lr 1e-3;
    # the question's batch 16 and 5 epochs), sized for E1's budget: lr x3 and
    # x10, batch x4 and x16, epochs x1 and x3. One vectorised training per
    # (cell, batch size) covers every lr and epoch count.
    search_lrs=(1e-3, 3e-3, 1e-2),
    search_batch_sizes=(64, 256),
    search_epochs=(5, 15),
    search_repeats=10,
    tuned_repeats=30,
    bengio_lengths=tuple(range(10, 101, 10)),  # Bengio et al. 1994, Fig. 2: T = 10..100
    bengio_repeats=30,  # trials per length (Bengio's count is not in the seed)
    bengio_epochs=5,  # as the question's training
    # initialisations of the same unit (zero biases, Keras 2018's w = +-1, a unit
    # that starts latching), to see what the curve rests on
    init_lengths=(10, 30, 60, 100),
    init_repeats=10,
    landscape_lengths=(
        2,
        5,
        10,
        20,
        50,
        100,
    ),  # Pascanu et al. 2013, Fig. 6 "growing length"
    landscape_points=601,  # w in [-3, 3] step 0.01
    seed=0,
)
LATCHING = {
    "paper": _latching_paper,
    "default": {
        **_latching_paper,
        "repeats": 10,  # the asker's extended runs: 10 repeats (fits 2 CPU cores)
        # modern cells on short lengths: the time loop's cost grows with the
        # longest length, and the Keras cells already separate there
        "torch_lengths": (2, 5, 10, 20),
        "bug_lengths": (5, 60),  # a length every cell latches, one where the LSTM fails
        "bug_repeats": 5,
        "tuned_repeats": 10,
        # 5 runs per setting (of 12, per cell) keep E1 under 15 minutes on 2
        # cores; the choice is then checked on 10 fresh runs, so the search's
        # noise cannot flatter the reported numbers
        "search_repeats": 5,
        "bengio_repeats": 20,
    },
    "smoke": {  # seconds: the whole pipeline on tiny data, no claim expected to hold
        **_latching_paper,
        "lengths": (2, 10),
        "repeats": 2,
        "epochs": 1,
        "n_sequences": 200,
        "torch_lengths": (2, 10),
        "bug_lengths": (5,),
        "bug_repeats": 2,
        "tuned_lengths": (5, 20),
        "tuned_repeats": 2,
        "search_lrs": (1e-3, 1e-2),
        "search_batch_sizes": (32,),
        "search_epochs": (1,),
        "search_repeats": 2,
        "bengio_lengths": (10, 20),
        "bengio_repeats": 2,
        "bengio_epochs": 1,
        "init_lengths": (10,),
        "init_repeats": 2,
        "landscape_lengths": (2, 5, 10),
        "landscape_points": 61,
    },
}

# ---------------------------------------------------------------------------
# E2 bit relay (seed 002: the answer's "task 2")
# ---------------------------------------------------------------------------
_bit_relay_paper = dict(
    cells=("rnn", "lstm", "gru"),
    lengths=(2, 5, 8, 10, 15, 20, 25, 30, *range(40, 201, 10)),  # "as task 1"
    repeats=10,  # asker's update 2018-04-19: "8 unit; 10 repeats; 10 epochs"
    epochs=10,
    n_sequences=10_000,  # as task 1
    batch_size=16,
    lr=1e-3,
    hidden_size=8,  # "8 unit"
    # the asker ran Keras (2018 defaults); the answer's code is not in the seed,
    # so both forms run (its ranking matches the modern PyTorch cells)
    styles=("keras2018", "torch"),
    noise_std=0.1,
    val_fraction=0.2,
    success_threshold=0.9,  # as E1
    # the Keras 2018 GRU alone at longer lengths (lengths already in the grid
    # are not rerun): whether a GRU at chance at L = 20-40 recovers by L = 100
    gru_long_lengths=(70, 100),
    seed=0,
)
BIT_RELAY = {
    "paper": _bit_relay_paper,
    "default": {
        **_bit_relay_paper,
        # a documented subset: the time loop's cost grows with the longest
        # length; these span easy to hard within 10 minutes on 2 cores
        "lengths": (4, 10, 20, 40),
    },
    "smoke": {
        **_bit_relay_paper,
        "lengths": (4, 10),
        "repeats": 2,
        "epochs": 1,
        "n_sequences": 200,
        "gru_long_lengths": (20,),
    },
}

# ---------------------------------------------------------------------------
# E3 synthetic cycles (seed 001, Verwimp et al. 2018, section 4.2)
# ---------------------------------------------------------------------------
_cycles_paper = dict(
    train_tokens=16_000_000,  # "The training set contains 16M tokens"
    valid_tokens=160_000,  # "the validation and test set each contain 160k tokens"
    test_tokens=160_000,
    hidden_size=50,  # "an LSTM with 1 hidden layer of 50 units"
    epochs=1,  # not stated; one pass over 16M tokens reaches the paper's PPL range
    batch_size=20,  # not stated; their PTB setup's batch (section 4.3.1)
    seq_len=50,  # not stated; covers the 32-step dependency span
    optimizer="adagrad",  # "with Adagrad [65] and a learning rate of 0.05"
    lr=0.05,
    max_delay=50,  # Figure 3's delays (and the public code's max_delay 50)
    gradient_tokens=160_000,  # "recorded for the validation set": all of it
    gradient_streams=64,  # engine parallelism only; results do not depend on it
    lda_test_tokens=10_000,  # "We reserve the last 10k tokens for testing"
    counting_dims=5,  # "5 dimensions ... are mostly responsible" (Table 1)
    seed=0,
)
CYCLES = {
    "paper": _cycles_paper,
    # the paper's data fits a 2-core CPU (~0.5 M tokens/s, ~35 s per epoch with
    # fused nn.LSTM), so default trains 4 epochs to get closer to the minimum
    # (the paper does not state its epochs); everything else as the paper
    "default": {**_cycles_paper, "epochs": 4},
    "smoke": {
        **_cycles_paper,
        "train_tokens": 200_000,
        "valid_tokens": 12_000,
        "test_tokens": 4_000,
        "epochs": 1,
        "max_delay": 40,
        "gradient_tokens": 600,
        "gradient_streams": 4,
        "lda_test_tokens": 2_000,
    },
}

# ---------------------------------------------------------------------------
# The foundations lesson (seed 003: lecture notes on RNNs)
# ---------------------------------------------------------------------------
# The lecture states mechanisms, not numbers, so "paper" is the lesson at a
# comfortable size: longer training, more restarts, a wider sweep.
_foundations_paper = dict(
    repeat_seq_len=12,  # 4096 sequences: "correct on every input" checked exhaustively
    repeat_steps=2000,
    repeat_restarts=8,  # a 3-unit ReLU net can start with dead units; keep the best
    repeat_lr=0.05,  # tiny net, smooth loss: a large step is fine
    recall_delay=5,  # the known dependency length truncation must cover
    recall_seq_len=20,
    recall_symbols=4,  # chance accuracy 1/4
    truncations=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20),  # 20 = full BPTT
    recall_steps=1000,
    hidden_size=32,
    batch_size=32,
    lr=0.01,
    sigmas=(0.5, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0),  # crosses 1
    jacobian_steps=60,
    clip_norm=1.0,
    clip_sigma=1.3,  # ReLU RNN with sigma > 1: activations and gradients grow
    clip_lr=0.2,  # plain SGD; Adam's per-weight scaling would hide the explosion
    clip_steps=400,
    clip_seeds=5,
    lstm_forget_bias=5.0,  # sigmoid(5) = 0.993: forget gate near 1
    lm_chars=4_500_000,  # the whole local text8 prefix (4.5% of text8)
    lm_hidden_size=256,
    lm_seq_len=100,  # Karpathy's char-rnn default
    lm_steps=20_000,
    # The LM's own Adam rate. At the shared 1e-2 the 256-unit LM diverged late
    # on the reported seed (train loss about 1.4 nats per character until step
    # 16,000, 2.69 at the end); the pilot (pilots/foundations_lm_lr.py, seed
    # 1000, 2026-12-01; pilots/results/foundations_lm_lr_seed1000.csv) gave
    # validation 2.007 bits/char at 2e-3 (char-rnn's default rate) and 2.043 at
    # 5e-3, both stable: 2e-3.
    lm_lr=2e-3,
    dropout_p=0.5,
    layers=(1, 2, 3, 4),
    seed=0,
)
FOUNDATIONS = {
    "paper": _foundations_paper,
    "default": {
        **_foundations_paper,  # <= 5 min on a 2-core CPU
        "repeat_steps": 600,
        "repeat_restarts": 4,
        "repeat_seq_len": 10,
        "truncations": (2, 4, 5, 6, 8, 10, 20),
        "recall_steps": 300,
        "sigmas": (0.5, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0),
        "clip_steps": 200,
        "clip_seeds": 3,
        "lm_hidden_size": 64,
        "lm_seq_len": 64,  # ~30 s of training
        "lm_steps": 6000,
        "lm_lr": 0.01,  # the shared rate, as before: the 64-unit LM trains stably at it
        "layers": (1, 2, 3),
    },
    "smoke": {
        **_foundations_paper,  # seconds: exercises every part, claims may fail
        "repeat_steps": 100,
        "repeat_restarts": 1,
        "repeat_seq_len": 6,
        "truncations": (2, 10, 20),
        "recall_steps": 30,
        "sigmas": (0.5, 1.0, 2.0),
        "jacobian_steps": 20,
        "clip_steps": 20,
        "clip_seeds": 1,
        "lm_chars": 50_000,
        "lm_hidden_size": 32,
        "lm_seq_len": 32,
        "lm_steps": 30,
        "layers": (1, 2),
    },
}

# ---------------------------------------------------------------------------
# Lesson: memory analysis of your own RNN (rnnmem_utils.api)
# ---------------------------------------------------------------------------
# No published setting: "paper" is the word-language-model example's default
# size (emsize 200, nhid 200) on all of PTB's training text; default a few
# minutes on a laptop; smoke seconds.
_your_rnn_paper = dict(
    train_tokens=829_589,  # PTB train less the analysed words
    analysis_tokens=100_000,
    vocab_size=10_000,
    embedding_size=200,  # the example's --emsize
    hidden_size=200,  # the example's --nhid
    seq_len=35,  # the example's --bptt
    batch_size=20,  # the example's --batch_size
    steps=20_000,
    lr=1e-3,
    max_delay=50,  # as Verwimp et al.
    streams=32,
    frequency_bins=5,
    probe_words=50,
    probe_delays=(1, 2, 5, 10),
    mc_steps=20_000,
    mc_max_delay=300,
    connectivity_tokens=60,
    seed=0,
)
YOUR_RNN = {
    "paper": _your_rnn_paper,
    "default": {
        **_your_rnn_paper,  # ~3 minutes on 2 cores
        "train_tokens": 200_000,
        "analysis_tokens": 20_000,
        "vocab_size": 3_000,
        "embedding_size": 32,
        "hidden_size": 64,
        "steps": 1_500,
        "lr": 3e-3,
        "max_delay": 30,
        "streams": 16,
        "mc_steps": 6_000,
        "mc_max_delay": 100,
    },
    "smoke": {
        **_your_rnn_paper,  # seconds: every step runs, claims may fail
        "train_tokens": 5_000,
        "analysis_tokens": 1_200,
        "vocab_size": 200,
        "embedding_size": 8,
        "hidden_size": 12,
        "seq_len": 20,
        "steps": 20,
        "max_delay": 6,
        "streams": 4,
        "frequency_bins": 3,
        "probe_words": 20,
        "probe_delays": (1, 3),
        "mc_steps": 800,
        "mc_max_delay": 20,
        "connectivity_tokens": 15,
    },
}

# ---------------------------------------------------------------------------
# E5 autocomplete connectivity (seed 000: Madsen 2019, Distill; the post's code
# distillpub/post--memorization-in-rnns)
# ---------------------------------------------------------------------------
_autocomplete_paper = dict(
    models=("gru", "lstm", "nlstm"),  # the post's three models
    text8_chars=100_000_000,  # all of text8 (preprocess/autocomplete.py)
    vocab_size=16_384,  # "vocab_size=2**14"
    max_length=200,  # "max_length=200"
    embedding_size=600,  # embedding_matrix(dim=latent_dim): latent_dim = 600
    hidden_size=600,  # "autocomplete_gru_600", embedding_size=600
    layers=2,  # PureGRU / PureLSTM: layers=2
    nlstm_layers=1,  # nlstm_aligned: layers=1, depth=2
    forget_bias=1.0,  # BasicLSTMCell's and BasicNLSTMCell's default
    softmax="full",  # tf.layers.dense to 16,386 classes
    adaptive_cutoffs=(2_048, 8_192),  # unused with the full softmax
    batch_size=64,  # AutoComplete(batch_size=64)
    steps=14_278,  # "14,278 mini-batches": 2 epochs of 456,896 sequences
    gru_lr=1e-3,  # tf.train.AdamOptimizer() defaults, for every model
    lstm_lr=1e-3,
    nlstm_lr=1e-3,
    checkpoint_every=500,  # the post saved every 60 s; ~4 min of GPU time here
    log_every=100,
    log_valid_sequences=256,
    test_sequences=10_000_000,  # all of the test split (25,384 sequences)
    bootstrap_resamples=2_000,
    local_sentences=2,
    connectivity_sequences=200,  # our measure of reach (the post shows examples)
    connectivity_norm="squared",  # the post's code: reduce_sum(gradient ** 2)
    workers=3,  # the three models side by side (a GPU worker each on a cluster)
    seed=450_849_059,  # random_seed, "From random.org"
)
AUTOCOMPLETE = {
    # ~6 h per model on a GPU in the post (about 16 s per step on 2 CPU cores)
    "paper": _autocomplete_paper,
    # 2 CPU cores, ~20 min for the three models (measured 12.2 min from an
    # empty store on 2 free cores, 2026-12-01: the models two at a time in
    # 4.7-6.8 min each, then evaluation and connectivity): the local 4.5% of text8, a
    # vocabulary of 1,024 words, 64 units, 1,200 steps. Measured here (one
    # thread, a shared machine): ~0.3 s per step at 64 units (~1.1 s at 128).
    # A first default (4,096 words, adaptive softmax, Adam at 1e-3, 1,000
    # steps) left every model near the unigram plateau (test CE 5.1-6.2 nats
    # against 6.9 for unigram frequencies), so its ranking was the order in
    # which the models left it. With 1,024 words the full softmax (the post's
    # head) costs no more than the adaptive one did. One rate for all (3e-3)
    # left the LSTM far from converged (test CE 2.88, still falling), so each
    # model gets the rate of {3e-3, 5e-3, 1e-2} with the lowest validation
    # loss after ~650 steps in pilots on seed 1000 (not the reported seed):
    # GRU 5.34 / 5.88 / 5.89 (at 5e-3 and 1e-2 it never left the plateau in
    # 700 and 1,200 steps), LSTM - / 3.06 / 2.08, Nested LSTM - / 2.36 / 2.10.
    # The GRU sat on the plateau at all three, so its pilot went on below them
    # (same seed, same protocol, one thread): 1e-3 4.95, 2e-3 3.36 after 650
    # steps (it leaves the plateau near step 350, 3e-3 had not by 650): 2e-3.
    # Its Glorot ranges were then found to differ from TensorFlow's (one range
    # over the three gate blocks instead of one per kernel: gates 2H wide,
    # candidate H), fixed in models.py, and its pilot rerun with the fixed
    # initialisation (2026-12-01, pilots/autocomplete_lr.py, same seed and
    # protocol; pilots/results/autocomplete_lr_gru_seed1000.csv): 1e-3 3.60,
    # 2e-3 2.77, 3e-3 2.37, 5e-3 and 1e-2 5.92 (never left the plateau): 3e-3.
    # The LSTM's and Nested LSTM's pilots, rerun with today's code and recorded
    # (2026-12-01, pilots/results/autocomplete_lr_lstm_nlstm_seed1000.csv):
    # LSTM 3e-3 3.93, 5e-3 3.10, 1e-2 2.05; Nested LSTM 2.91, 2.39, 2.14:
    # 1e-2 for both, as chosen before.
    # The post trains all three at Adam's 1e-3 for 14,278 steps: out of reach.
    "default": {
        **_autocomplete_paper,
        "text8_chars": 4_500_000,  # the local prefix (4,503,641 bytes)
        "vocab_size": 1_024,
        "embedding_size": 64,
        "hidden_size": 64,
        "gru_lr": 3e-3,
        "lstm_lr": 1e-2,
        "nlstm_lr": 1e-2,
        "steps": 1_200,  # ~3.7 epochs of the prefix's 20,564 training sequences
        "checkpoint_every": 100,
        "log_every": 50,
        "log_valid_sequences": 128,
        "connectivity_sequences": 32,  # ~1 s per sequence and model at 64 units
        "workers": 2,  # the 2 cores: two models at once, then the third
    },
    "smoke": {  # seconds: every part on a tiny corpus, no claim expected to hold
        **_autocomplete_paper,
        "text8_chars": 300_000,
        "vocab_size": 512,
        "embedding_size": 16,
        "hidden_size": 16,
        "softmax": "adaptive",
        "adaptive_cutoffs": (64, 256),
        "steps": 8,
        "checkpoint_every": 4,
        "log_every": 4,
        "log_valid_sequences": 16,
        "test_sequences": 48,
        "bootstrap_resamples": 200,
        "local_sentences": 1,
        "connectivity_sequences": 2,
        "workers": 1,
    },
}

# ---------------------------------------------------------------------------
# E4 what PTB language models remember (seed 001, sections 4.3-5, appendix 9)
# ---------------------------------------------------------------------------
_ptb_memory_paper = dict(
    # Table 2's PTB models; Wiki-2 needs its train split (see zoo.check_available)
    variants=(
        "lstm256",
        "lstm256_seed1",
        "lstm256_seed2",
        "gru256",
        "rnn256",
        "lstm128",
        "lstm512",
        "untrained",
        "wiki2_256",
        "wiki2_512",
    ),
    epochs=39,  # their public config ptb-norm-wsj_64e_256h_steps200: max_max_epoch 39
    train_tokens=0,  # all of ptb.train less the held-out treebank lines
    eval_tokens=0,  # Table 2 scores the whole validation and test sets
    embedding_size=64,  # section 4.3.1
    batch_size=20,  # section 4.3.1
    seq_len=200,  # "each batch element containing a text sequence of 200 words"
    lr=1.0,  # SGD, "a learning rate of 1 for the first 6 epochs"
    decay_after=6,
    lr_decay=0.8,  # "exponentially decreased with a decay of 0.8"
    clip=5.0,  # "The norm of the gradients is clipped at 5"
    dropout=0.5,  # on the LSTM output only
    init_scale=0.05,  # "uniform distribution between -0.05 and 0.05"
    max_delay=50,  # delays 0..49 in every figure
    positions=80_000,  # nearly all held-out treebank tokens (the paper: validation set)
    gradient_streams=50,  # segments of 200 positions per engine batch
    word_tokens=0,  # every held-out token (the paper: every validation token)
    fit_words=500,
    bootstrap=1000,
    workers=2,
    seed=0,
)
PTB_MEMORY = {
    "paper": _ptb_memory_paper,
    # <= ~35 min on 2 free cores: measured about 30 min from an empty store
    # (2026-11-30, nothing else running: the four models trained in 20 min,
    # the analyses in 7 on two workers, evaluation and notebook 2). Two
    # workers train the baseline, the GRU, the vanilla RNN and LSTM 128 for 3
    # of the paper's 39 epochs with its recipe unchanged (unroll 200, 211
    # updates per epoch, the update of its summed TF cost: zoo.settings); the
    # other seeds, LSTM 512 and Wiki-2 are "not run at this preset", and so
    # is Table 2's comparison. Pilot (seed 1000, one thread, not reported):
    # the baseline's valid perplexity on 20k tokens fell 997, 739, 624, 521,
    # 406, 397, 362 after 50..350 updates (the mean-loss update of before sat
    # at ~700 after 900 updates of a 35-step unroll). Training runs at about
    # 3,950 words/s per worker with both busy (linear_cross_entropy; 4,105 on
    # one free core, 77% of the arithmetic limit: benchmarks/lm_training.py),
    # ~235 s per epoch at 256 units. The per-word delay-0 unit took 13 min
    # through torch.func before it stepped the engine's folded tangents (30 s).
    "default": {
        **_ptb_memory_paper,
        "variants": ("lstm256", "gru256", "rnn256", "lstm128", "untrained"),
        "epochs": 3,
        "positions": 10_000,
        "gradient_streams": 25,  # segments per engine batch: 50 in 2 batches
        "fit_words": 100,
        "bootstrap": 200,
    },
    # < 60 s end to end: 6k training tokens, short curves; claims may fail
    "smoke": {
        **_ptb_memory_paper,
        "variants": ("lstm256", "gru256", "rnn256", "untrained"),
        "epochs": 1,
        "train_tokens": 6_000,  # 1 batch of 20 x 200: exercises the loop
        "eval_tokens": 2_000,
        "word_tokens": 2_000,
        "max_delay": 6,
        "positions": 256,
        "gradient_streams": 16,
        "fit_words": 5,
        "bootstrap": 20,
        "workers": 1,
    },
}

PRESETS = {
    "latching": LATCHING,
    "bit_relay": BIT_RELAY,
    "cycles": CYCLES,
    "foundations": FOUNDATIONS,
    "ptb_memory": PTB_MEMORY,
    "autocomplete": AUTOCOMPLETE,
    "your_rnn": YOUR_RNN,
}
