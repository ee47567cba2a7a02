"""`w2s-bench leaderboard build`: LEADERBOARD.md and leaderboard.csv from the entries' results
(numbers recomputed from the cells with the scorer's own `summarize`), plus the plots.

One section per suite and ladder: a header table with the weak and ceiling accuracy per task and
pair, and a table with one row per method — PGR (accuracy) per task and the mean over tasks, each
the mean over seeds ± 95 % t-interval — ranked by the mean over tasks.
"""
from __future__ import annotations

import math
from pathlib import Path

from w2s_bench.leaderboard.entry import LeaderboardError, identity, read_result

MD_FILE, CSV_FILE, PLOT_DIR = "LEADERBOARD.md", "leaderboard.csv", "plots"
BASELINE = "naive"  # every method's mean PGR is also compared with this one's, paired by seed


def load_entries(root: Path) -> list:
    """[(folder relative to root, Result)] of every entry, sorted by identity path."""
    root = Path(root)
    out = []
    for path in sorted((root / "entries").glob("*/*/*/result.json")):
        out.append((path.parent.relative_to(root).as_posix(), read_result(path)))
    return out


def ci_rerun(result) -> str:
    """What CI re-ran of an entry before it was merged (verify --reproduce; leaderboard/reproduce.py)."""
    from w2s_bench.leaderboard.entry import not_rerunnable
    if result.schema_version < 3:
        return "predates CI re-runs"
    return "not reproduced by CI" if not_rerunnable(result) else "sampled cells"


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def board_frame(entries):
    """One row per suite x ladder x method x task (task '(mean)' for the suite mean), ranked."""
    import pandas as pd

    from w2s_bench.scoring import paired_difference, summarize
    naive = {(r.suite, r.ladder): [c.model_dump() for c in r.cells]
             for _, r in entries if identity(r).name == BASELINE}
    rows = []
    for folder, r in entries:
        cells = [c.model_dump() for c in r.cells]
        per_pair, per_task, suite = summarize(cells)
        common = {"suite": r.suite, "ladder": r.ladder, "method": identity(r).name,  # + ceiling
                  "seeds": ",".join(map(str, r.seeds)), "wall_time_s": r.wall_time_s,
                  "device": r.environment.device, "method_config_sha256": r.method_config_sha256,
                  "ci_rerun": ci_rerun(r), "entry": folder}
        accs = per_pair.groupby("task", sort=False)[["weak_acc", "ceiling_acc", "student_acc"]].mean()
        for t in per_task.itertuples():
            rows.append({**common, "task": t.task, "pgr_acc": _num(t.pgr_acc), "pgr_acc_ci": _num(t.pgr_acc_ci),
                         "pgr_auroc": _num(t.pgr_auroc), "pgr_auroc_ci": _num(t.pgr_auroc_ci),
                         **{k: float(accs.loc[t.task, k]) for k in accs.columns}})
        s = suite.iloc[0]
        base = naive.get((r.suite, r.ladder))
        vs = paired_difference(cells, base) if base is not None and identity(r).name != BASELINE else (None, None)
        rows.append({**common, "task": "(mean)", "pgr_acc": _num(s.pgr_acc), "pgr_acc_ci": _num(s.pgr_acc_ci),
                     "vs_naive": _num(vs[0]), "vs_naive_ci": _num(vs[1]),
                     "pgr_auroc": _num(s.pgr_auroc), "pgr_auroc_ci": _num(s.pgr_auroc_ci),
                     "weak_acc": float(accs.weak_acc.mean()), "ceiling_acc": float(accs.ceiling_acc.mean()),
                     "student_acc": float(accs.student_acc.mean())})
    cols = ["suite", "ladder", "rank", "method", "task", "pgr_acc", "pgr_acc_ci", "vs_naive",
            "vs_naive_ci", "pgr_auroc", "pgr_auroc_ci", "weak_acc", "ceiling_acc", "student_acc", "seeds",
            "wall_time_s", "device", "method_config_sha256", "ci_rerun", "entry"]
    df = pd.DataFrame(rows, columns=[c for c in cols if c != "rank"])
    ranks = {}
    means = df[df.task == "(mean)"]
    for _, g in means.groupby(["suite", "ladder"]):
        for row in g.itertuples():
            v = row.pgr_acc
            better = sum(1 for o in g.pgr_acc if o is not None and not math.isnan(o)
                         and (v is None or math.isnan(v) or o > v))
            ranks[row.suite, row.ladder, row.method] = better + 1
    df.insert(2, "rank", [ranks[k] for k in zip(df.suite, df.ladder, df.method)] if len(df) else [])
    return df.sort_values(["suite", "ladder", "rank", "method"], kind="stable").reset_index(drop=True)


def _fmt_acc(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3f}" if round(lo, 3) == round(hi, 3) else f"{lo:.3f}–{hi:.3f}"


def _vs(mean) -> str:
    """The paired difference from the baseline, marked where its 95 % CI excludes 0."""
    from w2s_bench.scoring import fmt_ci
    v, half = _num(mean.vs_naive), _num(mean.vs_naive_ci)
    if v is None:
        return "—"
    text = fmt_ci(v, half)
    return text + (" ▲" if v - half > 0 else " ▼" if v + half < 0 else "") if half is not None else text


def render(root: Path) -> tuple[str, str, list]:
    """(LEADERBOARD.md text, leaderboard.csv text, entries) — deterministic, no timestamps."""
    from tabulate import tabulate

    from w2s_bench.scoring import fmt_ci
    entries = load_entries(root)
    df = board_frame(entries)
    lines = ["# Leaderboard", "",
             "Generated by `w2s-bench leaderboard build` from `leaderboard/entries/`; do not edit by "
             "hand (`w2s-bench leaderboard verify` rebuilds it and fails on any difference). How to "
             "submit an entry: `CONTRIBUTING.md`.", "",
             "PGR = (student − weak) / (ceiling − weak) on test accuracy. Per task: median over pairs, "
             "then mean over seeds ± 95 % t-interval; *undefined* where ceiling − weak is under the "
             "noise floor. Mean over tasks: per seed the mean over tasks with a defined PGR, then "
             "mean ± 95 % t-interval over seeds. Methods are ranked by that mean. *vs naive*: the "
             "method's mean PGR minus naive's, paired by seed (same weak models and ceilings), mean ± "
             "95 % t-interval; ▲ / ▼ where the interval excludes 0, i.e. the method differs from naive "
             "beyond seed noise. Wall time: the whole "
             "run, all seeds. Every number here is recomputed from the entries' per-example predictions by "
             "`w2s-bench leaderboard verify`; the same table with AUROC PGRs and accuracies is in "
             "[`leaderboard.csv`](leaderboard.csv). CI re-run: *sampled cells* — before the entry was "
             "merged, CI re-ran sampled cells from an empty cache and got its predictions "
             "(`verify --reproduce`); *not reproduced by CI* — its suite needs the hub and a GPU; "
             "*predates CI re-runs* — submitted before CI re-ran entries.", ""]
    if not entries:
        lines += ["No entries yet.", ""]
    by_id = {}
    for folder, r in entries:
        by_id.setdefault((r.suite, r.ladder), []).append((folder, r))
    for (suite, ladder), group in sorted(by_id.items()):
        tasks = list(dict.fromkeys(t for _, r in group for t in r.tasks))
        pairs = list(dict.fromkeys(f"{w}->{s}" for _, r in group for w, s in r.pairs))
        lines += [f"## Suite `{suite}`, ladder `{ladder}`", "",
                  f"Pairs {', '.join(pairs)}; protocol v{group[0][1].protocol.version} "
                  f"(noise floor z = {group[0][1].protocol.noise_floor_z}).", ""]
        head = []
        for t in tasks:
            for p in pairs:
                accs = {who: [] for who in ("weak", "ceiling")}
                for _, r in group:
                    cs = [c for c in r.cells if c.task == t and f"{c.weak_rung}->{c.strong_rung}" == p]
                    for who in accs:
                        if cs:
                            accs[who].append(sum(getattr(c, who).accuracy for c in cs) / len(cs))
                if accs["weak"]:
                    head.append([t, p, _fmt_acc(accs["weak"]), _fmt_acc(accs["ceiling"])])
        lines += [tabulate(head, headers=["task", "pair", "weak acc", "ceiling acc"], tablefmt="github"),
                  "", "Accuracy on test, mean over seeds; a range where the entries' weak models or "
                  "ceilings differ (other seeds or hardware).", ""]
        g = df[(df.suite == suite) & (df.ladder == ladder)]
        rows = []
        for method in dict.fromkeys(g.method):
            m = g[g.method == method].set_index("task")
            mean = m.loc["(mean)"]
            rows.append([int(mean["rank"]), f"`{method}`",
                         *[fmt_ci(_num(m.loc[t, "pgr_acc"]), _num(m.loc[t, "pgr_acc_ci"])) if t in m.index
                           else "n/a" for t in tasks],
                         f"**{fmt_ci(_num(mean.pgr_acc), _num(mean.pgr_acc_ci))}**", _vs(mean), mean.seeds,
                         f"{mean.wall_time_s / 60:.1f} min", mean.device,
                         f"`{mean.method_config_sha256[:12]}`",
                         mean.ci_rerun if mean.ci_rerun != "not reproduced by CI" else f"**{mean.ci_rerun}**",
                         f"[entry]({mean.entry})"])
        lines += [tabulate(rows, headers=["rank", "method", *[f"{t} PGR" for t in tasks],
                                          "mean PGR", f"vs {BASELINE} (paired)", "seeds", "wall time", "device",
                                          "config sha256", "CI re-run", "files"], tablefmt="github"), ""]
        stem = f"{suite}_{ladder}"
        lines += [f"![student vs ceiling accuracy]({PLOT_DIR}/{stem}_accuracy.png)",
                  f"![PGR per method]({PLOT_DIR}/{stem}_pgr.png)", "",
                  "First: student accuracy against ceiling accuracy per task and pair (the paper's "
                  "main figure; on the diagonal the student matches the ceiling, grey crosses are "
                  "the weak model). Second: PGR (accuracy) per method and task, 95 % CIs. Both from "
                  "`w2s-bench plot`.", ""]
    csv = df.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    return "\n".join(lines), csv, entries


def build(root: Path) -> list[Path]:
    """Write LEADERBOARD.md, leaderboard.csv and the plots; return the written paths."""
    from w2s_bench.leaderboard.plot import plot_board
    root = Path(root)
    md, csv, entries = render(root)
    for folder, r in entries:
        if folder != f"entries/{identity(r).as_posix()}":
            raise LeaderboardError(f"{root / folder}: holds a result of {identity(r).as_posix()}; "
                                   f"move it to entries/{identity(r).as_posix()}")
    (root / MD_FILE).write_text(md)
    (root / CSV_FILE).write_text(csv)
    return [root / MD_FILE, root / CSV_FILE, *plot_board(root, entries)]
