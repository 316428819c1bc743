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
    cells=("srnn", "lstm", "gru"),
    lengths=(2, 5, 8, 10, 15, 20, 25, 30, *range(40, 201, 10)),  # the question's grid
    repeats=30,  # "num_repeats = 30"
    epochs=5,  # "num_epochs = 5"
    n_sequences=10_000,  # "N = 10000"
    hidden_size=1,  # one recurrent unit, as Bengio et al. 1994
    seed=0,
)
LATCHING = {
    "paper": _latching_paper,
    "default": {**_latching_paper, "repeats": 10},  # the asker's extended runs: 10 repeats
    "smoke": {**_latching_paper, "lengths": (2, 10), "repeats": 2, "epochs": 1,
              "n_sequences": 200},
}

# ---------------------------------------------------------------------------
# E2 bit relay (seed 002: the answer's "task 2")
# ---------------------------------------------------------------------------
_bit_relay_paper = {**_latching_paper, "hidden_size": 8, "repeats": 10, "epochs": 10}
BIT_RELAY = {
    "paper": _bit_relay_paper,
    "default": _bit_relay_paper,
    "smoke": {**_bit_relay_paper, "lengths": (4, 10), "repeats": 2, "epochs": 1,
              "n_sequences": 200},
}

# ---------------------------------------------------------------------------
# E3 synthetic cycles (seed 001, Verwimp et al. 2018, section 4.2)
# ---------------------------------------------------------------------------
CYCLES = {
    "paper": dict(seed=0),
    "default": dict(seed=0),
    "smoke": dict(seed=0),
}

# ---------------------------------------------------------------------------
# E6 foundations (seed 003: lecture notes on RNNs)
# ---------------------------------------------------------------------------
FOUNDATIONS = {
    "paper": dict(seed=0),
    "default": dict(seed=0),
    "smoke": dict(seed=0),
}

PRESETS = {
    "latching": LATCHING,
    "bit_relay": BIT_RELAY,
    "cycles": CYCLES,
    "foundations": FOUNDATIONS,
}
