"""The measurements behind pocket.v3 (docs/tiers.md, "How pocket.v3 was chosen").

Two tables, each from `w2s_bench.evaluate` runs (the harness itself, the stage cache shared, so
every backbone's features of a split are computed once for all configurations):

1. tasks: which offline tasks carry signal on the frozen ladder (weak mini1 -> strong mpnet,
   naive): weak and ceiling accuracy and the gap, against the suite's criteria (weak >= 0.60,
   ceiling - weak >= 0.08).
2. rungs: each rung's head trained on gold for 1 / 2 / 5 / 10 / 20 epochs, scored on gold val.
   The ladder's epochs follow from it by a rule stated before it was run: the best val accuracy,
   unless the a-priori 2 epochs is within one binomial SE of the val set of the best.
3. protocol: naive and aux_conf over seeds with every head at the a-priori 2 epochs and with the
   ladder as shipped: student accuracy, PGR (accuracy) mean ± 95 % CI, and aux_conf − naive
   paired over seeds. Nothing here was chosen on test.

    python benchmarks/pocket_v3_sweep.py --seeds 0,1,2,3,4 --out benchmarks/results/pocket_v3_sweep.md

Cost on 2 cores: the features (mpnet is most of it), then seconds per head; with --skip tasks it reads only cached features of the suite tasks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _ci(values) -> str:
    from w2s_bench.scoring import fmt_ci, mean_ci

    return fmt_ci(*mean_ci(list(values)))


def _cells(result) -> dict:
    """(task, seed) -> cell of a Result."""
    return {(c.task, c.seed): c for c in result.cells}


def _ladder_file(folder: Path, epochs: int) -> str:
    """pocket_frozen with every rung's head trained `epochs` epochs (a custom ladder file)."""
    import re

    from w2s_bench.registry import HERE, load_ladder

    text = (HERE / "ladders" / "pocket_frozen.toml").read_text()
    path = folder / f"pocket_frozen_e{epochs}.toml"
    path.write_text(
        re.sub(r"\nepochs = \d+\n", f"\nepochs = {epochs}\n", text).replace(
            'name = "pocket_frozen"', f'name = "pocket_frozen_e{epochs}"'
        )
    )
    assert {r.epochs for r in load_ladder(str(path)).rungs} == {epochs}
    return str(path)


def run(method, seeds, tasks, cache, out, **kw):
    from w2s_bench.run import evaluate

    return evaluate(
        method=method, suite="pocket.v3", seeds=seeds, tasks=tasks, cache_dir=cache, out=out, quiet=True, **kw
    )["result"]


EPOCHS = (1, 2, 5, 10, 20)


def rung_table(tasks, seeds, cache) -> list[str]:
    """Each rung's head trained on gold for each number of epochs, scored on gold val: the rule
    that sets a rung's epochs in the ladder (the best val accuracy, mean over tasks and seeds)."""
    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import Cache, _frozen_features, _gold, _texts
    from w2s_bench.tasks import load_splits, load_task
    from w2s_bench.train import Labeled, fit

    ladder, cache = load_ladder("pocket_frozen"), Cache(cache)
    data = {t: load_splits(load_task(t)) for t in tasks}
    lines = [
        "| rung | trained on | " + " | ".join(f"{e} epochs" for e in EPOCHS) + " | best | in the ladder |",
        "|---|---|" + "---|" * len(EPOCHS) + "---|---|",
    ]
    for rung in ladder.rungs:
        split = "student_train" if rung.name == "mpnet" else "weak_train"
        scores = []
        for e in EPOCHS:
            accs = []
            for t, splits in data.items():
                _frozen_features(cache, rung, splits, (split, "val"), {"task": t})
                train = Labeled(_texts(splits[split]), _gold(splits[split]))
                val = Labeled(_texts(splits["val"]), _gold(splits["val"]))
                for seed in seeds:
                    p = fit(rung.model_copy(update={"epochs": e}), train, val, seed).predict(val.texts)
                    accs.append(float(((p > 0.5) == (val.targets > 0.5)).mean()))
            scores.append(float(np.mean(accs)))
        best = EPOCHS[int(np.argmax(scores))]
        lines.append(
            f"| {rung.name} | {split} gold | " + " | ".join(f"{x:.3f}" for x in scores) + f" | {best} | {rung.epochs} |"
        )
        print(lines[-1], flush=True)
    return lines


def task_table(tasks, seeds, cache, tmp) -> list[str]:
    lines = [
        "| task | test n | weak acc | ceiling acc | gap | naive acc | naive PGR (acc) | meets criteria |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in tasks:
        res = run("naive", seeds, [task], cache, tmp / f"task_{task}")
        cells = [c for c in res.cells]
        w = np.mean([c.weak.accuracy for c in cells])
        c_ = np.mean([c.ceiling.accuracy for c in cells])
        s = np.mean([c.student.accuracy for c in cells])
        ok = w >= 0.60 and c_ - w >= 0.08 and cells[0].n_test >= 1000
        lines.append(
            f"| {task} | {cells[0].n_test} | {w:.3f} | {c_:.3f} | {c_ - w:+.3f} | {s:.3f} | "
            f"{_ci(x.pgr_accuracy for x in cells)} | {'yes' if ok else 'no'} |"
        )
        print(lines[-1], flush=True)
    return lines


def protocol_table(tasks, seeds, cache, tmp) -> list[str]:
    lines = [
        "| weak rung | head epochs | task | weak acc | ceiling acc | naive acc | naive PGR | "
        "aux_conf acc | aux_conf PGR | aux_conf − naive (PGR, paired) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    # the ladder before the rung table (every head 2 epochs, fixed a priori) and as shipped
    for label, ladder in (("all 2 (a priori)", _ladder_file(tmp, 2)), ("as shipped", None)):
        weak, epochs = "mini1", label
        kw = {"ladder": ladder} if ladder else {}
        naive = _cells(run("naive", seeds, tasks, cache, tmp / f"n_{weak}_{epochs}", **kw))
        aux = _cells(run("aux_conf", seeds, tasks, cache, tmp / f"a_{weak}_{epochs}", **kw))
        for task in tasks:
            n = [naive[task, s] for s in seeds]
            a = [aux[task, s] for s in seeds]
            diff = [
                x.pgr_accuracy - y.pgr_accuracy
                for x, y in zip(a, n)
                if x.pgr_accuracy is not None and y.pgr_accuracy is not None
            ]
            lines.append(
                f"| {weak} | {epochs} | {task} | {np.mean([c.weak.accuracy for c in n]):.3f} | "
                f"{np.mean([c.ceiling.accuracy for c in n]):.3f} | "
                f"{np.mean([c.student.accuracy for c in n]):.3f} | {_ci(c.pgr_accuracy for c in n)} | "
                f"{np.mean([c.student.accuracy for c in a]):.3f} | {_ci(c.pgr_accuracy for c in a)} | "
                f"{_ci(diff)} |"
            )
            print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument(
        "--tasks",
        default="rotten_tomatoes.v3,hellaswag,social_iqa,piqa,boolq,sst2",
        help="candidate tasks for the task table",
    )
    ap.add_argument("--suite-tasks", default=None, help="tasks of the protocol table (default: the suite's)")
    ap.add_argument("--skip", choices=["tasks", "rungs", "protocol"], action="append", default=[])
    ap.add_argument("--cache-dir", default=None, help="stage cache (default: $W2S_BENCH_HOME/cache)")
    ap.add_argument("--out", default="benchmarks/results/pocket_v3_sweep.md")
    args = ap.parse_args(argv)
    from w2s_bench.assets import home
    from w2s_bench.registry import load_suite

    seeds = [int(s) for s in args.seeds.split(",")]
    cache = Path(args.cache_dir or home() / "cache")
    suite_tasks = args.suite_tasks.split(",") if args.suite_tasks else load_suite("pocket.v3").tasks
    t0, out = time.time(), []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "tasks" not in args.skip:
            out += ["## Candidate tasks (weak mini1 -> strong mpnet, naive, seeds " + args.seeds + ")", ""]
            out += task_table(args.tasks.split(","), seeds, cache, tmp) + [""]
        if "rungs" not in args.skip:
            out += [
                "## Head epochs per rung: gold val accuracy, trained on gold (seeds " + args.seeds + ")",
                "",
                "Tasks: " + ", ".join(suite_tasks) + ".",
                "",
            ]
            out += rung_table(suite_tasks, seeds, cache) + [""]
        if "protocol" not in args.skip:
            out += ["## Weak rung and head epochs (naive and aux_conf, seeds " + args.seeds + ")", ""]
            out += protocol_table(suite_tasks, seeds, cache, tmp) + [""]
    out.append(
        f"`python benchmarks/pocket_v3_sweep.py --seeds {args.seeds}` — {time.time() - t0:.0f} s "
        f"on this machine (stage cache shared with earlier runs)."
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
