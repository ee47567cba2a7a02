"""`evaluate(method=..., suite=...)`: the Python API behind `w2s-bench evaluate`.

spec -> examples -> splits -> weak model -> weak labels -> student (the method) -> predictions ->
PGR -> results directory. The CLI is a thin layer over this; a notebook can call it as well.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from w2s_bench.registry import DEFAULT_SUITE
from w2s_bench.specs import SpecError, spec_hash


def parse_pairs(text: str | None) -> list[tuple[str, str]] | None:
    """'L1:L6,L2:L6' -> [('L1', 'L6'), ('L2', 'L6')]."""
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        weak, sep, strong = item.strip().partition(":")
        if not sep or not weak or not strong:
            raise SpecError(f"--pairs: {item!r} is not WEAK:STRONG (e.g. L1:L6)")
        pairs.append((weak, strong))
    return pairs


def _environment(dtype: str, isolation: str):
    import importlib.metadata as md

    import torch

    from w2s_bench.results import Environment

    here = Path(__file__).resolve().parent

    def git(*args):
        try:
            return subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or None
    packages = {}
    for name in ("w2s-bench", "torch", "transformers", "peft", "datasets", "scikit-learn", "numpy"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    from w2s_bench.train import device as train_device

    dev = train_device()  # where the trainer runs (W2S_BENCH_DEVICE may keep it on the CPU)
    device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
    return Environment(
        git_commit=commit,
        git_dirty=bool(git("status", "--porcelain")) if commit else None,
        packages=packages,
        python=platform.python_version(),
        device=device,
        dtype=dtype,
        threads=torch.get_num_threads(),
        isolation=isolation,
    )


def _check_frozen(ref, ceiling: str, ladder, pairs) -> None:
    """What cannot run on a frozen-backbone strong rung fails at once, before any training."""
    for _, strong in pairs:
        rung = ladder.rung(strong)
        if rung.kind != "frozen":
            continue
        from w2s_bench.features import no_backbone_training

        if ref.trains_backbone:
            raise SpecError(f"method {ref.name!r}: {no_backbone_training(rung, f'method {ref.name!r}')}")
        if ceiling == "generative":
            raise SpecError(str(no_backbone_training(rung, "--ceiling generative (LM fine-tuning)")))


def cell_predictions(
    cache_root, task, splits, ladder, weak, strong, seed, method, ceiling, weak_train_size=None, run_pairs=()
):
    """One task x pair x seed cell: its predictions and the stages it computed. Runs in the
    driver (executor "local") or in a Ray worker (executor "ray", w2s_bench/ray_executor.py).
    `run_pairs`: every pair of the run (the first cell of a task encodes all their frozen features
    in one pass of each backbone family)."""
    from w2s_bench.stages import Cache, run_cell

    cache = Cache(cache_root)
    p = run_cell(
        cache,
        task,
        splits,
        ladder,
        ladder.rung(weak),
        ladder.rung(strong),
        seed,
        method,
        ceiling,
        weak_train_size=weak_train_size,
        run_pairs=tuple(run_pairs),
    )
    return p, cache.computed


def default_seeds(suite_spec, seeds: list[int] | None) -> list[int]:
    """The seeds a run uses: those given, else 0 .. the suite's `min_seeds` - 1 (the fewest its
    board accepts, so that a first table already has confidence intervals)."""
    seeds = list(range(suite_spec.protocol.min_seeds)) if seeds is None else list(seeds)
    if not seeds:
        raise SpecError("--seeds: name at least one seed (or leave it out: the suite's min_seeds)")
    return seeds


def evaluate(
    method: str = "naive",
    suite: str = DEFAULT_SUITE,
    ladder: str | None = None,
    pairs: list[tuple[str, str]] | None = None,
    seeds: list[int] | None = None,
    limit: int | None = None,
    tasks: list[str] | None = None,
    out: Path | None = None,
    cache_dir: Path | None = None,
    quiet: bool = False,
    ceiling: str = "standard",
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_cell: int = 1,
) -> dict:
    """Run one method on a suite; write and return the result. See docs/protocol.md for the protocol.
    `executor`: "local" computes the cells one after another here; "ray" computes them in parallel
    on a Ray cluster (`ray_address`, else $RAY_ADDRESS, else a local one; `cpus_per_cell` CPUs and,
    where the cluster has GPUs, one GPU per cell), scored here in the same order. `seeds`: None
    runs the suite's `min_seeds` (0, 1, ...), the fewest its board accepts: a first table has a CI."""
    import pandas as pd
    from tqdm.auto import tqdm

    from w2s_bench.assets import home
    from w2s_bench.diagnostics import PROBE_SPLIT, diagnose
    from w2s_bench.isolate import isolation
    from w2s_bench.registry import load_ladder, load_suite, method_ref
    from w2s_bench.results import Cell, Result, TaskInfo, write_results
    from w2s_bench.scoring import score_cell, summarize
    from w2s_bench.stages import Cache
    from w2s_bench.tasks import limit_splits, load_splits, load_task
    from w2s_bench.tasks.builders import split_hash

    t0 = time.time()
    suite_spec = load_suite(suite)
    ladder_spec = load_ladder(ladder or suite_spec.ladder)
    pairs = list(pairs or suite_spec.pairs)
    for w, s in pairs:
        names = [r.name for r in ladder_spec.rungs]
        ladder_spec.rung(w), ladder_spec.rung(s)
        if names.index(w) >= names.index(s):
            raise SpecError(
                f"pair {w}:{s}: the weak rung must come before the strong one in "
                f"ladder {ladder_spec.name} ({' < '.join(names)})"
            )
    if ceiling not in ("standard", "generative"):
        raise SpecError(f"--ceiling {ceiling!r}: choose 'standard' or 'generative'")
    if executor not in ("local", "ray"):
        raise SpecError(f"--executor {executor!r}: choose 'local' or 'ray'")
    if executor == "ray":
        from w2s_bench import ray_executor

        ray_executor.connect(ray_address)  # fails here, with the fix, where Ray is not installed
    cache = Cache(cache_dir or home() / "cache")
    task_specs = [load_task(t) for t in (tasks or suite_spec.tasks)]
    from w2s_bench.stages import gold_paths

    hidden = list(dict.fromkeys(p for t in task_specs for p in gold_paths(cache, t)))
    from w2s_bench import chess_nets

    # an lc0 rung off linux-x64: one message, before the method's process, any training or feature
    chess_nets.check_platform([ladder_spec.rung(x) for pair in pairs for x in pair])
    # read in a sealed process, with the run's gold paths hidden: no method code runs in this one
    ref = method_ref(method, hidden=hidden)
    _check_frozen(ref, ceiling, ladder_spec, pairs)
    dtypes = sorted({ladder_spec.rung(x).dtype for pair in pairs for x in pair})
    environment = _environment(",".join(dtypes), isolation())  # the code as the run started
    if any(t.kind == "generative" for t in task_specs):  # fail at once, before any training
        from w2s_bench.stages import check_generative

        check_generative(ref, ceiling)
    seeds = default_seeds(suite_spec, seeds)
    data = {t.name: limit_splits(load_splits(t), limit) for t in task_specs}  # checks frozen hashes
    jobs = [
        {
            "cache_root": cache.root.absolute(),
            "task": task,
            "splits": data[task.name],
            "ladder": ladder_spec,
            "weak": w,
            "strong": s,
            "seed": seed,
            "method": ref,
            "ceiling": ceiling,
            "weak_train_size": suite_spec.protocol.weak_train_size,
            "run_pairs": tuple(pairs),
        }
        for task in task_specs
        for w, s in pairs
        for seed in seeds
    ]  # the loops below, in order
    facts = []  # executor "ray": the device and threads of the workers that ran the cells
    outputs = (
        (cell_predictions(**job) for job in jobs)
        if executor == "local"
        else ray_executor.map_cells(cell_predictions, jobs, ray_address, cpus_per_cell, facts)
    )

    cells, pred_frames, task_info = [], [], {}
    bar = tqdm(total=len(task_specs) * len(pairs) * len(seeds), desc=f"{method} on {suite}", disable=quiet)
    for task in task_specs:
        splits = data[task.name]
        task_info[task.name] = TaskInfo(
            spec_sha256=spec_hash(task), split_sha256={k: split_hash(v) for k, v in splits.items()}
        )
        gen = task.kind == "generative"  # labels and predictions are texts
        gold = np.array([r["label"] for r in splits["test"]], dtype=object if gen else np.int64)
        gold_probe = np.array([r["label"] for r in splits[PROBE_SPLIT]], dtype=object if gen else np.int64)
        for w, s in pairs:
            for seed in seeds:
                bar.set_postfix_str(f"{task.name} {w}->{s} seed {seed}")
                p, computed = next(outputs)
                cache.computed.update(computed)
                scored = score_cell(gold, p.weak, p.ceiling, p.student, suite_spec.protocol.noise_floor_z)
                diag = diagnose(gold_probe, gold, p.weak, p.ceiling, p.student, p.features, seed)
                cells.append(Cell(task=task.name, weak_rung=w, strong_rung=s, seed=seed, **scored, diagnostics=diag))
                who = ("weak", "ceiling", "student")
                preds = (
                    {**{k: np.nan for k in who}, **{f"{k}_text": getattr(p, k) for k in who}}
                    if gen
                    else {k: getattr(p, k) for k in who}
                )  # float64: metrics recompute exactly
                pred_frames.append(
                    pd.DataFrame(
                        {
                            "task": task.name,
                            "weak_rung": w,
                            "strong_rung": s,
                            "seed": seed,
                            "index": np.arange(len(gold)),
                            **preds,
                        }
                    )
                )
                bar.update(1)
    bar.close()
    if facts:
        environment = environment.model_copy(update=ray_executor.environment_update(facts))

    per_pair, per_task, suite_row = summarize([c.model_dump() for c in cells], suite_spec.protocol.headline)
    summary = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in suite_row.iloc[0].to_dict().items()}
    result = Result(
        suite=suite_spec.name,
        ladder=ladder_spec.name,
        ladder_sha256=spec_hash(ladder_spec),
        method=method,
        method_config=ref.config,
        method_config_sha256=ref.config_sha256,
        method_code_sha256=ref.code_sha256,
        protocol=suite_spec.protocol,
        ceiling=ceiling,
        seeds=seeds,
        pairs=pairs,
        limit=limit,
        tasks=task_info,
        cells=cells,
        summary=summary,
        environment=environment,
        wall_time_s=round(time.time() - t0, 1),
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    out = Path(
        out
        or Path("w2s-results")
        / (
            f"{suite_spec.name}_{ladder_spec.name}_{method}"
            + ("_generative-ceiling" if ceiling == "generative" else "")
        )
    )
    write_results(out, result, per_pair, pd.concat(pred_frames, ignore_index=True))
    return {
        "result": result,
        "per_pair": per_pair,
        "per_task": per_task,
        "suite": suite_row,
        "out": out,
        "computed": dict(cache.computed),
    }


def evaluate_methods(methods: list[str], executor: str = "local", **kwargs) -> list[dict]:
    """`evaluate` for several methods on the same grid. Locally one after another (later methods
    re-use the weak models and ceilings of the first); on Ray all at once, one driver thread per
    method, so that their cells share the cluster (each weak model and ceiling is still trained
    once). The first error or Ctrl-C stops every method; finished stages stay cached."""
    if not methods:
        raise SpecError("--method: name at least one method (w2s-bench list methods)")
    if len(methods) > 1 and kwargs.get("out"):
        raise SpecError(
            "--out names one results folder: give one method, or no --out (each "
            "method's results then go to w2s-results/SUITE_LADDER_METHOD)"
        )
    if executor != "ray" or len(methods) == 1:
        return [evaluate(method=m, executor=executor, **kwargs) for m in methods]
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from w2s_bench import ray_executor

    ray_executor.connect(kwargs.get("ray_address"))  # from the main thread (Ray's signal handlers)
    with ThreadPoolExecutor(len(methods)) as pool:
        futures = [pool.submit(evaluate, method=m, executor=executor, **kwargs) for m in methods]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f in done and f.exception() is not None:
                    raise f.exception()
            return [f.result() for f in futures]
        except BaseException:
            ray_executor.cancel_all()
            raise
