"""Atomic writes and resumable computations."""

import os

import pytest

from rnnmem_utils import io


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"], "the temporary file is removed"


def test_temporaries_are_hidden_and_cleaned(tmp_path):
    (tmp_path / f".x{io.TMP_MARK}abc.csv").write_text("partial")
    (tmp_path / "keep.csv").write_text("full")
    assert io.clean_temporaries(tmp_path) == 1
    assert os.listdir(tmp_path) == ["keep.csv"]


def test_write_json_handles_numpy(tmp_path):
    import numpy as np

    io.write_json(
        tmp_path / "n.json", {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(2)}
    )
    assert io.read_json(tmp_path / "n.json") == {"i": 3, "f": 0.5, "a": [0, 1]}


def test_results_dir_default_and_explicit(results_root, tmp_path):
    assert io.results_dir("smoke", "x") == results_root / "smoke" / "x"
    assert io.results_dir("smoke", "x", tmp_path / "o") == tmp_path / "o"
    assert (tmp_path / "o").is_dir()


def test_results_get_the_usual_file_mode(tmp_path):
    path = io.write_text(tmp_path / "r.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
