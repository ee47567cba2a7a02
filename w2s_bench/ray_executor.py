"""`--executor ray`: the evaluation grid's cells as Ray tasks, one per GPU, sharing the stage cache.

The driver (w2s_bench.run.evaluate) builds the grid, loads and checks the splits and scores the
predictions in grid order, exactly as the local loop does; only `run.cell_predictions` runs on the
cluster, as a Ray remote function. Ray does the scheduling:

- a cell asks for one GPU when the cluster has GPUs, and `cpus_per_cell` CPUs (its torch threads)
  in any case;
- cells that need the same weak model or the same ceiling (the same task, rung and seed, in this
  grid or in another method's grid launched from this driver) do not train it twice at once: a
  cell takes as an argument the done-token of the first cell that needs it, so Ray starts it once
  that stage is in the cache. This only orders work; what a stage computes depends on the cache
  key alone, and a failed cell's token still resolves (its dependents then compute the stage
  themselves, as the local loop would).

Every worker must see the stage cache at the same path: on several hosts it must live on a shared
filesystem (NFS, Lustre, ...). Stages are written to a temp folder and renamed into place, so two
workers finishing the same stage keep one copy. Each host needs the same w2s-bench install.

Stopping (a cell's error, Ctrl-C): the cells not started yet skip their work — the driver leaves a
flag file in the cache (`CANCELLED`) that a cell reads before it starts — and the running ones
finish, their stages cached. Ray's own `ray.cancel` is not used: cancelling a task while its
reply is on the way crashes the driver in Ray's task manager ("Check failed: it !=
submissible_tasks_.end()", ray-project/ray#54846), which killed the test suite about every other run.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from w2s_bench.specs import SpecError

INSTALL_HINT = "pip install 'w2s-bench[ray]'"
# settings the workers must share with the driver (a worker on another host does not inherit them)
SHARED_ENV = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "W2S_BENCH_DEVICE",
    "W2S_BENCH_DEBUG",
    "W2S_BENCH_GRADIENT_CHECKPOINTING",
)

_lock = threading.Lock()
_first: dict[tuple, object] = {}  # (ray job id, cache, shared stage) -> done-token of its first cell
_stops: set[Path] = set()  # the stop flags of the grids this driver is collecting
CANCELLED = "ray-cancelled"  # the cache's folder of stop flags, one file per stopped grid


class Skipped:
    """What a cell returns when its grid was stopped before it started."""


def _ray():
    try:
        import ray
    except ImportError:
        raise SpecError(f"--executor ray needs Ray, which is not installed; fix: {INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None):
    """Ray, connected: to `address`, else to $RAY_ADDRESS, else to a new local cluster on this
    machine, with the driver's SHARED_ENV settings for the workers. A driver that already called
    `ray.init` keeps its connection (and its settings)."""
    ray = _ray()
    with _lock:  # several methods' drivers may start at once (run.evaluate_methods)
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            env = {k: os.environ[k] for k in SHARED_ENV if k in os.environ}
            options = {"runtime_env": {"env_vars": env}} if env else {}
            if address:
                ray.init(address=address, **options)
            else:  # "local": never attach to some other cluster started earlier with `ray start`
                ray.init(address="local", include_dashboard=False, **options)
    return ray


def _resources(ray, cpus_per_cell: int) -> dict:
    """A cell's Ray options. With a GPU, each cell gets a fresh worker process (max_calls=1, as
    Ray does by default for `@ray.remote(num_gpus=...)`): a reused one would keep the previous
    cell's CUDA device and memory."""
    if cpus_per_cell < 1:
        raise SpecError(f"--cpus-per-cell {cpus_per_cell}: give a positive number of CPUs")
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_cpus": cpus_per_cell, "num_gpus": 1, "max_calls": 1}
    return {"num_cpus": cpus_per_cell}


def _facts() -> dict:
    """What run._environment records, as this worker sees it."""
    import platform

    import torch

    from w2s_bench.isolate import isolation
    from w2s_bench.train import device

    dev = device()  # where the trainer ran (W2S_BENCH_DEVICE may keep it on the CPU)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
    return {"device": name, "threads": torch.get_num_threads(), "isolation": isolation()}


def _run_cell(fn, job: dict, splits, *after):
    """A cell on a worker: (its output or the exception it raised, the worker's device and
    threads), and a done-token. The exception is returned, not raised, so that the token of a
    failed cell still resolves for the cells waiting on it. A cell whose grid was stopped before
    it started returns `Skipped` at once."""
    job = dict(job)
    stop = job.pop("stop", None)
    if stop and os.path.exists(stop):
        return (Skipped(), {}), None
    try:
        out = fn(**job, splits=splits)
    except Exception as e:  # noqa: BLE001 - re-raised by the driver, in grid order
        import traceback

        e.add_note(f"(in a Ray worker)\n{traceback.format_exc()}")
        out = e
    return (out, _facts()), None


def _shared_stages(job: dict) -> list[tuple]:
    task = job["task"].name
    return [("weak", task, job["weak"], job["seed"]), ("ceiling", task, job["strong"], job["seed"], job["ceiling"])]


def map_cells(
    fn, jobs: list[dict], address: str | None = None, cpus_per_cell: int = 1, facts: list | None = None
) -> Iterator:
    """`fn(**job)` for every job on Ray, yielded in the order of `jobs`; a cell's error is raised
    at its turn, after stopping the cells not started yet (see the module docstring). `facts`
    collects each cell's worker device and torch threads (see `environment_update`)."""
    ray = connect(address)
    remote = ray.remote(**_resources(ray, cpus_per_cell), num_returns=2)(_run_cell)
    job_id = ray.get_runtime_context().get_job_id()
    splits_refs, refs, dones = {}, [], []
    stop = Path(jobs[0]["cache_root"]) / CANCELLED / uuid.uuid4().hex if jobs else None
    with _lock:
        _stops.add(stop)
    for job in jobs:
        job = dict(job)
        job["stop"] = str(stop)
        splits = job.pop("splits")
        if id(splits) not in splits_refs:  # stored once per task, not once per cell
            splits_refs[id(splits)] = ray.put(splits)
        with _lock:
            keys = [(job_id, str(job["cache_root"]), *k) for k in _shared_stages(job)]
            after = [_first[k] for k in keys if k in _first]
            out, done = remote.remote(fn, job, splits_refs[id(splits)], *after)
            for k in keys:
                _first.setdefault(k, done)
        refs.append(out)
        dones.append(done)
    try:
        for i, ref in enumerate(refs):
            value, worker = ray.get(ref)
            if isinstance(value, Skipped):  # another method's grid failed, or Ctrl-C
                raise RuntimeError("the grid was stopped before this cell started (another method failed, or Ctrl-C)")
            if isinstance(value, Exception):
                raise value
            if facts is not None:
                facts.append(worker)
            refs[i] = None
            yield value
    except BaseException:  # an error or Ctrl-C: what has not started is not needed
        _stop(stop)
        cancelled = {d for d, r in zip(dones, refs) if r is not None}
        with _lock:  # a later run must not wait on a skipped cell
            for k in [k for k, d in _first.items() if d in cancelled]:
                del _first[k]
        raise
    finally:
        with _lock:
            _stops.discard(stop)


def _stop(flag: Path | None) -> None:
    if flag is not None:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()


def cancel_all() -> None:
    """Stop every grid this driver is collecting (all methods'): their cells not started yet skip
    their work."""
    with _lock:
        flags = list(_stops)
    for flag in flags:
        _stop(flag)


def environment_update(facts: list[dict]) -> dict:
    """The result's device, threads and isolation from the workers that ran the cells (not the
    driver's)."""
    if not facts:
        return {}
    threads = [f["threads"] for f in facts]
    return {
        "device": " + ".join(sorted({f["device"] for f in facts})),
        "isolation": " + ".join(sorted({f["isolation"] for f in facts})),
        "threads": max(set(threads), key=threads.count),
    }
