"""The board's data: every entry's result read from `leaderboard/entries/`, and the ranked frame of
PGRs every view of the board (LEADERBOARD.md, leaderboard.csv, the plots, the site) is drawn from.
Numbers are recomputed from the cells with the scorer's own `summarize`."""

from __future__ import annotations

import math
from pathlib import Path

from w2s_bench.leaderboard.entry import identity, read_result

PLOT_DIR = "plots"
BASELINE = "naive"  # every method's mean PGR is also compared with this one's, paired by seed


def load_entries(root: Path) -> list:
    """[(folder relative to root, Result)] of every entry, sorted by identity path."""
    root = Path(root)
    out = []
    for path in sorted((root / "entries").glob("*/*/*/result.json")):
        out.append((path.parent.relative_to(root).as_posix(), read_result(path)))
    return out


STATE_ORDER = {"default": 0, "live": 1, "retired": 2}


def suite_status(suite: str) -> tuple[str, str | None]:
    """(state, reason) of a suite from its spec's [status]; ("retired", ...) for a suite whose
    spec is not in this version."""
    from w2s_bench import registry
    from w2s_bench.specs import SpecError

    try:
        status = registry.load_suite(suite).status
    except SpecError:
        return "retired", "its suite spec is not in this version"
    return status.state, status.reason


def by_status(groups: dict) -> list:
    """The (suite, ladder) groups' items, the default suite first, retired suites last."""
    return sorted(groups.items(), key=lambda kv: (STATE_ORDER[suite_status(kv[0][0])[0]], kv[0]))


def ci_rerun(result) -> str:
    """What CI re-ran of an entry before it was merged (verify --reproduce; leaderboard/reproduce.py)."""
    from w2s_bench.leaderboard.entry import not_rerunnable

    if result.schema_version < 3:
        return "predates CI re-runs"
    return "not reproduced by CI" if not_rerunnable(result) else "sampled cells"


def num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


BEATS_CEILING = "student beats its ceiling (PGR > 1 beyond its CI)"


def beats_ceiling(pgr, ci) -> bool:
    """PGR above 1 by more than its CI: the student is better than the strong model trained on
    gold, which no weak-to-strong method should manage; the board flags it, check-method fails."""
    pgr, ci = num(pgr), num(ci)
    return pgr is not None and pgr - (ci or 0.0) > 1.0


def board_frame(entries):
    """One row per suite x ladder x method x task (task '(mean)' for the suite mean), ranked."""
    import pandas as pd

    from w2s_bench.scoring import paired_difference, summarize

    naive = {(r.suite, r.ladder): [c.model_dump() for c in r.cells] for _, r in entries if identity(r).name == BASELINE}
    rows = []
    for folder, r in entries:
        cells = [c.model_dump() for c in r.cells]
        per_pair, per_task, suite = summarize(cells, r.protocol.headline)
        common = {
            "suite": r.suite,
            "ladder": r.ladder,
            "method": identity(r).name,  # + ceiling
            "seeds": ",".join(map(str, r.seeds)),
            "wall_time_s": r.wall_time_s,
            "device": r.environment.device,
            "method_config_sha256": r.method_config_sha256,
            "ci_rerun": ci_rerun(r),
            "entry": folder,
        }
        accs = per_pair.groupby("task", sort=False)[["weak_acc", "ceiling_acc", "student_acc"]].mean()
        s = suite.iloc[0]
        flagged = beats_ceiling(s.pgr_acc, s.pgr_acc_ci) or any(
            beats_ceiling(t.pgr_acc, t.pgr_acc_ci) for t in per_task.itertuples()
        )
        common["flag"] = BEATS_CEILING if flagged else ""
        for t in per_task.itertuples():
            rows.append(
                {
                    **common,
                    "task": t.task,
                    "pgr_acc": num(t.pgr_acc),
                    "pgr_acc_ci": num(t.pgr_acc_ci),
                    "pgr_auroc": num(t.pgr_auroc),
                    "pgr_auroc_ci": num(t.pgr_auroc_ci),
                    **{k: float(accs.loc[t.task, k]) for k in accs.columns},
                }
            )
        base = naive.get((r.suite, r.ladder))
        vs = (
            paired_difference(cells, base, headline=r.protocol.headline)
            if base is not None and identity(r).name != BASELINE
            else (None, None)
        )
        rows.append(
            {
                **common,
                "task": "(mean)",
                "pgr_acc": num(s.pgr_acc),
                "pgr_acc_ci": num(s.pgr_acc_ci),
                "vs_naive": num(vs[0]),
                "vs_naive_ci": num(vs[1]),
                "pgr_auroc": num(s.pgr_auroc),
                "pgr_auroc_ci": num(s.pgr_auroc_ci),
                "weak_acc": float(accs.weak_acc.mean()),
                "ceiling_acc": float(accs.ceiling_acc.mean()),
                "student_acc": float(accs.student_acc.mean()),
            }
        )
    cols = [
        "suite",
        "ladder",
        "rank",
        "method",
        "task",
        "pgr_acc",
        "pgr_acc_ci",
        "vs_naive",
        "vs_naive_ci",
        "pgr_auroc",
        "pgr_auroc_ci",
        "weak_acc",
        "ceiling_acc",
        "student_acc",
        "seeds",
        "wall_time_s",
        "device",
        "method_config_sha256",
        "ci_rerun",
        "flag",
        "entry",
    ]
    df = pd.DataFrame(rows, columns=[c for c in cols if c != "rank"])
    ranks = {}
    means = df[df.task == "(mean)"]
    for _, g in means.groupby(["suite", "ladder"]):
        for row in g.itertuples():
            v = row.pgr_acc
            better = sum(
                1 for o in g.pgr_acc if o is not None and not math.isnan(o) and (v is None or math.isnan(v) or o > v)
            )
            ranks[row.suite, row.ladder, row.method] = better + 1
    df.insert(2, "rank", [ranks[k] for k in zip(df.suite, df.ladder, df.method)] if len(df) else [])
    return df.sort_values(["suite", "ladder", "rank", "method"], kind="stable").reset_index(drop=True)


def _fmt_acc(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3f}" if round(lo, 3) == round(hi, 3) else f"{lo:.3f}–{hi:.3f}"


def weak_and_ceiling(group, tasks: list[str], pairs: list[str]) -> list[list[str]]:
    """[task, pair, weak acc, ceiling acc] of one suite and ladder's entries (`group`): test
    accuracy, mean over seeds, as a range where the entries' weak models or ceilings differ."""
    rows = []
    for t in tasks:
        for p in pairs:
            accs = {who: [] for who in ("weak", "ceiling")}
            for _, r in group:
                cs = [c for c in r.cells if c.task == t and f"{c.weak_rung}->{c.strong_rung}" == p]
                for who in accs:
                    if cs:
                        accs[who].append(sum(getattr(c, who).accuracy for c in cs) / len(cs))
            if accs["weak"]:
                rows.append([t, p, _fmt_acc(accs["weak"]), _fmt_acc(accs["ceiling"])])
    return rows
