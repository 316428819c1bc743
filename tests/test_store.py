"""The store: units keyed by what they read, verified on load, resumable."""

import json
import shutil
import sys
import textwrap
from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from rnnmem_utils import store


@dataclass(frozen=True)
class Cfg:
    hidden_size: int = 8
    lr: float = 0.1
    title: str = "prose"


@pytest.fixture
def st(tmp_path):
    return store.Store(tmp_path / "store", user=tmp_path / "run")


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A throwaway module whose source a key depends on."""
    path = tmp_path / "mods" / "fake_model_code.py"
    path.parent.mkdir()
    path.write_text("W = 1\n")
    monkeypatch.syspath_prepend(str(path.parent))
    yield path
    sys.modules.pop("fake_model_code", None)


def counter():
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3.0), "epochs": 2}

    return calls, compute


def test_key_depends_on_the_fields_read_data_and_code_only(st, module):
    key = st.key("m", Cfg(), ["hidden_size"], code=["fake_model_code"])
    assert st.key("m", Cfg(lr=9.0, title="x"), ["hidden_size"],
                  code=["fake_model_code"]) == key  # fmt: skip
    assert st.key("m", Cfg(hidden_size=9), ["hidden_size"],
                  code=["fake_model_code"]).digest != key.digest  # fmt: skip
    assert st.key("m", Cfg(), ["hidden_size"], data={"f": "abc"},
                  code=["fake_model_code"]).digest != key.digest  # fmt: skip
    module.write_text("W = 2  # the model's math changed\n")
    assert st.key("m", Cfg(), ["hidden_size"],
                  code=["fake_model_code"]).digest != key.digest  # fmt: skip
    assert st.key("m", Cfg(), ["hidden_size"], code=["fake_model_code"],
                  version=2).digest != key.digest  # fmt: skip
    with pytest.raises(store.StoreError, match="no field 'nope'"):
        st.key("m", Cfg(), ["nope"])
    with pytest.raises(store.StoreError, match="no module"):
        st.key("m", Cfg(), [], code=["no_such_module_here"])


def test_stage_computes_once_and_records_its_users(st, tmp_path):
    calls, compute = counter()
    key = st.key("m", Cfg(), ["hidden_size"])
    first = st.stage(key, compute)
    again = st.stage(key, compute)
    assert len(calls) == 1
    assert torch.equal(first["w"], again["w"]) and again["epochs"] == 2
    assert (tmp_path / "run" / "units.json").exists()
    meta = st.entries()[0]
    assert meta["fields"] == {"hidden_size": 8} and meta["kind"] == "torch"


@pytest.mark.parametrize("damage", ["flip", "truncate", "meta"])
def test_a_damaged_entry_is_refused_and_recomputed(st, damage):
    calls, compute = counter()
    key = st.key("m", Cfg(), ["hidden_size"])
    st.stage(key, compute)
    payload = st.path(key) / "value.pt"
    blob = payload.read_bytes()
    if damage == "flip":
        payload.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    elif damage == "truncate":
        payload.write_bytes(blob[: len(blob) // 2])
    else:
        (st.path(key) / store.META).write_text('{"kind": "tor')
    with pytest.warns(UserWarning, match="unreadable"):
        value = st.stage(key, compute)
    assert len(calls) == 2 and torch.equal(value["w"], torch.arange(3.0))


def test_payloads_load_without_pickled_code(st):
    class Sneaky:
        pass

    key = st.key("m", Cfg(), [])
    with pytest.raises(Exception):  # noqa: B017 -- torch refuses it at save or load
        st.stage(key, lambda: {"w": torch.zeros(1), "obj": Sneaky()})
        st.load(key)  # pragma: no cover
    assert not st.has(key)


def test_frames_and_json_round_trip(st):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    k1, k2 = st.key("t", Cfg(), []), st.key("j", Cfg(), [])
    st.stage(k1, lambda: df)
    st.stage(k2, lambda: {"x": [1, 2]})
    pd.testing.assert_frame_equal(st.stage(k1, lambda: None), df)
    assert st.stage(k2, lambda: None) == {"x": [1, 2]}


def test_checkpoint_round_trip_and_removed_when_complete(st):
    key = st.key("m", Cfg(), [])
    assert st.load_checkpoint(key) is None
    state = {"model": {"w": torch.ones(2)}, "epoch": 3, "log": [{"loss": 0.5}]}
    st.save_checkpoint(key, state)
    back = st.load_checkpoint(key)
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], torch.ones(2))
    st.stage(key, lambda: {"w": torch.ones(2)})
    assert st.load_checkpoint(key) is None, "a complete unit needs no checkpoint"


def test_prune_keeps_used_entries_of_current_code(st, module):
    used = st.key("m", Cfg(), [], code=["fake_model_code"])
    unused = st.key("m", Cfg(hidden_size=2), ["hidden_size"], code=["fake_model_code"])
    for k in (used, unused):
        st.stage(k, lambda: {"x": 1})
    assert [m["key"] for m in st.prune({used.digest}, dry_run=True)] == [unused.digest]
    assert st.has(unused)
    st.prune({used.digest})
    assert st.has(used) and not st.has(unused)
    module.write_text(textwrap.dedent("W = 3\n"))
    st.prune({used.digest})
    assert not st.has(used), "made by code that no longer exists"


def test_cached_keys_on_all_fields_by_default(tmp_path):
    root = tmp_path / "s"
    calls = []

    def compute():
        calls.append(1)
        return {"v": 1}

    for cfg in (Cfg(), Cfg(), Cfg(lr=0.2)):
        store.cached(tmp_path / "out", "u", cfg, compute, root=root)
    assert len(calls) == 2
    store.cached(tmp_path / "out", "u", Cfg(lr=0.3), compute, fields=(), root=root)
    assert len(calls) == 3  # a new key (no fields), computed once
    store.cached(tmp_path / "out", "u", Cfg(lr=0.4), compute, fields=(), root=root)
    assert len(calls) == 3


def test_code_version_of_a_package_covers_its_submodules(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg_cv"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "work.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = store.code_version(["pkg_cv.*"])
    own = store.code_version(["pkg_cv"])
    (pkg / "sub" / "work.py").write_text("X = 2\n")
    assert store.code_version(["pkg_cv.*"]) != before
    assert store.code_version(["pkg_cv"]) == own, "the package's __init__ alone"
    with pytest.raises(store.StoreError, match="not a package"):
        store.code_version(["pkg_cv.sub.work.*"])


def test_unfinished_units_are_listed_with_their_progress(st, module):
    key = st.key("m", Cfg(), [], code=["fake_model_code"])
    seen = {}

    def compute():  # inside the unit: begun, locked, a checkpoint saved
        st.save_checkpoint(key, {"model": {"w": torch.ones(2)}, "epoch": 3, "batch": 7})
        seen["during"] = st.unfinished()
        raise KeyboardInterrupt  # the run is stopped here

    with pytest.raises(KeyboardInterrupt):
        st.stage(key, compute)
    (during,) = seen["during"]
    assert during["running"] and during["name"] == "m" and during["key"] == key.digest
    assert during["progress"] == {"epoch": 3, "batch": 7}
    (after,) = st.unfinished()
    assert not after["running"] and after["checkpoint"] and after["code_current"]
    assert after["fields"] == {} and after["code"] == key.code, "key.json describes it"
    st.stage(key, lambda: {"x": 1})
    assert st.unfinished() == [], "complete: neither key.json nor checkpoint is left"


def test_prune_keeps_resumable_and_running_units(st, module):
    resumable = st.key("m", Cfg(), [], code=["fake_model_code"])
    empty = st.key("e", Cfg(), [], code=["fake_model_code"])
    running = st.key("r", Cfg(), [], code=["fake_model_code"])

    def stopped(key, saves):
        def compute():
            if saves:
                st.save_checkpoint(key, {"step": 5})
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            st.stage(key, compute)

    stopped(resumable, True)
    stopped(empty, False)  # begun, nothing saved: nothing to resume
    stopped(running, False)
    with st._lock(running):  # another process computes it now
        removed = st.prune(set())
    assert [(m["name"], m["unfinished"]) for m in removed] == [("e", True)]
    assert {m["name"] for m in st.unfinished()} == {"m", "r"}
    module.write_text("W = 4\n")  # the code changed: the checkpoint cannot resume
    assert {m["name"] for m in st.prune(set())} == {"m", "r"}
    assert st.unfinished() == []


def test_progress_counts_out_of_the_totals_the_key_holds():
    unit = {"fields": {"epochs": 39, "lr": 1.0}, "progress": {"epoch": 8, "batch": 50}}
    assert store.progress_text(unit) == "epoch 8/39, batch 50"
    assert store.progress_text({"progress": {"step": 300}}) == "step 300"
    assert store.progress_text({"fields": {"steps": 1200}, "progress": {}}) == ""


def test_code_of_drops_comments_and_docstrings_only(tmp_path):
    a, b, c, d = (tmp_path / f"{n}.py" for n in "abcd")
    a.write_text('"""Module."""\n\nclass K:\n    """Class."""\n\n'
                 '    def f(self):\n        """Only a docstring."""\n\n'
                 'def g(x):\n    # why\n    return x + 1  # how\n')  # fmt: skip
    b.write_text("class K:\n    def f(self):\n        pass\n\ndef g(x):\n"
                 "    return x + 1\n")  # fmt: skip
    c.write_text(b.read_text().replace("x + 1", "x + 2"))
    d.write_text("x = 'kept'\n")  # a string that is not a docstring stays
    assert store.code_of(a) == store.code_of(b)
    assert store.code_of(b) != store.code_of(c)
    assert "kept" in store.code_of(d)


def test_code_text_ignores_prose_and_keys_read_the_same(st, module):
    key = st.key("m", Cfg(), [], code=["fake_model_code"])
    text = store.code_text(["fake_model_code"])
    assert text.startswith(f"py{sys.version_info.major}.{sys.version_info.minor}:")
    assert key.describe()["code_text"] == text
    module.write_text('"""A docstring."""\n\nW = (1)  # a comment\n')
    assert store.code_text(["fake_model_code"]) == text
    assert st.key("m", Cfg(), [], code=["fake_model_code"]).digest != key.digest
    module.write_text("W = 2\n")
    assert store.code_text(["fake_model_code"]) != text


def test_a_prose_edit_takes_over_the_unit_and_what_is_keyed_on_it(st, module):
    """A docstring fixed in a model's module: neither the model nor its
    analysis (keyed on the model's key) is computed again; a real edit is."""
    calls, compute = counter()

    def unit(name, extra=None):
        key = st.key(
            name, Cfg(), ["hidden_size"], extra=extra, code=["fake_model_code"]
        )
        return key, st.stage(key, lambda: (calls.append(name), {"v": len(calls)})[1])

    model, _ = unit("model")
    first_analysis, got = unit("analysis", {"model": model.digest})
    st.prune({model.digest, first_analysis.digest})  # a published run's record
    module.write_text('"""The model, now documented."""\n\nW = 1  # why\n')
    edited, again = unit("model")
    assert edited.digest != model.digest and calls == ["model", "analysis"]
    assert st.has(edited) and not st.path(model).exists(), "moved, not copied"
    assert st.load(edited)["v"] == 1
    assert io_meta(st, edited)["was"] == [model.digest]
    _, got_again = unit("analysis", {"model": edited.digest})
    assert got_again == got and calls == ["model", "analysis"]
    assert st.prune({model.digest, first_analysis.digest}) == [], (
        "the published run's record names the former keys: still reached"
    )
    module.write_text("W = 1\n")  # another checkout, without the docstring
    back, _ = unit("model")
    assert back == model and io_meta(st, model)["was"] == [edited.digest]
    module.write_text("W = 2\n")  # the model's math changed
    unit("model")
    assert calls == ["model", "analysis", "model"]


def test_a_prose_edit_resumes_an_unfinished_unit_from_its_checkpoint(st, module):
    key = st.key("m", Cfg(), [], code=["fake_model_code"])

    def stopped():
        st.save_checkpoint(key, {"model": {"w": torch.ones(2)}, "epoch": 3})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st.stage(key, stopped)
    module.write_text("W = 1  # a comment added between two sittings\n")
    new = st.key("m", Cfg(), [], code=["fake_model_code"])
    (part,) = st.unfinished()
    assert part["code_current"], "resumable: pruning keeps it"
    resumed = {}

    def resume():
        resumed.update(st.load_checkpoint(new))
        return {"w": resumed["model"]["w"] * 2}

    assert torch.equal(st.stage(new, resume)["w"], 2 * torch.ones(2))
    assert resumed["epoch"] == 3 and st.unfinished() == []


def test_units_made_before_the_code_text_learn_it_when_used(st, module):
    def key(size):
        return st.key("m", Cfg(hidden_size=size), ["hidden_size"],
                      code=["fake_model_code"])  # fmt: skip

    for size in (1, 2):
        st.stage(key(size), lambda size=size: {"x": size})
        meta = io_meta(st, key(size))
        del meta["code_text"]  # as an older rnnmem wrote it
        (st.path(key(size)) / store.META).write_text(json.dumps(meta))
    st.stage(key(2), lambda: {"x": 0})  # used as it is: learns its code text
    assert "code_text" in io_meta(st, key(2))
    module.write_text("W = 1  # edited\n")
    calls = []
    assert st.stage(key(2), lambda: calls.append(2) or {"x": 0}) == {"x": 2}
    st.stage(key(1), lambda: calls.append(1) or {"x": 0})
    assert calls == [1], "its code text unknown, the edit cannot be told prose"


def io_meta(st, key):
    return json.loads((st.path(key) / store.META).read_text())


def test_a_store_copied_to_another_machine_is_used_as_it_is(st, module, tmp_path):
    """Keys hold no path: a store copied elsewhere (rsync to a cluster, a
    lent GPU machine) gives its finished units and resumes its unfinished."""
    done = st.key("m", Cfg(), [], code=["fake_model_code"])
    part = st.key("p", Cfg(), [], code=["fake_model_code"])
    st.stage(done, lambda: {"w": torch.ones(2)})

    def stopped():
        st.save_checkpoint(part, {"step": 7})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        st.stage(part, stopped)
    shutil.copytree(st.root, tmp_path / "elsewhere" / "store")
    there = store.Store(tmp_path / "elsewhere" / "store", user=tmp_path / "run2")
    calls = []
    got = there.stage(done, lambda: calls.append(1) or {"w": torch.zeros(2)})
    assert torch.equal(got["w"], torch.ones(2)) and calls == []
    key_there = there.key("p", Cfg(), [], code=["fake_model_code"])
    assert key_there == part, "the same key on the other machine"
    assert there.stage(part, lambda: there.load_checkpoint(part)) == {"step": 7}
