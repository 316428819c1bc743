"""WikiText-2 for E4's wiki2_* models: the loader on tiny files in its format,
its own vocabulary, verification by git blob id, the clear errors, and one
WikiText-2 model trained and scored by the zoo's loop."""

import numpy as np
import pytest

from rnnmem_utils import config
from rnnmem_utils.data import wikitext
from rnnmem_utils.data.corpora import DataError
from rnnmem_utils.experiments.ptb_memory import units, zoo

TRAIN = " \n = Valkyria = \n \n the cat sat on the mat . \n the <unk> sat . \n"
VALID = " \n the cat sat . \n"
TEST = " \n = Mat = \n the mat <unk> . \n"


@pytest.fixture
def wiki_dir(tmp_path, monkeypatch):
    root = tmp_path / "wikitext-2"
    root.mkdir()
    blobs = {}
    for split, text in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        (root / f"wiki.{split}.tokens").write_text(text, encoding="utf-8")
        blobs[split] = wikitext.git_blob_sha1(text.encode())
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(wikitext, "BLOBS", blobs)
    wikitext_cache_clear()
    yield tmp_path
    wikitext_cache_clear()


def wikitext_cache_clear():
    zoo._wikitext.cache_clear()


def test_every_line_ends_with_eos_and_the_vocabulary_is_the_train_splits(wiki_dir):
    corpus = wikitext.load()
    v = corpus.vocab
    # 5 train lines (two blank ones): 0 + 3 + 0 + 7 + 4 words, 5 <eos>
    assert len(corpus.train) == 14 + 5
    assert v.words[0] == "<eos>" and v.counts[0] == 5  # most frequent first
    assert v.counts[v.index["the"]] == 3 and "Mat" not in v.index
    words = [v.words[i] for i in corpus.valid]
    assert words == ["<eos>", "the", "cat", "sat", ".", "<eos>"]
    # a test word outside the training vocabulary becomes <unk>
    test = [v.words[i] for i in corpus.test]
    assert test[:5] == ["<eos>", "=", "<unk>", "=", "<eos>"]
    assert len(wikitext.load(train_tokens=4).train) == 4


def test_blob_id_is_gits():
    # `printf 'hello\n' | git hash-object --stdin`
    assert (
        wikitext.git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    )


def test_the_mirrors_valid_and_test_splits_verify():
    try:
        for split in ("valid", "test"):
            assert wikitext.read(split)  # raises on a different file
    except DataError as e:
        if "not found" in str(e):
            pytest.skip("WikiText-2 valid/test not in the data directory")
        raise


def test_missing_or_wrong_file_says_where_and_how(wiki_dir):
    (wiki_dir / "wikitext-2" / "wiki.train.tokens").write_text("other text\n")
    with pytest.raises(DataError, match="not the WikiText-2 train split"):
        wikitext.read("train")
    (wiki_dir / "wikitext-2" / "wiki.train.tokens").unlink()
    with pytest.raises(DataError, match=r"wiki\.train\.tokens.*\n.*download https"):
        wikitext.read("train")
    cfg = config.resolve("ptb_memory", "paper")
    with pytest.raises(DataError, match="leave those variants"):
        zoo.check_available(cfg)


def test_a_wikitext_model_trains_and_scores_with_its_own_vocabulary(wiki_dir, tmp_path):
    cfg = config.resolve("ptb_memory", "smoke", {"variants": ["lstm256", "wiki2_256"]})
    big = TRAIN * 300  # 20 streams of more than one 200-step window
    (wiki_dir / "wikitext-2" / "wiki.train.tokens").write_text(big, encoding="utf-8")
    wikitext.BLOBS["train"] = wikitext.git_blob_sha1(big.encode())
    zoo.check_available(cfg)  # the files are there and verify
    ptb_like = None  # the WikiText corpus does not read PTB
    corpus = zoo.load_corpus("wiki2_256", ptb_like, 0)
    m, record, key = zoo.trained(cfg, "wiki2_256", corpus, tmp_path / "out", False)
    assert m.decoder.out_features == len(corpus.vocab) == len(wikitext.load().vocab)
    assert key and np.isfinite(record["ppl"]["test"])
    assert [r["epoch"] for r in record["log"]] == [1]
    assert ("model", "wiki2_256") in units.plan(cfg)
