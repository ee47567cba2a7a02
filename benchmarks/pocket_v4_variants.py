"""How wide is pocket.v4's suite-mean CI at 5 seeds, and does a protocol variant narrow it?

Runs naive and aux_conf on the headline pair (mpnet1 -> mpnet8, all four tasks, seeds 0-4)
through `w2s_bench.evaluate` (sealed method processes, the stage cache) under variants of the
suite's protocol and the ladder's head epochs, and prints, per variant: each method's suite-mean
PGR with its 95 % t half-width, the seed-to-seed standard deviation behind it, and the paired
aux_conf - naive difference. Then, for the 5-seed sd measured, the half-width 10 seeds would give
(t(9) / sqrt(10) x sd, against t(4) / sqrt(5) x sd at 5).

    python benchmarks/pocket_v4_variants.py --out benchmarks/results/pocket_v4_variants.md

A variant is applied by editing the loaded specs in this process (nothing on disk changes); its
cells are cached like any run's under their own keys.
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

SEEDS = [0, 1, 2, 3, 4]
# (label, weak_train_size, mpnet1 epochs, strong rungs' epochs); the first is the suite as shipped
VARIANTS = [
    ("as shipped: weak on 400, epochs 10 / 2", 400, 10, 2),
    ("weak on 200", 200, 10, 2),
    ("weak on 100", 100, 10, 2),
    ("weak head 40 epochs", 400, 40, 2),
    ("weak head 40, strong heads 5 epochs", 400, 40, 5),
]


def run_variant(size, weak_epochs, strong_epochs, methods, out):
    from w2s_bench import registry
    from w2s_bench.run import evaluate

    load_suite, load_ladder = registry.load_suite, registry.load_ladder

    def suite(name):
        s = load_suite(name)
        return s.model_copy(update={"protocol": s.protocol.model_copy(update={"weak_train_size": size})})

    def ladder(name):
        lad = load_ladder(name)
        epochs = {r.name: weak_epochs if r.name == "mpnet1" else strong_epochs for r in lad.rungs}
        return lad.model_copy(update={"rungs": [r.model_copy(update={"epochs": epochs[r.name]}) for r in lad.rungs]})

    registry.load_suite, registry.load_ladder = suite, ladder
    try:
        return {
            m: evaluate(
                method=m,
                suite="pocket.v4",
                pairs=[("mpnet1", "mpnet8")],
                seeds=SEEDS,
                out=out / m,
                quiet=True,
            )["result"]
            for m in methods
        }
    finally:
        registry.load_suite, registry.load_ladder = load_suite, load_ladder


def main(argv=None) -> int:
    from scipy import stats

    from w2s_bench.scoring import fmt_ci, mean_ci, paired_difference, seed_means

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/results/pocket_v4_variants.md")
    args = ap.parse_args(argv)
    t0 = time.time()
    k5, k10 = stats.t.ppf(0.975, 4) / np.sqrt(5), stats.t.ppf(0.975, 9) / np.sqrt(10)
    lines = [
        "| variant | naive PGR (5 seeds) | seed sd | aux_conf PGR (5 seeds) | seed sd | aux_conf − naive, paired "
        "| half-width at 10 seeds, from the sd (naive / aux_conf) |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, size, we, se in VARIANTS:
            res = run_variant(size, we, se, ["naive", "aux_conf"], Path(tmp) / label.replace(" ", "_"))
            cells = {m: [c.model_dump() for c in r.cells] for m, r in res.items()}
            row, sds = [label], []
            for m in ("naive", "aux_conf"):
                per_seed = [v for v in seed_means(cells[m]).values() if v is not None]
                sd = float(np.std(per_seed, ddof=1))
                sds.append(sd)
                row += [fmt_ci(*mean_ci(per_seed)), f"{sd:.3f}"]
            row.append(fmt_ci(*paired_difference(cells["aux_conf"], cells["naive"])))
            row.append(" / ".join(f"{sd * k10:.3f}" for sd in sds))
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    text = (
        "# pocket.v4: the suite mean's CI at 5 seeds under protocol variants (benchmarks/pocket_v4_variants.py)\n\n"
        "Headline pair mpnet1 -> mpnet8, four tasks, seeds 0-4; per seed the mean over tasks, then mean ± 95 % "
        f"t half-width over seeds (t(4)/sqrt(5) = {k5:.2f} sd; at 10 seeds t(9)/sqrt(10) = {k10:.2f} sd).\n\n"
        + "\n".join(lines)
        + f"\n\n`python benchmarks/pocket_v4_variants.py --out {args.out}`: {time.time() - t0:.0f} s on this "
        "2-core machine (stage cache shared with earlier runs).\n"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
