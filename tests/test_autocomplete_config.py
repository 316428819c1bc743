"""E5's configuration: presets resolve, bad input is refused, data is declared."""

import pytest

from rnnmem_utils import config
from rnnmem_utils.data import corpora


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_presets_resolve(preset):
    cfg = config.resolve("autocomplete", preset)
    assert cfg.models == ("gru", "lstm", "nlstm")
    assert corpora.files_for("autocomplete", cfg) == ("text8",)
    assert cfg.data_needs() == {"text8": cfg.text8_chars}


def test_paper_preset_is_the_posts_setting():
    cfg = config.resolve("autocomplete", "paper")
    assert (cfg.vocab_size, cfg.max_length, cfg.hidden_size, cfg.embedding_size) == (
        16_384, 200, 600, 600,
    )  # fmt: skip
    assert (cfg.layers, cfg.nlstm_layers, cfg.batch_size, cfg.steps) == (
        2,
        1,
        64,
        14_278,
    )
    assert cfg.softmax == "full" and cfg.seed == 450_849_059
    assert cfg.text8_chars == 100_000_000  # all of text8


def test_bad_cutoffs_and_names_are_refused():
    with pytest.raises(config.ConfigError, match="adaptive_cutoffs"):
        config.resolve("autocomplete", "smoke", {"adaptive_cutoffs": [300, 200]})
    with pytest.raises(config.ConfigError, match="adaptive_cutoffs"):
        config.resolve("autocomplete", "smoke", {"adaptive_cutoffs": [10, 600]})
    with pytest.raises(config.ConfigError, match="options are"):
        config.resolve("autocomplete", "smoke", {"models": ["rnn"]})
    with pytest.raises(config.ConfigError, match="Did you mean 'hidden_size'"):
        config.resolve("autocomplete", "smoke", {"hiden_size": 3})


def test_paper_needs_the_whole_text8_and_says_where_to_put_it(monkeypatch, tmp_path):
    data = tmp_path / "data"
    (data / "text8").mkdir(parents=True)
    src = corpora.data_dir() / "text8" / "text8"
    if not src.exists():
        pytest.skip(f"no text8 at {src}")
    (data / "text8" / "text8").symlink_to(src)
    monkeypatch.setenv("RNNMEM_DATA_DIR", str(data))
    cfg = config.resolve("autocomplete", "paper")
    if src.stat().st_size == corpora.FILES["text8"].size:
        pytest.skip("the whole text8 is here")
    with pytest.raises(corpora.DataError, match="put the whole file"):
        corpora.prepare("autocomplete", cfg)
