"""Corpus loaders: every file verified (sha256; text8 as the known prefix or the
whole file by size and CRC-32), refused with the file, what was expected and the
fix; hashes remembered only while the file is unchanged.

All damage is done to copies in tmp_path; the shared mirror is never touched.
"""

import dataclasses
import hashlib
import os
import shutil
import zipfile
import zlib

import pytest

from rnnmem_utils import config
from rnnmem_utils.data import corpora
from rnnmem_utils.data.corpora import DataError

PREFIX_SHA = "a74f575c77e5ce56d9af1598cbfe86fe1bbef92c200355dcc909ddc81df2184d"


@pytest.fixture(autouse=True)
def memo(tmp_path, monkeypatch):
    """A private memo of verified hashes per test."""
    path = tmp_path / "memo" / "data_hashes.json"
    monkeypatch.setattr(corpora, "memo_path", lambda: path)
    monkeypatch.setattr(corpora, "_PROCESS_MEMO", {})
    return path


def _real(name):
    try:
        return corpora.locate(name, download=False)
    except DataError:
        pytest.skip(f"{name} not in the data directory (set RNNMEM_DATA_DIR)")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory in tmp_path, with RNNMEM_DATA_DIR pointing to it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(root))
    return root


@pytest.fixture
def text8(tmp_path, monkeypatch):
    real = _real("text8")
    root = tmp_path / "data"
    (root / "text8").mkdir(parents=True)
    copy = root / "text8" / "text8"
    shutil.copyfile(real, copy)
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(root))
    return copy


def _flip(path, offset, byte=b"q"):
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(1)
        f.seek(offset)
        f.write(byte if byte != old else b"z")


# ---------------------------------------------------------------------------
# sha256 files
# ---------------------------------------------------------------------------


def test_golden_sizes_and_hashes_of_the_local_mirror():
    for name in ("ptb.train", "ptb.valid", "ptb.test", "treebank"):
        path = _real(name)  # verifies the sha256
        assert path.stat().st_size == corpora.FILES[name].size
        # an independent hash: hashlib over the whole file at once
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == corpora.FILES[name].sha256 == corpora.verify(name, path)


def test_missing_file_names_the_data_directory_and_the_variable(data_dir):
    with pytest.raises(DataError) as e:
        corpora.locate("ptb.valid", download=False)
    msg = str(e.value)
    assert str(data_dir) in msg and "RNNMEM_DATA_DIR" in msg
    assert "ptb/ptb.valid.txt" in msg and "https://" in msg
    assert len(msg.splitlines()) >= 2  # the advice is on its own lines


def test_corrupt_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    real = _real("ptb.valid")
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    bad = tmp_path / "ptb" / "ptb.valid.txt"
    bad.parent.mkdir()
    shutil.copyfile(real, bad)
    _flip(bad, 100, b"X")
    with pytest.raises(DataError) as e:
        corpora.locate("ptb.valid")
    msg = str(e.value)
    assert str(bad) in msg and corpora.FILES["ptb.valid"].sha256 in msg
    assert "RNNMEM_DATA_DIR" in msg and "To fix it" in msg


def test_unknown_name_names_the_choices():
    with pytest.raises(DataError, match="options are"):
        corpora.locate("ptb.training")


# ---------------------------------------------------------------------------
# text8: the known prefix or the whole file
# ---------------------------------------------------------------------------


def test_text8_prefix_is_accepted_by_its_sha256(text8):
    assert corpora.verify("text8", text8) == PREFIX_SHA
    assert hashlib.sha256(text8.read_bytes()).hexdigest() == PREFIX_SHA


def test_text8_prefix_is_read_with_a_warning(text8):
    with pytest.warns(UserWarning, match="holds only the first"):
        text = corpora.read_text8()
    assert len(text) == text8.stat().st_size
    assert corpora.read_text8(1000).startswith(" anarchism originated as a term")


def test_text8_with_one_letter_changed_is_refused(text8):
    _flip(text8, 2_000_000)
    with pytest.raises(DataError) as e:
        corpora.read_text8(1000)
    msg = str(e.value)
    assert str(text8) in msg and PREFIX_SHA in msg and "CRC-32 7d6be66f" in msg
    assert "100,000,000 bytes" in msg and "mattmahoney.net" in msg
    assert "RNNMEM_DATA_DIR" in msg


def test_text8_of_an_unknown_length_is_refused_without_hashing(text8, monkeypatch):
    with open(text8, "r+b") as f:
        f.truncate(1_000_000)
    monkeypatch.setattr(corpora, "_digests", _fail)
    with pytest.raises(DataError, match="1,000,000 bytes"):
        corpora.verify("text8", text8)


def _fail(*a, **k):
    raise AssertionError("hashed")


def _small_text8(monkeypatch, data):
    """Pretend the whole text8 is ``data``: its size and CRC-32 as the pins."""
    spec = dataclasses.replace(
        corpora.FILES["text8"], size=len(data), crc32=zlib.crc32(data)
    )
    monkeypatch.setitem(corpora.FILES, "text8", spec)
    return spec


def test_the_whole_text8_is_verified_by_size_and_crc32(data_dir, monkeypatch):
    data = b" the quick brown fox jumps over the lazy dog" * 1000
    _small_text8(monkeypatch, data)
    path = data_dir / "text8" / "text8"
    path.parent.mkdir()
    path.write_bytes(data)
    assert corpora.verify("text8", path) == hashlib.sha256(data).hexdigest()
    assert corpora.read_text8() == data.decode()  # the whole file: no warning
    path.write_bytes(data.replace(b"fox", b"fix", 1))  # same size, other CRC
    with pytest.raises(DataError, match=f"CRC-32 {zlib.crc32(data):08x}"):
        corpora.verify("text8", path)


def test_a_pinned_sha256_takes_over_from_the_crc(data_dir, monkeypatch):
    data = b" abc" * 100
    spec = _small_text8(monkeypatch, data)
    monkeypatch.setitem(
        corpora.FILES, "text8", dataclasses.replace(spec, sha256="0" * 64)
    )
    path = data_dir / "text8" / "text8"
    path.parent.mkdir()
    path.write_bytes(data)  # the right CRC, but not the pinned hash
    with pytest.raises(DataError, match="sha256 0000"):
        corpora.verify("text8", path)


# ---------------------------------------------------------------------------
# Downloads: the archive member is verified before it is moved into place
# ---------------------------------------------------------------------------


def _zip(path, data, member="text8"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
    return path


def test_extracted_member_is_verified_then_moved(data_dir, tmp_path, monkeypatch):
    data = b" anarchism originated" * 500
    _small_text8(monkeypatch, data)
    dest = data_dir / "t8"
    sha = corpora.extract_verified(
        "text8", _zip(tmp_path / "a.zip", data), "text8", dest
    )
    assert dest.read_bytes() == data and sha == hashlib.sha256(data).hexdigest()


def test_a_bad_member_leaves_no_file(data_dir, tmp_path, monkeypatch):
    data = b" anarchism originated" * 500
    _small_text8(monkeypatch, data)
    other = data.replace(b"anarchism", b"anarchist", 1)  # same size, wrong CRC
    dest = data_dir / "t8"
    with pytest.raises(DataError, match="member 'text8'.*not a good copy|not a good"):
        corpora.extract_verified(
            "text8", _zip(tmp_path / "b.zip", other), "text8", dest
        )
    assert list(data_dir.iterdir()) == []  # neither the file nor a half file
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        corpora.extract_verified("text8", tmp_path / "c.zip", "text8", dest)
    assert list(data_dir.iterdir()) == []


def test_download_is_trusted_for_its_hash(data_dir, tmp_path, monkeypatch):
    """pooch gets the pinned sha256 of a plain file; the text8 archive (no hash
    pinned) is checked after extraction, and removed either way."""
    import pooch

    calls = []
    data = b" the cat" * 300
    _small_text8(monkeypatch, data)

    def fake_retrieve(url, known_hash, path, fname, **kw):
        calls.append((url, known_hash))
        return str(_zip(tmp_path / fname, data))

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    path = corpora.locate("text8")
    assert path.read_bytes() == data and not (tmp_path / "text8.zip").exists()
    assert calls == [("http://mattmahoney.net/dc/text8.zip", None)]

    calls.clear()
    monkeypatch.setattr(
        pooch, "retrieve", lambda url, known_hash, **kw: calls.append(known_hash)
    )
    with pytest.raises(DataError):  # the fake wrote nothing: refused, not trusted
        corpora.locate("ptb.test")
    assert calls == ["sha256:" + corpora.FILES["ptb.test"].sha256]


# ---------------------------------------------------------------------------
# What an experiment reads: files_for, fingerprint, check_sizes, prepare
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("experiment", ["latching", "bit_relay", "cycles"])
def test_generated_data_needs_no_file(experiment, data_dir):
    cfg = config.resolve(experiment, "smoke")
    assert corpora.files_for(experiment, cfg) == ()
    assert corpora.prepare(experiment, cfg) == {}


def test_foundations_reads_text8(text8):
    cfg = config.resolve("foundations", "smoke")
    assert corpora.files_for("foundations", cfg) == ("text8",)
    assert corpora.prepare("foundations", cfg) == {"text8/text8": PREFIX_SHA}


def test_fingerprint_of_a_missing_file_does_not_download(data_dir, monkeypatch):
    monkeypatch.setattr(corpora, "_fetch", _fail)
    with pytest.raises(DataError, match="RNNMEM_DATA_DIR"):
        corpora.fingerprint(["text8"])


def test_a_config_needing_more_text8_than_there_is_is_refused(text8):
    size = text8.stat().st_size
    cfg = config.resolve("foundations", "smoke", {"lm_chars": size + 1})
    with pytest.raises(DataError) as e:
        corpora.prepare("foundations", cfg)
    msg = str(e.value)
    assert str(text8) in msg and f"{size:,}" in msg and f"{size + 1:,}" in msg
    assert "RNNMEM_DATA_DIR" in msg
    with pytest.raises(DataError, match=f"needs its first {size + 1:,}"):
        corpora.read_text8(size + 1)  # strict by default
    with pytest.warns(UserWarning, match="needs its first"):
        assert len(corpora.read_text8(size + 1, strict=False)) == size
    ok = config.resolve("foundations", "smoke", {"lm_chars": size})
    assert corpora.prepare("foundations", ok) == {"text8/text8": PREFIX_SHA}


def test_files_for_refuses_a_config_of_another_experiment():
    with pytest.raises(TypeError, match="FoundationsConfig"):
        corpora.files_for("foundations", config.resolve("cycles", "smoke"))


# ---------------------------------------------------------------------------
# Readers name the file and the fix
# ---------------------------------------------------------------------------


def test_non_utf8_file_is_named_with_the_fix(data_dir, monkeypatch):
    raw = "caf\u00e9\n".encode("latin-1")  # 0xe9 is not UTF-8 here
    path = data_dir / "ptb" / "ptb.valid.txt"
    path.parent.mkdir()
    path.write_bytes(raw)
    spec = dataclasses.replace(
        corpora.FILES["ptb.valid"],
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
    )
    monkeypatch.setitem(corpora.FILES, "ptb.valid", spec)  # so it passes the hash
    with pytest.raises(DataError) as e:
        corpora.read_text("ptb.valid")
    msg = str(e.value)
    assert str(path) in msg and "utf-8" in msg and "offset 3" in msg
    assert "RNNMEM_DATA_DIR" in msg


def test_text8_with_other_characters_is_named(data_dir, monkeypatch):
    data = b" abc\xe9def"
    _small_text8(monkeypatch, data)
    path = data_dir / "text8" / "text8"
    path.parent.mkdir()
    path.write_bytes(data)
    with pytest.raises(DataError, match=rf"{path} is not ascii text.*offset 4"):
        corpora.read_text8()
    data = b" abcXdef"
    _small_text8(monkeypatch, data)
    path.write_bytes(data)
    with pytest.raises(DataError, match=r"other than a-z and space.*\['X'\]"):
        corpora.read_text8()


# ---------------------------------------------------------------------------
# The memo of verified hashes
# ---------------------------------------------------------------------------


def _count_hashing(monkeypatch):
    n = []
    real = corpora._digests

    def counting(*a, **k):
        n.append(1)
        return real(*a, **k)

    monkeypatch.setattr(corpora, "_digests", counting)
    return n


def test_memo_spares_rehashing_an_unchanged_file(text8, memo, monkeypatch):
    n = _count_hashing(monkeypatch)
    assert corpora.fingerprint(["text8"]) == {"text8/text8": PREFIX_SHA}
    assert corpora.fingerprint(["text8"]) == {"text8/text8": PREFIX_SHA}
    assert len(n) == 1 and memo.exists()
    monkeypatch.setattr(corpora, "_PROCESS_MEMO", {})  # a new process: the file
    corpora.fingerprint(["text8"])
    assert len(n) == 1


def test_memo_is_invalidated_by_a_changed_mtime(text8, monkeypatch):
    n = _count_hashing(monkeypatch)
    corpora.fingerprint(["text8"])
    st = text8.stat()
    os.utime(text8, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    corpora.fingerprint(["text8"])
    assert len(n) == 2


def test_memo_is_invalidated_by_a_changed_size(text8, monkeypatch):
    corpora.fingerprint(["text8"])
    st = text8.stat()
    with open(text8, "ab") as f:
        f.write(b" more")
    os.utime(text8, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime restored
    with pytest.raises(DataError, match="4,503,646 bytes"):
        corpora.fingerprint(["text8"])


def test_memo_sees_a_change_that_restores_the_mtime(text8, monkeypatch):
    corpora.fingerprint(["text8"])
    st = text8.stat()
    _flip(text8, 1000)  # same size; mtime put back as `cp -p` or `touch -r` would
    os.utime(text8, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(DataError, match="not a good copy"):
        corpora.fingerprint(["text8"])


def test_memo_is_invalidated_by_a_changed_pin(text8, monkeypatch):
    corpora.fingerprint(["text8"])
    spec = dataclasses.replace(corpora.FILES["text8"], prefixes=())
    monkeypatch.setitem(corpora.FILES, "text8", spec)
    with pytest.raises(DataError):
        corpora.fingerprint(["text8"])


def test_an_unwritable_memo_falls_back_to_the_process(text8, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(corpora, "memo_path", lambda: blocker / "memo.json")
    n = _count_hashing(monkeypatch)
    corpora.fingerprint(["text8"])
    corpora.fingerprint(["text8"])
    assert len(n) == 1
