"""Test accuracy of ladder rungs trained on gold labels, per task: how a pocket task and its
default pair were chosen (ceiling - weak must be >= 5 points).

    python benchmarks/rung_accuracy.py --tasks sciq,boolq --rungs L1,L6 [--seed 0]

The weakest rung trains on `weak_train`, the others on `student_train` (as weak model and ceiling
do in the protocol); all select on gold `val`. Prints one line per task x rung.
"""

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from w2s_bench.registry import load_ladder  # noqa: E402
from w2s_bench.scoring import metrics  # noqa: E402
from w2s_bench.tasks import load_splits, load_task  # noqa: E402
from w2s_bench.train import Labeled, fit  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--rungs", default="L1,L6")
    ap.add_argument("--ladder", default="pocket")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ladder = load_ladder(args.ladder)
    weakest = ladder.rungs[0].name
    for task in args.tasks.split(","):
        splits = load_splits(load_task(task))

        def labeled(s, splits=splits):
            return Labeled(tuple(r["text"] for r in splits[s]), np.array([r["label"] for r in splits[s]], dtype=float))

        for name in args.rungs.split(","):
            t0 = time.time()
            train = labeled("weak_train" if name == weakest else "student_train")
            model = fit(ladder.rung(name), train, labeled("val"), seed=args.seed, desc=name)
            m = metrics(labeled("test").targets, model.predict(labeled("test").texts))
            print(
                f"{task:16s} {name}  test acc {m['accuracy']:.3f}  AUROC {m['auroc']:.3f}  ({time.time() - t0:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
