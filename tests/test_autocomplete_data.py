"""E5's data set on a hand-made corpus: the vocabulary, the packing into
sequences, the character-to-word targets, the split, and the warning when
only a prefix of text8 is there."""

import dataclasses
import zlib

import numpy as np
import pytest

from rnnmem_utils.data import autocomplete as ac
from rnnmem_utils.data import corpora

# counts: the 4, cat 3, sat 2, on 1, a 1, mat 1
CORPUS = " the cat sat on the mat the cat sat a the cat"


def test_characters_are_the_posts_28_symbols():
    assert ac.N_CHARS == 28 and ac.CHARS[:3] == ("<eos>", " ", "a")
    assert ac.encode_chars(" az").tolist() == [1, 2, 27]
    assert ac.decode_chars([1, 21, 9, 6, 0, 0]) == " the"  # padding dropped
    with pytest.raises(ValueError, match="space and a-z"):
        ac.encode_chars("The")


def test_vocabulary_is_the_most_frequent_words_in_the_posts_shuffled_order():
    words = np.array(CORPUS.strip().split(" "))
    vocab = ac.word_vocabulary(words, 3, seed=ac.SEED)
    assert vocab[:2] == ["<eos>", "<unknown>"]
    assert sorted(vocab[2:]) == ["cat", "sat", "the"]  # the 3 most frequent
    # the order: the ranked top words shuffled by RandomState(seed), by hand
    top = np.array(["the", "cat", "sat"])
    np.random.RandomState(ac.SEED).shuffle(top)
    assert vocab[2:] == top.tolist()
    order = ac.frequency_order(words, vocab)
    assert [vocab[i] for i in order[:3]] == ["the", "cat", "sat"]
    assert set(order[-2:]) == {ac.EOS, ac.UNKNOWN}


def test_packing_keeps_whole_words_up_to_max_length():
    # words of 3, 3, 3, 2 characters take 4, 4, 4, 3 with their spaces
    assert ac.pack(np.array([3, 3, 3, 2]), 8).tolist() == [0, 2, 4]
    assert ac.pack(np.array([3, 3, 3, 2]), 11).tolist() == [0, 2, 4]
    assert ac.pack(np.array([3, 3, 3, 2]), 12).tolist() == [0, 3, 4]
    assert ac.pack(np.array([3, 3, 3, 2]), 15).tolist() == [0, 4]
    with pytest.raises(ValueError, match="does not fit"):
        ac.pack(np.array([3, 9]), 9)


def test_every_character_of_a_word_targets_the_word():
    data = ac.build(CORPUS, 3, max_length=12)
    vocab = data.vocab
    # " the cat" (8) + " sat" would be 12: fits; " on" would overflow
    assert data.text(0) == " the cat sat"
    chars, targets = data.sequence(0)
    words = [vocab[t] for t in targets]
    assert words == ["the"] * 4 + ["cat"] * 4 + ["sat"] * 4
    assert data.text(1) == " on the mat"
    _, targets = data.sequence(1)
    assert [vocab[t] for t in targets] == ["<unknown>"] * 3 + ["the"] * 4 + [
        "<unknown>"
    ] * 4
    # the whole corpus, in order, no character lost
    text = "".join(data.text(s) for s in range(data.n_sequences))
    assert text == CORPUS
    assert ac.chars_seen(chars).tolist() == [0, 1, 2, 3] * 3


def test_batches_are_padded_with_eos():
    data = ac.build(CORPUS, 3, max_length=12)
    source, target, lengths = data.batch([1, 0])
    assert lengths.tolist() == [11, 12] and source.shape == (2, 12)
    assert source[0, 11] == ac.EOS and target[0, 11] == ac.EOS
    assert ac.decode_chars(source[0]) == " on the mat"


def test_encode_text_matches_the_builder():
    data = ac.build(CORPUS, 3, max_length=200)
    chars, targets = ac.encode_text(CORPUS, data.vocab)
    want_chars, want_targets = data.sequence(0)
    assert chars.tolist() == want_chars.tolist()
    assert targets.tolist() == want_targets.tolist()


def test_split_is_the_posts_permutation_with_floored_shares():
    parts = ac.split(101, seed=ac.SEED)
    assert [len(parts[k]) for k in ac.SPLITS] == [90, 5, 6]
    perm = np.random.RandomState(ac.SEED).permutation(101)
    assert np.concatenate([parts[k] for k in ac.SPLITS]).tolist() == perm.tolist()


def _whole_text8(monkeypatch, data_dir, text: str):
    """Pretend ``text`` is all of text8 (its size and CRC-32 as the pins)."""
    raw = text.encode()
    spec = dataclasses.replace(
        corpora.FILES["text8"], size=len(raw), crc32=zlib.crc32(raw)
    )
    monkeypatch.setitem(corpora.FILES, "text8", spec)
    (data_dir / "text8").mkdir()
    (data_dir / "text8" / "text8").write_bytes(raw)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(root))
    return root


def test_a_prefix_of_text8_warns_and_ends_on_a_whole_word(data_dir, monkeypatch):
    _whole_text8(monkeypatch, data_dir, CORPUS * 3)
    with pytest.warns(ac.PartialText8Warning, match="differ from the post's"):
        text = ac.load_text8(30)  # " the cat sat on the mat the ca" -> cut at "the"
    assert text == " the cat sat on the mat the"


def test_the_whole_text8_is_read_without_a_warning(data_dir, monkeypatch, recwarn):
    _whole_text8(monkeypatch, data_dir, CORPUS)
    assert ac.load_text8(10**8) == CORPUS
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_asking_more_than_a_prefix_holds_is_refused(data_dir, monkeypatch):
    raw = CORPUS.encode()
    _whole_text8(monkeypatch, data_dir, CORPUS)
    # the file is now a known prefix of a longer whole
    spec = dataclasses.replace(
        corpora.FILES["text8"],
        size=10**6,
        crc32=0,
        prefixes=((len(raw), corpora.sha256sum(data_dir / "text8" / "text8")),),
    )
    monkeypatch.setitem(corpora.FILES, "text8", spec)
    with pytest.raises(corpora.DataError, match="needs its first"):
        ac.load_text8(10**6)
