"""Corpus loaders: verified by sha256, clear errors for missing or corrupt files."""

import shutil

import pytest

from rnnmem_utils.data import corpora
from rnnmem_utils.data.corpora import DataError


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    return tmp_path


def test_golden_sizes_and_hashes_of_the_local_mirror():
    for name in ("ptb.train", "ptb.valid", "ptb.test", "treebank"):
        path = corpora.locate(name, download=False)  # verifies the sha256
        assert path.stat().st_size == corpora.FILES[name].size


def test_missing_file_says_where_to_put_it(empty_data_dir):
    with pytest.raises(DataError, match=r"RNNMEM_DATA_DIR.*ptb/ptb.valid.txt"):
        corpora.locate("ptb.valid", download=False)


def test_corrupt_file_is_refused(tmp_path, monkeypatch):
    _real_path = _real("ptb.valid")
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    bad = tmp_path / "ptb" / "ptb.valid.txt"
    bad.parent.mkdir()
    shutil.copy(_real_path, bad)
    with open(bad, "r+b") as f:
        f.seek(100)
        f.write(b"X")
    with pytest.raises(DataError, match="corrupt: sha256"):
        corpora.locate("ptb.valid")


def test_unknown_name_names_the_choices():
    with pytest.raises(DataError, match="options are"):
        corpora.locate("ptb.training")


def test_text8_prefix_is_read_with_a_warning():
    with pytest.warns(UserWarning, match="holds only the first"):
        text = corpora.read_text8()
    assert len(text) == corpora.locate("text8").stat().st_size
    assert corpora.read_text8(1000).startswith(" anarchism originated as a term")


def _real(name):
    return corpora.locate(name, download=False)
