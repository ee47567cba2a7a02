"""Warm sealed workers (w2s_bench/zygote.py): a job forked from the zygote runs like one in a fresh
sandboxed interpreter, and nothing an earlier job left behind (files, processes, memory, module
globals, environment) is reachable from the next one. Each probe is first shown to find what it
looks for inside the job that left it, so that none passes vacuously."""

import importlib
import json
import types
from pathlib import Path

import pytest

from w2s_bench import isolate, registry

BWRAP = pytest.mark.skipif(isolate._bwrap_runs() is not None, reason=str(isolate._bwrap_runs()))

LEAVER = '''
import builtins, json, os, sys
from pathlib import Path

import w2s_bench.api
from w2s_bench.api import Method

LEFT = []  # a module global: a later job must see it empty


def _try(what, fn):
    try:
        fn()
        return True
    except OSError:
        return False


def leave():
    """Marks wherever a job might write, then what of them this job itself finds again."""
    # outside the job folder the audit hook refuses a write from Python; os.mkfifo raises no
    # audit event, so it stands for native code here: only the namespaces can stop it
    wrote = {
        "tmp": _try("tmp", lambda: os.mkfifo("/tmp/w2s-left")),
        "tmpdir": _try("tmpdir", lambda: Path(os.environ["TMPDIR"], "w2s-left").write_text("x")),
        "home": _try("home", lambda: Path(os.environ["HOME"], "w2s-left").write_text("x")),
        "shm": _try("shm", lambda: os.mkfifo("/dev/shm/w2s-left")),
        "root": _try("root", lambda: os.mkfifo("/w2s-left")),
        "dev": _try("dev", lambda: os.mkfifo("/dev/w2s-left")),
    }
    LEFT.append(1)
    builtins.W2S_LEFT = 1
    w2s_bench.api.W2S_LEFT = 1
    os.environ["W2S_LEFT"] = "1"
    return wrote


def look():
    status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
    return {
        "files": {k: os.path.exists(p) for k, p in {
            "tmp": "/tmp/w2s-left", "tmpdir": os.path.join(os.environ["TMPDIR"], "w2s-left"),
            "home": os.path.join(os.environ["HOME"], "w2s-left"), "shm": "/dev/shm/w2s-left",
            "root": "/w2s-left", "dev": "/dev/w2s-left"}.items()},
        "module_global": bool(LEFT), "builtins": hasattr(builtins, "W2S_LEFT"),
        "harness_module": hasattr(w2s_bench.api, "W2S_LEFT"), "environ": "W2S_LEFT" in os.environ,
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "spool": sorted(os.listdir("/w2s/spool")) if os.path.isdir("/w2s/spool") else None,
        "cwd": os.getcwd(), "pwd": os.environ.get("PWD"),
        "caps": {k: int(status[k].strip(), 16) for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": status["NoNewPrivs"].strip(),
    }


class Saved:
    def predict(self, texts, desc=""):
        return [0.5] * len(texts)

    def save(self, folder):
        Path(folder, "seen.json").write_text(json.dumps(self.seen))

    @classmethod
    def load(cls, folder, rung):
        return cls()


class Leaver(Method):
    name = "leaver"

    class Config(Method.Config):
        leave: bool = True

    def train_student(self, weak_labels):
        saved = Saved()
        if self.config.leave:
            wrote = leave()
            saved.seen = {"wrote": wrote, "own": look()}
        else:
            saved.seen = {"later": look()}
        return saved
'''


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_described", {})
    (tmp_path / "leaver_method.py").write_text(LEAVER)
    importlib.invalidate_caches()
    return tmp_path


def _train(where: Path, name: str, leave: bool, hidden) -> dict:
    folder = where / name
    folder.mkdir()
    isolate.run_sealed(
        {
            "kind": "train",
            "path": "leaver_method:Leaver",
            "config": {"leave": leave},
            "ctx": types.SimpleNamespace(strong=None),
            "weak_labels": None,
            "folder": str(folder),
        },
        hidden=hidden,
        writable=[folder],
    )
    return json.loads((folder / "seen.json").read_text())


@BWRAP
def test_a_job_finds_nothing_an_earlier_job_of_its_warm_worker_left(where, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    monkeypatch.setenv("W2S_BENCH_ZYGOTE", "1")
    hidden = [tmp_path_factory.mktemp("gold")]
    first = _train(where, "first", True, hidden)
    workers = {k: w.proc.pid for k, w in isolate._WORKERS.zygotes.items()}
    later = _train(where, "later", False, hidden)["later"]
    assert {k: w.proc.pid for k, w in isolate._WORKERS.zygotes.items()} == workers  # the same worker
    wrote, own = first["wrote"], first["own"]
    # the probes work: inside the job that left them, every mark it could write is found again
    assert wrote["tmp"] and wrote["tmpdir"] and wrote["home"] and wrote["shm"]
    assert not wrote["root"] and not wrote["dev"]  # "/" and /dev are read-only for a job
    assert all(own["files"][k] for k, ok in wrote.items() if ok)
    assert own["module_global"] and own["builtins"] and own["harness_module"] and own["environ"]
    # ... and in the next job of the same worker none of it exists
    assert not any(later["files"].values()), later["files"]
    assert not (later["module_global"] or later["builtins"] or later["harness_module"] or later["environ"])
    for seen in (own, later):  # its own pid namespace (it is pid 1), no other job's folders, no capability
        assert seen["processes"] == [1], seen["processes"]
        assert seen["spool"] == [], seen["spool"]
        assert seen["cwd"] == seen["pwd"] == str(isolate.MOUNTS["job"])
        assert seen["caps"] == {"CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0} and seen["no_new_privs"] == "1"


@BWRAP
def test_warm_and_cold_jobs_see_the_same_sandbox(where, monkeypatch, tmp_path_factory):
    """What a method can observe of its process does not tell a warm worker from a fresh
    interpreter, but for the worker's pid namespace (pid 1) and the spool's empty mount point."""
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    hidden = [tmp_path_factory.mktemp("gold")]
    seen = {}
    for warm in ("1", "0"):
        monkeypatch.setenv("W2S_BENCH_ZYGOTE", warm)
        seen[warm] = _train(where, f"job{warm}", False, hidden)["later"]
    warm, cold = seen["1"], seen["0"]
    assert warm["files"] == cold["files"] and warm["cwd"] == cold["cwd"] and warm["pwd"] == cold["pwd"]
    assert warm["caps"] == cold["caps"] == {"CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}
    assert cold["spool"] is None and warm["spool"] == []


@BWRAP
def test_where_a_warm_worker_cannot_start_the_job_runs_in_a_fresh_interpreter(
    where, monkeypatch, capfd, tmp_path_factory
):
    """A host whose bubblewrap refuses the zygote's capabilities (a setuid bwrap does) still runs
    every job, sealed as before, and says once why it is not warm."""
    from w2s_bench import zygote

    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    monkeypatch.setenv("W2S_BENCH_ZYGOTE", "1")
    monkeypatch.setattr(isolate, "_WORKERS", isolate._Workers())
    monkeypatch.setattr(zygote, "CAPS", ("CAP_NO_SUCH_THING",))
    hidden = [tmp_path_factory.mktemp("gold")]
    seen = _train(where, "job", False, hidden)["later"]
    assert seen["spool"] is None and seen["caps"]["CapEff"] == 0  # a fresh sandboxed interpreter
    assert _train(where, "job2", False, hidden)["later"]["spool"] is None
    err = capfd.readouterr().err
    assert err.count("warm sealed workers cannot run here") == 1, err
    assert not isolate._WORKERS.zygotes
