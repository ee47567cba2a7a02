"""One sealing for all method processes: describe, train and predict get the same whitelisted
environment, no import path naming the checkout, and the same gold paths hidden (describe
included: importing a method's module may not read task data either)."""

import importlib
import json
import types
from pathlib import Path

import pytest

import w2s_bench
import w2s_bench.tasks
from w2s_bench import isolate, registry
from w2s_bench.specs import SpecError

BWRAP = pytest.mark.skipif(isolate._bwrap_runs() is not None, reason=str(isolate._bwrap_runs()))
CHECKOUT = Path(w2s_bench.__file__).resolve().parent.parent
TASKS = Path(w2s_bench.tasks.__file__).parent
# what a method's process may see of the environment, and nothing else
WHITELIST = {
    "PATH",
    "HOME",
    "TMPDIR",
    "W2S_BENCH_HOME",
    "W2S_BENCH_SEALED",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "TOKENIZERS_PARALLELISM",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "LD_LIBRARY_PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "W2S_BENCH_DEVICE",
    "W2S_BENCH_GRADIENT_CHECKPOINTING",
}
# set inside the child, not passed: by torch and Intel OpenMP at import (the harness preloads
# them), and PWD by bubblewrap's --chdir (the job folder)
SET_INSIDE = {"KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK", "TORCHINDUCTOR_CACHE_DIR", "PWD"}

ENV_METHOD = """
import json, os
from pathlib import Path

from w2s_bench.api import Method

AT_IMPORT = json.dumps(dict(os.environ))


class Saved:
    def predict(self, texts, desc=""):
        return [0.5] * len(texts)

    def save(self, folder):
        Path(folder, "saved").write_text("")

    @classmethod
    def load(cls, folder, rung):
        return cls()


class EnvMethod(Method):
    name = "env"

    class Config(Method.Config):
        out: str = ""
        env: str = AT_IMPORT

    def train_student(self, weak_labels):
        Path(self.config.out, "train_env.json").write_text(json.dumps(dict(os.environ)))
        return Saved()
"""


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_described", {})
    return tmp_path


def _module(where: Path, name: str, text: str) -> None:
    (where / f"{name}.py").write_text(text)
    importlib.invalidate_caches()


def _check_env(env: dict) -> None:
    assert set(env) <= WHITELIST | SET_INSIDE, sorted(set(env) - WHITELIST - SET_INSIDE)
    assert env["W2S_BENCH_SEALED"] in (isolate.BUBBLEWRAP, isolate.AUDIT_HOOK)
    for key, value in env.items():  # (PATH names the interpreter's folder, wherever it is)
        assert key == "PATH" or str(CHECKOUT) not in value, key


@pytest.mark.parametrize("mode", [isolate.AUDIT_HOOK, pytest.param(isolate.BUBBLEWRAP, marks=BWRAP)])
def test_describe_and_train_see_only_whitelisted_environment(where, monkeypatch, mode):
    monkeypatch.setenv("W2S_BENCH_ISOLATION", mode)
    for key, value in {
        "GITHUB_TOKEN": "ghp_secret",
        "CI": "true",
        "HF_TOKEN": "hf_secret",
        "PYTHONPATH": str(CHECKOUT),
        "OMP_NUM_THREADS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    _module(where, "env_method", ENV_METHOD)
    out = where / "out"
    out.mkdir()
    ref = registry.method_ref("env", path="env_method:EnvMethod", config={"out": str(out)})
    described = json.loads(ref.config["env"])
    _check_env(described)
    assert described["OMP_NUM_THREADS"] == "1" and described["HOME"].endswith("/home")
    folder = where / "stage"
    folder.mkdir()
    isolate.run_sealed(
        {
            "kind": "train",
            "path": ref.path,
            "config": ref.config,
            "ctx": None,
            "weak_labels": None,
            "folder": str(folder),
        },
        hidden=[],
        writable=[folder, out],
    )
    trained = json.loads((out / "train_env.json").read_text())
    _check_env(trained)
    assert set(trained) == set(described)  # one sealing for every kind of job


def test_a_describe_time_read_of_task_data_is_refused(where, monkeypatch):
    """Importing the method's module (to read its config) runs with the gold paths hidden: with
    no task named, at least the stage cache, the task specs and data and the leaderboard."""
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.AUDIT_HOOK)
    data = TASKS / "rotten_tomatoes.toml"
    assert data.read_text()  # readable here: the refusal below is the seal's
    _module(
        where, "peek_task", f"DATA = open({str(data)!r}).read()\nfrom w2s_bench.methods.naive import Naive as Peek\n"
    )
    with pytest.raises(
        SpecError,
        match=r"method\(s\) peek: importing the method to read its config "
        r"was refused in the sealed process: it tried to read " + str(data),
    ):
        registry.method_ref("peek", path="peek_task:Peek")


def test_describe_hides_the_gold_paths_its_caller_names(where, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.AUDIT_HOOK)
    gold = tmp_path_factory.mktemp("gold")  # not in a folder on the import path (that is dropped)
    (gold / "labels.json").write_text("[1, 0, 1]")
    _module(
        where,
        "peek_gold",
        f"DATA = open({str(gold / 'labels.json')!r}).read()\nfrom w2s_bench.methods.naive import Naive as Peek\n",
    )
    assert registry.method_ref("peek", path="peek_gold:Peek").config == {}  # not hidden: read
    registry._described.clear()
    with pytest.raises(SpecError, match="it tried to read " + str(gold / "labels.json")):
        registry.method_ref("peek", path="peek_gold:Peek", hidden=[gold])


@BWRAP
def test_describe_sees_no_task_folder_even_with_the_checkout_on_the_import_path(where, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # the checkout is not the cwd
    monkeypatch.syspath_prepend(str(CHECKOUT))
    _module(
        where,
        "look_tasks",
        "import os, sys\n"
        f"SEEN = [os.path.exists({str(TASKS)!r}), {str(CHECKOUT)!r} in sys.path]\n"
        "from w2s_bench.api import Method\n\n\nclass Look(Method):\n"
        "    name = 'look'\n\n    class Config(Method.Config):\n"
        "        seen: list = SEEN\n",
    )
    assert registry.method_ref("look", path="look_tasks:Look").config["seen"] == [False, False]


def test_evaluate_passes_the_tasks_gold_paths_to_describe(monkeypatch, tmp_path):
    from w2s_bench import run
    from w2s_bench.stages import Cache, gold_paths
    from w2s_bench.tasks import load_task

    seen = {}

    class Stop(Exception):
        pass

    def method_ref(name, path=None, config=None, hidden=()):
        seen["hidden"] = [Path(h) for h in hidden]
        raise Stop

    monkeypatch.setattr(registry, "method_ref", method_ref)
    with pytest.raises(Stop):
        run.evaluate(method="naive", suite="pocket.v3", tasks=["rotten_tomatoes"], cache_dir=tmp_path, quiet=True)
    assert set(gold_paths(Cache(tmp_path), load_task("rotten_tomatoes"))) <= set(seen["hidden"])


NAMES_METHOD = """
import json, os
from pathlib import Path

from w2s_bench.api import Method


def names(folder):
    return {"cwd": os.getcwd(), "HOME": os.environ["HOME"], "TMPDIR": os.environ["TMPDIR"],
            "folder": str(folder), "seen": sorted(os.listdir(folder))}


class Saved:
    def predict(self, texts, desc=""):
        return [0.5] * len(texts)

    def save(self, folder):
        Path(folder, "train.json").write_text(json.dumps(names(folder)))

    @classmethod
    def load(cls, folder, rung):
        raise RuntimeError("NAMES " + json.dumps(names(folder)))


class Names(Method):
    name = "names"

    def train_student(self, weak_labels):
        return Saved()
"""


@BWRAP
def test_a_method_sees_the_same_folder_names_wherever_the_cache_lies(where, monkeypatch, tmp_path_factory):
    """Required 4: under bubblewrap the job folder and the stage folder are mounted at fixed names
    (isolate.MOUNTS), so a CI re-run (cache in a temporary folder) looks like a local run."""
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolate.BUBBLEWRAP)
    _module(where, "names_method", NAMES_METHOD)
    ref = registry.method_ref("names", path="names_method:Names")
    seen = []
    for root in (
        tmp_path_factory.mktemp("home") / ".cache" / "w2s-bench" / "cache",
        tmp_path_factory.mktemp("w2s-reproduce-"),
    ):
        folder = root / "student" / "0123abcd"
        folder.mkdir(parents=True)
        job = {"path": ref.path, "config": ref.config, "ctx": types.SimpleNamespace(strong=None)}
        isolate.run_sealed(
            {**job, "kind": "train", "weak_labels": None, "folder": str(folder)}, hidden=[root], writable=[folder]
        )
        train = json.loads((folder / "train.json").read_text())
        with pytest.raises(isolate.IsolatedFailure, match="NAMES") as e:
            isolate.run_sealed(
                {
                    **job,
                    "kind": "predict",
                    "folder": str(folder),
                    "generative": False,
                    "predict": {"test": ["a"]},
                    "features": None,
                    "desc": "",
                },
                hidden=[root],
                visible=[folder],
            )
        predict = json.loads(str(e.value.error).partition("NAMES ")[2])
        seen.append((train, predict))
        for names in (train, predict):
            assert str(root) not in json.dumps(names) and "w2s-sealed-" not in json.dumps(names), names
    assert seen[0] == seen[1]
    (train, predict) = seen[0]
    assert train["folder"] == predict["folder"] == str(isolate.MOUNTS["stage"])
    assert train["cwd"] == str(isolate.MOUNTS["job"]) and train["HOME"] == str(isolate.MOUNTS["job"] / "home")
    assert "train.json" in predict["seen"] and "predictor.json" in predict["seen"]
