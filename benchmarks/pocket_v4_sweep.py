"""The measurements behind pocket.v4: which offline tasks show the effect on the pocket_mpnet
depth ladder, and whether that ladder rises on them.

Three tables (the stage cache is shared, so each task's features are computed once, by one forward
pass of the 12-layer model for every rung):

1. ladder: every rung's head trained on student_train gold, gold accuracy on val (mean over
   seeds): is gold accuracy strictly rising along the ladder on every task?
2. tasks: weak mpnet1 -> strong mpnet12, naive, through `w2s_bench.evaluate` (sealed method
   processes, the suite's protocol): weak and ceiling test accuracy, the gap, naive PGR with its
   95 % CI over seeds, the format-only audit, the share of test texts with a near-duplicate
   (TF-IDF cosine >= 0.9) in weak_train or student_train, and the pocket.v3 rule: weak >= 0.60,
   ceiling - weak >= 0.08, test >= 1000, audit within 3 points of chance.
3. (with --trend) the trend of a suite: naive PGR per pair, per task.

    python benchmarks/pocket_v4_sweep.py --seeds 0,1,2,3,4 --out benchmarks/results/pocket_v4_sweep.md

Nothing here reads test for a choice except the task table, whose test numbers are the
criteria the suite states (as pocket.v3's were); the ladder's head epochs were fixed a priori.
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

CANDIDATES = ("multiemo_sentences,tweet_sentiment,rotten_tomatoes.v3,election_tweets,reuters_earn_acq,"
              "vitaminc,newsgroups_sci_comp,multiemo_reviews")
LADDER = "pocket_mpnet"


def _ci(values) -> str:
    from w2s_bench.scoring import fmt_ci, mean_ci
    return fmt_ci(*mean_ci(list(values)))


def near_duplicate_share(splits, threshold: float = 0.9) -> float:
    """Share of test texts whose nearest weak_train / student_train text (TF-IDF cosine) is at
    least `threshold`: near-duplicates across the split boundary."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    train = [r["text"] for s in ("weak_train", "student_train") for r in splits[s]]
    test = [r["text"] for r in splits["test"]]
    vec = TfidfVectorizer().fit(train + test)
    sims = (vec.transform(test) @ vec.transform(train).T).max(axis=1).toarray().ravel()
    return float((sims >= threshold).mean())


def ladder_table(tasks, seeds, cache) -> list[str]:
    from w2s_bench.registry import load_ladder
    from w2s_bench.specs import SPLITS
    from w2s_bench.stages import Cache, _gold, _texts, frozen_features
    from w2s_bench.tasks import load_splits, load_task
    from w2s_bench.train import Labeled, fit
    ladder, cache = load_ladder(LADDER), Cache(cache)
    names = [r.name for r in ladder.rungs]
    lines = ["| task | " + " | ".join(names) + " | strictly rising |", "|---|" + "---|" * (len(names) + 1)]
    for t in tasks:
        splits = load_splits(load_task(t))
        frozen_features(cache, [(r, SPLITS) for r in ladder.rungs], splits, {"task": t})
        train = Labeled(_texts(splits["student_train"]), _gold(splits["student_train"]))
        val = Labeled(_texts(splits["val"]), _gold(splits["val"]))
        accs = [float(np.mean([((fit(r, train, val, seed).predict(val.texts) > 0.5) == (val.targets > 0.5)).mean()
                               for seed in seeds])) for r in ladder.rungs]
        rising = all(b > a for a, b in zip(accs, accs[1:]))
        lines.append(f"| {t} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {'yes' if rising else 'no'} |")
        print(lines[-1], flush=True)
    return lines


def task_table(tasks, seeds, cache, tmp) -> list[str]:
    from w2s_bench.audit import audit_task
    from w2s_bench.run import evaluate
    from w2s_bench.tasks import load_splits, load_task
    lines = ["| task | source | test n | weak acc | ceiling acc | gap | naive acc | naive PGR (acc) | "
             "audit | near-dup test share | meets criteria |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        spec = load_task(task)
        res = evaluate(method="naive", suite="pocket.v4", ladder=LADDER, pairs=[("mpnet1", "mpnet12")],
                       seeds=seeds, tasks=[task], cache_dir=cache, out=tmp / task, quiet=True)["result"]
        cells = res.cells
        w = np.mean([c.weak.accuracy for c in cells])
        c_ = np.mean([c.ceiling.accuracy for c in cells])
        s = np.mean([c.student.accuracy for c in cells])
        audit = audit_task(spec)
        dup = near_duplicate_share(load_splits(spec))
        why = [x for x, bad in (("weak < 0.60", w < 0.60), ("gap < 0.08", c_ - w < 0.08),
                                ("test < 1000", cells[0].n_test < 1000), ("audit", not audit["within"])) if bad]
        lines.append(f"| {task} | {spec.source.type} {spec.source.package} | {cells[0].n_test} | {w:.3f} | "
                     f"{c_:.3f} | {c_ - w:+.3f} | {s:.3f} | {_ci(x.pgr_accuracy for x in cells)} | "
                     f"{audit['accuracy']:.3f} {'within' if audit['within'] else 'LEAK'} | {dup:.3f} | "
                     f"{'yes' if not why else 'no: ' + ', '.join(why)} |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--ladder-seeds", default="0,1,2")
    ap.add_argument("--tasks", default=CANDIDATES, help="candidate tasks")
    ap.add_argument("--skip", choices=["ladder", "tasks"], action="append", default=[])
    ap.add_argument("--cache-dir", default=None, help="stage cache (default: $W2S_BENCH_HOME/cache)")
    ap.add_argument("--out", default="benchmarks/results/pocket_v4_sweep.md")
    args = ap.parse_args(argv)
    from w2s_bench.assets import home
    seeds = [int(s) for s in args.seeds.split(",")]
    cache = Path(args.cache_dir or home() / "cache")
    tasks = args.tasks.split(",")
    t0, out = time.time(), ["# pocket.v4 sweep (benchmarks/pocket_v4_sweep.py)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        if "ladder" not in args.skip:
            out += [f"## Ladder {LADDER}: gold val accuracy, head trained on student_train gold "
                    f"(mean over seeds {args.ladder_seeds})", ""]
            out += ladder_table(tasks, [int(s) for s in args.ladder_seeds.split(",")], cache) + [""]
        if "tasks" not in args.skip:
            out += [f"## Candidate tasks (weak mpnet1 -> strong mpnet12, naive, seeds {args.seeds})", ""]
            out += task_table(tasks, seeds, cache, Path(tmp)) + [""]
    out.append(f"`python benchmarks/pocket_v4_sweep.py --seeds {args.seeds} --tasks {args.tasks}"
               + "".join(f" --skip {s}" for s in args.skip) + f"`: {time.time() - t0:.0f} s on this machine "
               f"(stage cache shared with earlier runs; features of a task not yet cached are computed first).")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
