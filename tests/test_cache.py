"""The stage cache: atomic writes, incomplete folders discarded, a concurrent finisher wins."""

from w2s_bench.stages import MARKER, Cache


def test_written_once_then_read(tmp_path):
    cache, calls = Cache(tmp_path), []

    def make(tmp):
        calls.append(tmp)
        (tmp / "out.txt").write_text("x")

    a = cache.get_or_make("stage", "k1", make, {"task": "t"})
    b = cache.get_or_make("stage", "k1", make, {"task": "t"})
    assert a == b and len(calls) == 1 and (a / MARKER).exists() and (a / "out.txt").exists()
    assert cache.computed == {"stage": 1}


def test_folder_without_marker_is_recomputed(tmp_path):
    cache = Cache(tmp_path)
    stale = cache.folder("stage", "k2")
    stale.mkdir(parents=True)
    (stale / "out.txt").write_text("half")
    folder = cache.get_or_make("stage", "k2", lambda tmp: (tmp / "out.txt").write_text("full"), {})
    assert (folder / "out.txt").read_text() == "full"


def test_concurrent_finisher_is_kept(tmp_path):
    cache = Cache(tmp_path)

    def make(tmp):  # another process completes the same stage while this one works
        other = cache.folder("stage", "k3")
        other.mkdir(parents=True)
        (other / "out.txt").write_text("theirs")
        (other / MARKER).write_text("ok\n")
        (tmp / "out.txt").write_text("mine")

    folder = cache.get_or_make("stage", "k3", make, {})
    assert (folder / "out.txt").read_text() == "theirs"
    assert not list(folder.parent.glob(".k3.tmp*"))
