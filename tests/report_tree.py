"""A small published results tree for the report's tests (no experiment runs).

``make_tree(root)`` writes ``root/<preset>/`` with:

- foundations: a new-style run record (machine, versions, data hashes) and
  claims with intervals, one verdict that does not hold across its interval;
- latching: an old-style run record, a Bengio-like 10-entry dictionary, a
  30-entry one, a figure, and its executed notebook (a lesson with papermill's
  injected cell and machine paths in its outputs);
- latching@cells=gru,repeats=30: a variant;
- bit_relay: not run; cycles: a truncated claims.json;
- .staging/ and .failed/: partial runs that must never count.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from pathlib import Path

import nbformat

from rnnmem_utils import io
from rnnmem_utils.runner.plan import current_fingerprint

PRESET = "smoke"


def _png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG (zlib and CRC by hand), so a browser can decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + bytes([200, 60, 60]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png()
BENGIO = {str(L): round(0.4 - L / 250, 2) for L in range(10, 101, 10)}
LONG = {f"k{i}": i for i in range(30)}


def claim(id, statement, reproduced, verdict="reproduced", **extra):  # noqa: A002
    return {
        "id": id,
        "statement": statement,
        "published": extra.pop("published", 1.0),
        "reproduced": reproduced,
        "criterion": extra.pop("criterion", "within 10% of published"),
        "verdict": verdict,
        "difference": extra.pop("difference", ""),
        "source": "",
        "details": {},
        **extra,
    }


def claims_file(experiment, claims):
    return {
        "experiment": experiment,
        "preset": PRESET,
        "config_hash": "abcdef0123456789",
        "config": {},
        "claims": claims,
    }


NEW_RUN = {
    "experiment": "foundations",
    "preset": PRESET,
    "variant": "",
    "overrides": {},
    "fingerprint": "f" * 16,
    "config_hash": "abcdef0123456789",
    "data": {"text8/text8.prefix": "0123456789abcdef" * 4},
    "started": "2026-11-30T10:00:00+00:00",
    "elapsed_s": 90.0,
    "python": "3.11.7",
    "machine": {
        "cpu": "Intel Xeon Platinum 8480C",
        "isa": "AVX512",
        "threads": 2,
        "platform": "Linux-6.1-x86_64",
    },
    "versions": {"torch": "2.13.0", "numpy": "1.26.4"},
}
OLD_RUN = {
    "experiment": "latching",
    "preset": PRESET,
    "overrides": {},
    "fingerprint": "e" * 16,
    "config_hash": "83b8be3fda1fd62d",
    "started": "2026-11-22T01:49:59+00:00",
    "elapsed_s": 681.9,
    "python": "3.11.7",
}


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def lesson_notebook(out: Path) -> nbformat.NotebookNode:
    """An executed notebook as papermill leaves it, machine paths included."""
    v4 = nbformat.v4
    params = v4.new_code_cell('preset = "default"\noverrides = {}\nout_dir = None')
    params.metadata["tags"] = ["parameters"]
    injected = v4.new_code_cell(f'preset = "smoke"\nout_dir = "{out}"')
    injected.metadata["tags"] = ["injected-parameters"]
    plot = v4.new_code_cell("fig = plot()\nsave(fig)")
    plot.outputs = [
        v4.new_output("stream", name="stdout", text=f"wrote {out}/figures/a.png\n"),
        v4.new_output(
            "stream",
            name="stderr",
            text=f"{sys.prefix}/lib/site-packages/x.py:3: UserWarning: noise\n",
        ),
        v4.new_output(
            "display_data",
            data={"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Fig>"},
        ),
        v4.new_output(  # tqdm's bar, saved without its widget state
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {
                    "model_id": "abc",
                    "version_major": 2,
                    "version_minor": 0,
                },
                "text/plain": "epoch 1/1:   0%|          | 0/200 [00:00<?, ?it/s]",
            },
        ),
        v4.new_output(
            "execute_result",
            data={"text/plain": f"[PosixPath('{io.REPO_ROOT}/results/x.png')]"},
            execution_count=3,
        ),
    ]
    return v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Latching\nThe `latch` lesson, $\\tanh'$."),
            params,
            injected,
            plot,
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
        },
    )


def make_tree(root: Path) -> Path:
    """Write the tree under ``root`` (the results root); return ``root/PRESET``."""
    top = root / PRESET
    write(
        top / "foundations" / "claims.json",
        claims_file(
            "foundations",
            [
                claim(
                    "rnn_success",
                    "The SRNN latches at `L = 25`",
                    0.51,
                    published=0.8,
                    interval=[0.2366, 0.7634],
                    interval_kind="95% Wilson over 10 runs",
                    holds_across_interval=False,
                ),
                claim(
                    "fall",
                    "Success falls with length",
                    0.313,
                    interval=[0.31, 0.5],
                    interval_kind="95% bootstrap over 10 seeds",
                    holds_across_interval=True,
                ),
                claim("pipe", "A | in a claim stays in its cell", "a|b"),
            ],
        ),
    )
    write(top / "foundations" / "run.json", NEW_RUN)
    lat = top / "latching"
    write(
        lat / "claims.json",
        claims_file(
            "latching",
            [
                claim("bengio", "Bengio's setting: success falls", BENGIO, "partly"),
                claim("long", "A long dictionary", LONG, "not reproduced"),
                claim(
                    "later", "Checked only at default", None, "not run at this preset"
                ),
            ],
        ),
    )
    write(lat / "run.json", OLD_RUN)
    (lat / "figures").mkdir()
    (lat / "figures" / "success_vs_length.png").write_bytes(PNG)
    (lat / "figures" / ".half.tmp-x.png").write_bytes(PNG[:10])  # never shown
    nbformat.write(lesson_notebook(lat), lat / "01_information_latching.ipynb")
    var = top / "latching@cells=gru,repeats=30"
    write(
        var / "claims.json",
        claims_file("latching", [claim("gru", "GRU latches", 0.9)]),
    )
    write(
        var / "run.json",
        {
            **NEW_RUN,
            "experiment": "latching",
            "variant": "cells=gru,repeats=30",
            "overrides": {"cells": ["gru"], "repeats": 30},
        },
    )
    write(top / "cycles" / "claims.json", '{"experiment": "cycles", "claims": [')
    write(top / "cycles" / "run.json", NEW_RUN | {"experiment": "cycles"})
    for hidden in (".staging/bit_relay", ".failed/bit_relay", ".locks/x"):
        write(
            top / hidden / "claims.json",
            claims_file("bit_relay", [claim("x", "HIDDEN PARTIAL RUN", 1)]),
        )
    for record in top.glob("*/run.json"):  # as a run of this checkout writes them
        data = json.loads(record.read_text())
        write(record, {**data, "fingerprint": current_fingerprint(data, root)})
    return top
