"""Nothing a method writes is followed (issue "Integrity, round two", 1): a predictor's
save(folder) runs in the sealed process and writes into a temporary stage folder, into which the
orchestrator then writes `meta.json` and `COMPLETE` before renaming it into the cache. A link
planted there (or a fifo, a device, a socket, or a file under the harness's names) is refused
with an error naming it, before anything is written or the folder is cached; what it points to
stays untouched. First with a fake `make`, then end to end with a method whose predictor plants
links with native code (ctypes; the audit hook refuses `os.symlink` to outside the folder, native
code gets past it)."""

import os
import re
import socket
import sys
import textwrap

import pytest

from w2s_bench import isolate
from w2s_bench.stages import MARKER, Cache, MethodError, run_cell

BWRAP = pytest.mark.skipif(isolate._bwrap_runs() is not None, reason=str(isolate._bwrap_runs()))


@pytest.fixture
def outside(tmp_path):
    """A folder outside the cache holding a file a planted link points to."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text("original\n")
    return folder


def _untouched(outside):
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "original\n"


def _nothing_cached(cache, stage="stage"):
    assert not (cache.root / stage).exists() or list((cache.root / stage).iterdir()) == []


@pytest.mark.parametrize("name", ["meta.json", MARKER, "weights.safetensors"])
def test_a_planted_symlink_is_refused_and_never_followed(tmp_path, outside, name):
    cache = Cache(tmp_path / "cache")

    def make(tmp):
        (tmp / "ok.bin").write_bytes(b"x")
        os.symlink(outside / "victim.txt", tmp / name)

    with pytest.raises(MethodError) as e:
        cache.get_or_make("student", "k", make, {"task": "t"})
    final = cache.folder("student", "k")
    assert str(e.value).startswith(
        f"stage student left {final / name} in its stage folder, a "
        f"symbolic link to {outside / 'victim.txt'}; a stage folder may "
        f"hold only regular files and folders"
    )
    _untouched(outside)
    _nothing_cached(cache, "student")


def test_a_dangling_link_creates_nothing_and_a_linked_folder_is_not_entered(tmp_path, outside):
    cache = Cache(tmp_path / "cache")

    def make(tmp):
        (tmp / "sub").mkdir()
        os.symlink(outside, tmp / "sub" / "dir")  # a link to a folder: listed, never walked into
        os.symlink(outside / "new.txt", tmp / "meta.json")  # open(O_CREAT) would create it

    with pytest.raises(MethodError, match=r"a symbolic link to .*outside"):
        cache.get_or_make("stage", "k", make, {})
    _untouched(outside)
    _nothing_cached(cache)


def test_special_files_and_the_harness_names_are_refused(tmp_path):
    cache = Cache(tmp_path / "cache")
    cases = {
        "fifo": (lambda tmp: os.mkfifo(tmp / "pipe"), "a fifo"),
        "socket": (lambda tmp: socket.socket(socket.AF_UNIX).bind(str(tmp / "s")), "a socket"),
        "meta": (lambda tmp: (tmp / "meta.json").write_text("{}"), "a name the harness writes"),
        "marker": (lambda tmp: (tmp / MARKER).write_text("ok\n"), "a name the harness writes"),
    }
    for key, (make, what) in cases.items():
        with pytest.raises(MethodError, match=re.escape(what)):
            cache.get_or_make("stage", key, make, {})
    _nothing_cached(cache)


def test_a_replaced_stage_folder_is_refused(tmp_path, outside):
    cache = Cache(tmp_path / "cache")

    def make(tmp):  # what a method could do where only the audit hook seals it
        os.rename(tmp, tmp.with_name("elsewhere"))
        os.symlink(outside, tmp)

    with pytest.raises(MethodError, match="moved or replaced its stage folder"):
        cache.get_or_make("stage", "k", make, {})
    _untouched(outside)
    assert not cache.folder("stage", "k").exists()


def test_regular_files_and_folders_still_cache(tmp_path):
    cache = Cache(tmp_path / "cache")

    def make(tmp):
        (tmp / "sub").mkdir()
        (tmp / "sub" / "w.bin").write_bytes(b"x")

    folder = cache.get_or_make("stage", "k", make, {"task": "t"})
    assert (folder / MARKER).read_text() == "ok\n" and '"task": "t"' in (folder / "meta.json").read_text()
    assert (folder / "sub" / "w.bin").read_bytes() == b"x" and cache.computed == {"stage": 1}


# ---- end to end: a method's predictor plants links from its sealed process ----------------------

PLANTER = '''
import ctypes
import os

from w2s_bench.api import Method


class Planted:
    """A predictor whose save(folder) plants symbolic links with native code."""

    def __init__(self, links):
        self.links = links

    def predict(self, texts, desc=None):
        return [0.5] * len(texts)

    def save(self, folder):
        for name, target in self.links.items():
            if ctypes.pythonapi.symlink(os.fsencode(target), os.fsencode(os.path.join(folder, name))):
                raise OSError("symlink failed")

    @classmethod
    def load(cls, folder, rung):
        return cls({})


class Planter(Method):
    name = "planter"

    class Config(Method.Config):
        links: dict[str, str] = {}

    def train_student(self, weak_labels):
        return Planted(dict(self.config.links))
'''


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    from w2s_bench.registry import load_ladder
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    task = load_task("rotten_tomatoes")
    cache = Cache(tmp_path_factory.mktemp("fs") / "cache")  # weak model and ceiling trained once
    # frozen rungs (the default suite's kind): the weak model and ceiling are heads, trained in seconds
    return cache, task, limit_splits(load_splits(task), 24), load_ladder("pocket_frozen")


# the host's isolation (CI's: bubblewrap) by default, and each isolation with -m slow
@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(None, id="default"),
        pytest.param(isolate.AUDIT_HOOK, marks=pytest.mark.slow),
        pytest.param(isolate.BUBBLEWRAP, marks=[BWRAP, pytest.mark.slow]),
    ],
)
def test_a_method_planting_links_is_refused_end_to_end(cell, tmp_path, outside, monkeypatch, mode):
    from w2s_bench.registry import method_ref

    if mode:
        monkeypatch.setenv("W2S_BENCH_ISOLATION", mode)
    (tmp_path / "planter_method.py").write_text(textwrap.dedent(PLANTER))
    monkeypatch.syspath_prepend(str(tmp_path))
    cache, task, splits, ladder = cell
    links = {"meta.json": str(outside / "victim.txt"), MARKER: str(outside / "new.txt")}
    ref = method_ref("planter", path="planter_method:Planter", config={"links": links})
    with pytest.raises(
        MethodError,
        match=r"^method 'planter' left .*/student/[0-9a-f]+/(meta\.json|COMPLETE) "
        r"in its stage folder, a symbolic link to .*outside",
    ):
        run_cell(cache, task, splits, ladder, ladder.rung("mini1"), ladder.rung("mini3"), 0, ref, features=False)
    _untouched(outside)
    _nothing_cached(cache, "student")
    assert "planter_method" not in sys.modules  # its code ran in the sealed process only
