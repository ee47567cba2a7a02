"""The shared head trainer (`w2s_bench.train.fit` on a frozen-backbone rung) next to a bare PyTorch
loop on the same cached features and the same batches, in one process, alternating.

    python benchmarks/head_loop.py [--suite pocket.v3] [--task rotten_tomatoes.v3] [--rung mini1]
        [--split weak_train] [--repeats 3] [--threads N] [--profile] [--out FILE.md]

Features are the rung's cached pooled features (the `frozen_features` stage; computed first if the
cache lacks them), targets the split's gold labels. Both loops run `rung.epochs` epochs of the
batches `train.length_sorted_batches` draws from the same seeded generator, AdamW with the rung's
lr and weight decay, the same warm-up/decay schedule, soft cross-entropy on 2-way logits and
gradient clipping at norm 1:

- shared: `fit(rung, train, val, seed)`, all of it: the head built as `models.build_classifier`
  builds it, standardization, the non-finite check, the progress bar, the val scoring twice an
  epoch (AUROC on val) and the best-weights restore;
- bare: the same head (`nn.Linear` on standardized features) in a plain loop, no validation,
  run twice: with the process's torch intra-op threads (`--threads` sets them first; torch's
  default is one per core) and with one thread (what the shared loop uses for a head).

Each repeat times shared, bare, bare with one thread; steps/s are total steps over wall time;
the ratios are shared steps/s over each bare loop's, per repeat (the median is quoted). `--profile` prints the cProfile of one shared run (top 20 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import platform
import pstats
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from timing_report import load_average, write_results


def _data(suite_name: str, task_name: str, rung_name: str, split: str):
    from w2s_bench.assets import home
    from w2s_bench.features import BANK
    from w2s_bench.registry import load_ladder, load_suite
    from w2s_bench.stages import Cache, _texts, frozen_features
    from w2s_bench.tasks import load_splits, load_task, weak_subset
    from w2s_bench.train import Labeled

    suite = load_suite(suite_name)
    rung = load_ladder(suite.ladder).rung(rung_name)
    if rung.kind != "frozen":
        raise SystemExit(f"rung {rung_name} is not a frozen-backbone rung: this times head training")
    splits = load_splits(load_task(task_name))
    if split == "weak_train":
        splits = {**splits, "weak_train": weak_subset(splits["weak_train"], suite.protocol.weak_train_size)}
    frozen_features(Cache(home() / "cache"), [(rung, (split, "val"))], splits, {"task": task_name})

    def gold(rows):
        return np.array([float(r["label"]) for r in rows])

    train = Labeled(_texts(splits[split]), gold(splits[split]))
    val = Labeled(_texts(splits["val"]), gold(splits["val"]))
    return rung, train, val, BANK


def shared(rung, train, val, seed: int):
    from w2s_bench.train import fit

    t = time.perf_counter()
    model = fit(rung, train, val, seed, desc="shared")
    return time.perf_counter() - t, model


def bare(rung, x: torch.Tensor, y: torch.Tensor, seed: int, threads: int | None = None):
    """A plain loop of the same shape: the only harness code it uses is the batch order."""
    from w2s_bench.train import length_sorted_batches

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _bare(rung, x, y, seed, length_sorted_batches)
    finally:
        torch.set_num_threads(before)


def _bare(rung, x, y, seed, length_sorted_batches):
    t = time.perf_counter()
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], 2)
    mean, scale = x.mean(0), x.std(0).clamp(min=1e-6)
    xs = (x - mean) / scale
    gen = torch.Generator().manual_seed(seed)
    total = math.ceil(len(y) / rung.batch_size) * rung.epochs
    warm = int(rung.warmup_frac * total)
    opt = torch.optim.AdamW(head.parameters(), lr=rung.lr, weight_decay=rung.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / max(warm, 1), max(0.0, (total - s) / max(total - warm, 1)))
    )
    for _ in range(rung.epochs):
        for b in length_sorted_batches([1] * len(y), rung.batch_size, gen):
            logits = head(xs[b])
            t1 = y[b]
            loss = -(torch.stack([1 - t1, t1], 1) * torch.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            opt.step()
            sched.step()
    return time.perf_counter() - t, total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="pocket.v3")
    ap.add_argument("--task", default="rotten_tomatoes.v3")
    ap.add_argument("--rung", default="mini1")
    ap.add_argument("--split", default="weak_train", choices=["weak_train", "student_train"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rung, train, val, bank = _data(args.suite, args.task, args.rung, args.split)
    from w2s_bench.train import _head_inputs

    x, _ = _head_inputs(rung, train.texts)
    y = torch.tensor(train.targets, dtype=torch.float32)
    steps = math.ceil(len(y) / rung.batch_size) * rung.epochs
    shared(rung, train, val, args.seed)  # warm-up: imports, first-call costs
    bare(rung, x, y, args.seed)
    rows = []
    for _ in range(args.repeats):
        ts, _ = shared(rung, train, val, args.seed)
        tb, _ = bare(rung, x, y, args.seed)
        t1, _ = bare(rung, x, y, args.seed, threads=1)
        rows.append((ts, tb, t1))
    ratio = statistics.median(tb / ts for ts, tb, _ in rows)
    ratio1 = statistics.median(t1 / ts for ts, _, t1 in rows)
    load = load_average()
    lines = [
        f"rung {rung.name} on {args.task} {args.split}: {len(y)} rows x {x.shape[1]} features, "
        f"{rung.epochs} epochs x {math.ceil(len(y) / rung.batch_size)} batches of "
        f"{rung.batch_size} = {steps} steps; torch {torch.__version__}, {platform.machine()}, "
        f"process threads {torch.get_num_threads()}, load average {load}",
        "",
        "| repeat | shared s | shared steps/s | bare s | bare steps/s | bare 1-thread s "
        "| bare 1-thread steps/s | shared / bare | shared / bare 1-thread |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (ts, tb, t1) in enumerate(rows):
        lines.append(
            f"| {i} | {ts:.3f} | {steps / ts:.0f} | {tb:.3f} | {steps / tb:.0f} | {t1:.3f} "
            f"| {steps / t1:.0f} | {tb / ts:.2f} | {t1 / ts:.2f} |"
        )
    lines += ["", f"median shared / bare steps per second: {ratio:.2f} (process threads), {ratio1:.2f} (one thread)"]
    text = "\n".join(lines)
    print(text)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        shared(rung, train, val, args.seed)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(20)
        print(s.getvalue())
    write_results(args.out, "Head loop: shared trainer vs bare PyTorch", "head_loop.py", argv, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
