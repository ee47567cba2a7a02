"""Compare two results of one suite and method per task, e.g. a GPU run against the CPU
leaderboard entry: do they agree within seed noise?

    python benchmarks/compare_results.py GPU_RESULTS_DIR leaderboard/entries/pocket/pocket/naive \
        [--names GPU,CPU] [--out compare.md]

For each task and metric (test accuracy of weak, ceiling and student; PGR on accuracy and on
AUROC) it gives each run's mean and standard deviation over seeds, the difference of the means,
and the noise bound 2·sqrt(sd_a²/n_a + sd_b²/n_b) (two standard errors of the difference, from the
seed-to-seed spread of both runs); "agree" when |difference| <= that bound. With 3 seeds per run the
bound is itself rough. Both runs must hold the same suite, ladder, method, pairs and split hashes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

METRICS = (
    ("weak acc", ("weak", "accuracy")),
    ("ceiling acc", ("ceiling", "accuracy")),
    ("student acc", ("student", "accuracy")),
    ("PGR acc", ("pgr_accuracy",)),
    ("PGR AUROC", ("pgr_auroc",)),
)


def load(folder) -> dict:
    path = Path(folder) / "result.json"
    if not path.exists():
        raise SystemExit(f"{folder}: no result.json (give a results directory or a leaderboard entry)")
    return json.loads(path.read_text())


def _value(cell: dict, keys: tuple) -> float:
    v = cell
    for k in keys:
        v = v[k] if v is not None else None
    return math.nan if v is None else float(v)


def _stats(xs: list[float]) -> tuple[float, float, int]:
    xs = [x for x in xs if not math.isnan(x)]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return mean, sd, n


def check_comparable(a: dict, b: dict) -> None:
    for key in ("suite", "ladder", "method", "pairs"):
        if a[key] != b[key]:
            raise SystemExit(f"not comparable: {key} is {a[key]!r} vs {b[key]!r}")
    for task, info in a["tasks"].items():
        other = b["tasks"].get(task)
        if other is None or other["split_sha256"] != info["split_sha256"]:
            raise SystemExit(f"not comparable: task {task} is missing or has other split hashes")


def compare(a: dict, b: dict) -> list[dict]:
    """One row per task x pair x metric."""
    check_comparable(a, b)
    rows = []
    for task in a["tasks"]:
        for weak, strong in a["pairs"]:
            ca, cb = (
                [c for c in r["cells"] if (c["task"], c["weak_rung"], c["strong_rung"]) == (task, weak, strong)]
                for r in (a, b)
            )
            for label, keys in METRICS:
                ma, sa, na = _stats([_value(c, keys) for c in ca])
                mb, sb, nb = _stats([_value(c, keys) for c in cb])
                diff = ma - mb
                noise = 2 * math.sqrt((sa**2) / na + (sb**2) / nb) if na > 1 and nb > 1 else math.nan
                rows.append(
                    {
                        "task": task,
                        "pair": f"{weak}->{strong}",
                        "metric": label,
                        "mean_a": ma,
                        "sd_a": sa,
                        "n_a": na,
                        "mean_b": mb,
                        "sd_b": sb,
                        "n_b": nb,
                        "diff": diff,
                        "noise": noise,
                        "agree": bool(abs(diff) <= noise) if not math.isnan(diff * noise) else None,
                    }
                )
    return rows


def markdown(rows: list[dict], names=("A", "B")) -> str:
    def f(x):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    a, b = names
    lines = [
        f"| task | pair | metric | {a} mean ± sd | {b} mean ± sd | {a} − {b} | noise (2 SE) | agree |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        agree = {True: "yes", False: "**no**", None: "n/a"}[r["agree"]]
        lines.append(
            f"| {r['task']} | {r['pair']} | {r['metric']} | {f(r['mean_a'])} ± {f(r['sd_a'])} | "
            f"{f(r['mean_b'])} ± {f(r['sd_b'])} | {f(r['diff'])} | {f(r['noise'])} | {agree} |"
        )
    judged = [r for r in rows if r["agree"] is not None]
    lines.append("")
    lines.append(f"{sum(r['agree'] for r in judged)} of {len(judged)} task × metric rows agree within seed noise.")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="results directory (e.g. the GPU run)")
    ap.add_argument("b", help="results directory or leaderboard entry (e.g. the CPU entry)")
    ap.add_argument("--names", default="A,B", help="column names for a and b, e.g. GPU,CPU")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args(argv)
    ra, rb = load(args.a), load(args.b)
    rows = compare(ra, rb)
    names = tuple(args.names.split(","))
    env = "\n".join(
        f"- {n}: {r['environment']['device']}, dtype {r['environment']['dtype']}, "
        f"torch {r['environment']['packages'].get('torch')}, seeds {r['seeds']}, "
        f"wall time {r['wall_time_s']} s"
        for n, r in zip(names, (ra, rb))
    )
    text = f"{ra['suite']} suite, ladder {ra['ladder']}, method {ra['method']}\n\n{env}\n\n" + markdown(rows, names)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return rows


if __name__ == "__main__":
    main()
