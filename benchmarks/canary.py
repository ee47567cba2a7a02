"""The memorizer canary, measured: every committed entry of a suite re-run on label-preserving
edits of its test texts (leaderboard/canary.py), per seed, against the entry's own predictions;
then a memorizer (tests/memorizer.py: the test labels shipped as a table) run and canaried the
same way. Prints one markdown table: per method and seed the ceiling's and the student's accuracy
on the texts and on the edited texts, the excess drop (student's drop - ceiling's) and the verdict
at MAX_EXCESS_DROP.

    python benchmarks/canary.py --suite pocket.v3 --seeds 0,1,2,3,4

One edit draw per seed (seed 1000 + s), shared by every method, so the weak models and ceilings
on edited texts are trained once per seed. Frozen features of the unedited splits are read from
the stage cache ($W2S_BENCH_HOME/cache); the edited test texts are encoded here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def canary_rows(folder: Path, seeds, cache: Path) -> list[dict]:
    from w2s_bench.leaderboard import canary as C
    from w2s_bench.leaderboard import entry as E
    from w2s_bench.leaderboard.reproduce import WHO, _stored, cells_of, rerun_cell

    result = E.read_result(folder / "result.json")
    rows = []
    for cell in cells_of(result):
        if cell[3] not in seeds:
            continue
        t0 = time.time()
        fresh, gold = rerun_cell(result, cell, cache, edit_seed=1000 + cell[3])
        acc, why = C.canary(_stored(folder, cell), {w: getattr(fresh, w) for w in WHO}, gold)
        rows.append(
            {
                "method": result.method,
                "task": cell[0],
                "seed": cell[3],
                "ceiling": acc["ceiling"],
                "student": acc["student"],
                "excess": (acc["student"][0] - acc["student"][1]) - (acc["ceiling"][0] - acc["ceiling"][1]),
                "rejected": why is not None,
                "s": time.time() - t0,
            }
        )
        print(f"{result.method} {cell}: {rows[-1]['excess']:+.3f} ({rows[-1]['s']:.0f} s)", file=sys.stderr)
    return rows


def memorizer_entry(suite: str, seeds, out: Path) -> Path:
    """The memorizer's result on `suite`, its table built from the public test data."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from memorizer import table_for

    from w2s_bench import registry
    from w2s_bench.run import evaluate

    tasks = registry.load_suite(suite).tasks
    module = out / "memo_suite.py"
    module.write_text(
        "from memorizer import Memorizer\n\n\nclass Memo(Memorizer):\n"
        "    class Config(Memorizer.Config):\n"
        f"        table: str = {''.join(table_for(t) for t in tasks)!r}\n"
    )
    sys.path.insert(0, str(out))
    registry.METHODS["memorizer"] = "memo_suite:Memo"
    evaluate(method="memorizer", suite=suite, seeds=list(seeds), out=out / "memorizer", quiet=True)
    return out / "memorizer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="pocket.v3")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--methods", help="comma-separated (default: every entry of the suite)")
    args = ap.parse_args()
    from w2s_bench.assets import home
    from w2s_bench.leaderboard import canary as C
    from w2s_bench.leaderboard.entry import default_root
    from w2s_bench.registry import load_suite

    seeds = [int(s) for s in args.seeds.split(",")]
    suite = load_suite(args.suite)
    folders = sorted((default_root() / "entries" / args.suite / suite.ladder).iterdir())
    if args.methods:
        folders = [f for f in folders if f.name in args.methods.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="w2s-canary-") as d:
        cache = Path(d) / "cache"
        cache.mkdir()
        (cache / "frozen_features").symlink_to(home() / "cache" / "frozen_features", target_is_directory=True)
        for folder in folders:
            rows += canary_rows(folder, seeds, cache)
        rows += canary_rows(memorizer_entry(args.suite, seeds, Path(d)), seeds, cache)
    print(
        f"`python benchmarks/canary.py --suite {args.suite} --seeds {args.seeds}` "
        f"(MAX_EXCESS_DROP = {C.MAX_EXCESS_DROP}; accuracy on the test texts -> on the edited texts)\n"
    )
    print("| method | task | seed | ceiling | student | excess drop | rejected |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| `{r['method']}` | {r['task']} | {r['seed']} | {r['ceiling'][0]:.3f} -> {r['ceiling'][1]:.3f} | "
            f"{r['student'][0]:.3f} -> {r['student'][1]:.3f} | {r['excess']:+.3f} | "
            f"{'**yes**' if r['rejected'] else 'no'} |"
        )
    honest = [r["excess"] for r in rows if r["method"] != "memorizer"]
    mem = [r["excess"] for r in rows if r["method"] == "memorizer"]
    print(
        f"\nhonest methods: largest excess drop {max(honest):+.3f}, mean {sum(honest) / len(honest):+.3f} "
        f"over {len(honest)} cells; memorizer: smallest {min(mem):+.3f}, rejected on "
        f"{sum(r['rejected'] for r in rows if r['method'] == 'memorizer')}/{len(mem)}"
    )


if __name__ == "__main__":
    main()
