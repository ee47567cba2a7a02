"""The measurements behind pocket.v4: which offline tasks show the effect on the pocket_mpnet
depth ladder, and whether that ladder rises on them.

Tables 0 to 2 (the stage cache is shared, so each task's features are computed once, by one forward
pass of the deepest cut for every rung):

0. head epochs per rung (pocket.v3's rule) and the weak end: the weak rung's gold val accuracy
   trained on 200 / 400 / 1000 / 2000 examples of weak_train, beside the headline strong rung.
1. ladder: every rung's head trained on student_train gold, gold accuracy on val (mean over
   seeds): is gold accuracy strictly rising along the ladder on every task? Two off-ladder cuts
   are measured beside it: mpnet0 (the embedding layer alone, nearly free) and, where its
   features are in the cache, the full 12-layer model.
2. tasks: weak mpnet1 -> strong mpnet8 (the headline pair), naive, through `w2s_bench.evaluate` (sealed method
   processes, the suite's protocol): weak and ceiling test accuracy, the gap, naive PGR with its
   95 % CI over seeds, the format-only audit, the share of test texts with a near-duplicate
   (TF-IDF cosine >= 0.9) in weak_train or student_train, and the pocket.v3 rule: weak >= 0.60,
   ceiling - weak >= 0.08, test >= 1000, audit within 3 points of chance.

    python benchmarks/pocket_v4_sweep.py --seeds 0,1,2,3,4 --out benchmarks/results/pocket_v4_sweep.md

Nothing here reads test for a choice except the task table, whose test numbers are the
criteria the suite states (as pocket.v3's were); the head epochs come from table 0, on gold val.
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

CANDIDATES = (
    "multiemo_sentences,tweet_sentiment,rotten_tomatoes.v3,election_tweets,reuters_earn_acq,"
    "vitaminc,newsgroups_sci_comp,multiemo_reviews"
)
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


def ladder_table(tasks, seeds, cache, split: str = "val", extra: tuple[int, ...] = ()) -> list[str]:
    """Every rung's head trained on student_train gold (selected on val), its gold accuracy on
    `split` (val, or test: 2000 examples where the task has them, four times val's). `extra`
    depths are measured beside the ladder as off-ladder cuts, with the first rung's head settings
    (its epochs: 10 on pocket_mpnet, where the deeper rungs train 2); one forward pass of the
    deepest missing cut gives them."""
    from w2s_bench.features import rung_key
    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import MARKER, Cache, _gold, _texts, frozen_features, key_of
    from w2s_bench.tasks import load_splits, load_task
    from w2s_bench.tasks.builders import split_hash
    from w2s_bench.train import Labeled, fit

    ladder, cache = load_ladder(LADDER), Cache(cache)
    names = [r.name for r in ladder.rungs]
    first = ladder.rungs[0]
    mpnet0 = first.model_copy(update={"name": "mpnet0", "num_layers": 0})
    mpnet12 = first.model_copy(update={"name": "mpnet12", "num_layers": 12})
    cuts = [first.model_copy(update={"name": f"mpnet{k}", "num_layers": k}) for k in extra]
    lines = [
        "| task | mpnet0 (off) | "
        + " | ".join(names + [f"{c.name} (off)" for c in cuts])
        + " | mpnet12 (off) | smallest step | ladder strictly rising |",
        "|---|---|" + "---|" * (len(names) + len(cuts) + 3),
    ]

    def acc(r, train, val, ev):
        return float(
            np.mean(
                [((fit(r, train, val, seed).predict(ev.texts) > 0.5) == (ev.targets > 0.5)).mean() for seed in seeds]
            )
        )

    for t in tasks:
        splits = load_splits(load_task(t))
        reads = tuple(dict.fromkeys(("student_train", "val", split)))
        frozen_features(cache, [(r, reads) for r in (mpnet0, *ladder.rungs, *cuts)], splits, {"task": t})
        train = Labeled(_texts(splits["student_train"]), _gold(splits["student_train"]))
        val = Labeled(_texts(splits["val"]), _gold(splits["val"]))
        ev = Labeled(_texts(splits[split]), _gold(splits[split]))
        accs = [acc(r, train, val, ev) for r in ladder.rungs]
        cached = all(
            (
                cache.folder("frozen_features", key_of("frozen_features", rung_key(mpnet12), split_hash(splits[s])))
                / MARKER
            ).exists()
            for s in reads
        )
        if cached:
            frozen_features(cache, [(mpnet12, reads)], splits, {"task": t})
        top = f"{acc(mpnet12, train, val, ev):.3f}" if cached else "not computed"
        steps = [b - a for a, b in zip(accs, accs[1:])]
        lines.append(
            f"| {t} | {acc(mpnet0, train, val, ev):.3f} | "
            + " | ".join(f"{a:.3f}" for a in accs + [acc(c, train, val, ev) for c in cuts])
            + f" | {top} | {min(steps):+.3f} | {'yes' if min(steps) > 0 else 'no'} |"
        )
        print(lines[-1], flush=True)
    return lines


EPOCHS = (1, 2, 5, 10, 20)


def epochs_table(tasks, seeds, cache) -> list[str]:
    """pocket.v3's rule for a rung's head epochs, on the rung's own training set (the weak rung:
    the protocol's weak_train subset; the others: student_train), scored on gold val: the best
    mean val accuracy among 1 / 2 / 5 / 10 / 20 epochs, unless the a-priori 2 is within one
    binomial SE of the val set of the best."""
    import math

    from w2s_bench.registry import load_ladder, load_suite
    from w2s_bench.specs import SPLITS
    from w2s_bench.stages import Cache, _gold, _texts, frozen_features
    from w2s_bench.tasks import load_splits, load_task, weak_subset
    from w2s_bench.train import Labeled, fit

    ladder, cache = load_ladder(LADDER), Cache(cache)
    suite = load_suite("pocket.v4")
    weak = suite.pairs[0][0]
    data = {t: load_splits(load_task(t)) for t in tasks}
    lines = [
        "| rung | trained on | " + " | ".join(f"{e} epochs" for e in EPOCHS) + " | rule's choice |",
        "|---|---|" + "---|" * len(EPOCHS) + "---|",
    ]
    for rung in ladder.rungs:
        scores, n_val = [], 0
        for e in EPOCHS:
            accs = []
            for t, splits in data.items():
                frozen_features(cache, [(r, SPLITS) for r in ladder.rungs], splits, {"task": t})
                rows = (
                    weak_subset(splits["weak_train"], suite.protocol.weak_train_size)
                    if rung.name == weak
                    else splits["student_train"]
                )
                train, val = Labeled(_texts(rows), _gold(rows)), Labeled(_texts(splits["val"]), _gold(splits["val"]))
                n_val = len(val.texts)
                for seed in seeds:
                    p = fit(rung.model_copy(update={"epochs": e}), train, val, seed).predict(val.texts)
                    accs.append(float(((p > 0.5) == (val.targets > 0.5)).mean()))
            scores.append(float(np.mean(accs)))
        best = int(np.argmax(scores))
        se = math.sqrt(scores[best] * (1 - scores[best]) / n_val)
        choice = 2 if scores[best] - scores[EPOCHS.index(2)] <= se else EPOCHS[best]
        lines.append(
            f"| {rung.name} | {'weak_train subset' if rung.name == weak else 'student_train'} gold | "
            + " | ".join(f"{x:.3f}" for x in scores)
            + f" | {choice} |"
        )
        print(lines[-1], flush=True)
    return lines


SIZES = (200, 400, 1000, 2000)


def weak_size_table(tasks, seeds, cache) -> list[str]:
    """The weak end: gold val accuracy of the weak rung trained on a balanced prefix of weak_train
    of each size (tasks.weak_subset), beside the headline strong rung trained on student_train."""
    from w2s_bench.registry import load_ladder, load_suite
    from w2s_bench.specs import SPLITS
    from w2s_bench.stages import Cache, _gold, _texts, frozen_features
    from w2s_bench.tasks import load_splits, load_task, weak_subset
    from w2s_bench.train import Labeled, fit

    ladder, cache = load_ladder(LADDER), Cache(cache)
    weak, strong = (ladder.rung(n) for n in load_suite("pocket.v4").protocol.headline)
    lines = [
        "| task | " + " | ".join(f"{weak.name} on {n}" for n in SIZES) + f" | {strong.name} on student_train |",
        "|---|" + "---|" * (len(SIZES) + 1),
    ]

    def acc(r, rows, val):
        train = Labeled(_texts(rows), _gold(rows))
        return float(
            np.mean(
                [((fit(r, train, val, seed).predict(val.texts) > 0.5) == (val.targets > 0.5)).mean() for seed in seeds]
            )
        )

    for t in tasks:
        splits = load_splits(load_task(t))
        frozen_features(cache, [(r, SPLITS) for r in ladder.rungs], splits, {"task": t})
        val = Labeled(_texts(splits["val"]), _gold(splits["val"]))
        lines.append(
            f"| {t} | "
            + " | ".join(f"{acc(weak, weak_subset(splits['weak_train'], n), val):.3f}" for n in SIZES)
            + f" | {acc(strong, splits['student_train'], val):.3f} |"
        )
        print(lines[-1], flush=True)
    return lines


def task_table(tasks, seeds, cache, tmp) -> list[str]:
    from w2s_bench.audit import audit_task
    from w2s_bench.run import evaluate
    from w2s_bench.tasks import load_splits, load_task

    lines = [
        "| task | source | test n | weak acc | ceiling acc | gap | naive acc | naive PGR (acc) | "
        "audit | near-dup test share | meets criteria |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in tasks:
        spec = load_task(task)
        res = evaluate(
            method="naive",
            suite="pocket.v4",
            ladder=LADDER,
            pairs=[("mpnet1", "mpnet8")],
            seeds=seeds,
            tasks=[task],
            cache_dir=cache,
            out=tmp / task,
            quiet=True,
        )["result"]
        cells = res.cells
        w = np.mean([c.weak.accuracy for c in cells])
        c_ = np.mean([c.ceiling.accuracy for c in cells])
        s = np.mean([c.student.accuracy for c in cells])
        audit = audit_task(spec)
        dup = near_duplicate_share(load_splits(spec))
        why = [
            x
            for x, bad in (
                ("weak < 0.60", w < 0.60),
                ("gap < 0.08", c_ - w < 0.08),
                ("test < 1000", cells[0].n_test < 1000),
                ("audit", not audit["within"]),
            )
            if bad
        ]
        lines.append(
            f"| {task} | {spec.source.type} {spec.source.package} | {cells[0].n_test} | {w:.3f} | "
            f"{c_:.3f} | {c_ - w:+.3f} | {s:.3f} | {_ci(x.pgr_accuracy for x in cells)} | "
            f"{audit['accuracy']:.3f} {'within' if audit['within'] else 'LEAK'} | {dup:.3f} | "
            f"{'yes' if not why else 'no: ' + ', '.join(why)} |"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--ladder-seeds", default="0,1,2")
    ap.add_argument("--tasks", default=CANDIDATES, help="candidate tasks")
    ap.add_argument("--skip", choices=["epochs", "weak", "ladder", "tasks"], action="append", default=[])
    ap.add_argument(
        "--epochs-tasks",
        default="multiemo_sentences,tweet_sentiment,rotten_tomatoes.v3",
        help="tasks of the head-epochs and weak-end tables",
    )
    ap.add_argument(
        "--ladder-split", default="val", choices=["val", "test"], help="where the ladder table scores gold accuracy"
    )
    ap.add_argument(
        "--extra-cuts",
        default="",
        help="off-ladder depths measured beside the ladder table (first rung's head settings), e.g. 2,4,6",
    )
    ap.add_argument("--cache-dir", default=None, help="stage cache (default: $W2S_BENCH_HOME/cache)")
    ap.add_argument("--out", default="benchmarks/results/pocket_v4_sweep.md")
    args = ap.parse_args(argv)
    from w2s_bench.assets import home

    seeds = [int(s) for s in args.seeds.split(",")]
    cache = Path(args.cache_dir or home() / "cache")
    tasks = args.tasks.split(",")
    t0, out = time.time(), ["# pocket.v4 sweep (benchmarks/pocket_v4_sweep.py)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        if "epochs" not in args.skip:
            out += [
                f"## Head epochs per rung: gold val accuracy (mean over tasks {args.epochs_tasks} and "
                f"seeds {args.ladder_seeds})",
                "",
            ]
            out += epochs_table(args.epochs_tasks.split(","), [int(s) for s in args.ladder_seeds.split(",")], cache) + [
                ""
            ]
        if "weak" not in args.skip:
            out += [
                f"## The weak end: weak rung on a prefix of weak_train, gold val accuracy (mean over seeds "
                f"{args.ladder_seeds})",
                "",
            ]
            out += weak_size_table(
                args.epochs_tasks.split(","), [int(s) for s in args.ladder_seeds.split(",")], cache
            ) + [""]
        if "ladder" not in args.skip:
            out += [
                f"## Ladder {LADDER}: gold {args.ladder_split} accuracy, head trained on student_train gold "
                f"(mean over seeds {args.ladder_seeds})",
                "",
            ]
            ladder_seeds = [int(s) for s in args.ladder_seeds.split(",")]
            extra = tuple(int(k) for k in args.extra_cuts.split(",") if k)
            out += ladder_table(tasks, ladder_seeds, cache, args.ladder_split, extra) + [""]
        if "tasks" not in args.skip:
            out += [f"## Candidate tasks (weak mpnet1 -> strong mpnet8, naive, seeds {args.seeds})", ""]
            out += task_table(tasks, seeds, cache, Path(tmp)) + [""]
    out.append(
        f"`python benchmarks/pocket_v4_sweep.py --seeds {args.seeds} --ladder-seeds {args.ladder_seeds} "
        + (f"--epochs-tasks {args.epochs_tasks} " if {"epochs", "weak"} - set(args.skip) else "")
        + (f"--tasks {args.tasks}" if {"ladder", "tasks"} - set(args.skip) else "")
        + (f" --ladder-split {args.ladder_split}" if args.ladder_split != "val" else "")
        + (f" --extra-cuts {args.extra_cuts}" if args.extra_cuts else "")
        + "".join(f" --skip {s}" for s in args.skip)
        + f"`: {time.time() - t0:.0f} s on this machine "
        f"(stage cache shared with earlier runs; features of a task not yet cached are computed first)."
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
