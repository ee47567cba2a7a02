"""What `verify --reproduce` costs CI for one entry: every cell re-run under bubblewrap from an
empty stage cache, then the memorizer canary, exactly as verify runs it on a new entry; prints
verify's notes and problems and the wall time.

    python benchmarks/reproduce_time.py leaderboard/entries/pocket.v3/pocket_frozen/naive \\
        --features-cache ~/.cache/w2s-bench/cache

`--features-cache`: a stage cache holding the frozen features (CI keeps one, filled from pinned
weights by its own verify job); without it the features are computed in the run (a cold CI cache).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("entry", type=Path)
    ap.add_argument("--features-cache", type=Path)
    ap.add_argument("--cells", type=int, help="a sample instead of every cell")
    args = ap.parse_args()
    from w2s_bench.leaderboard import entry as E
    from w2s_bench.leaderboard.reproduce import reproduce_entries

    result = E.read_result(args.entry / "result.json")
    notes, t0 = [], time.time()
    problems = reproduce_entries([(args.entry, result, [])], args.cells, notes, args.features_cache)
    wall = time.time() - t0
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(f"FAIL  {p}")
    print(
        f"{args.entry}: {len(result.cells)} cells, verify --reproduce {wall:.0f} s "
        f"({'features from ' + str(args.features_cache) if args.features_cache else 'features computed'})"
    )


if __name__ == "__main__":
    main()
