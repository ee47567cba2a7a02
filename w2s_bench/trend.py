"""The paper's central figure (Burns et al. 2023, Fig. 3): PGR and student accuracy against the
strong rung, one line per weak rung (and per method where several are drawn), per task and for
the mean over tasks, with 95 % t-intervals over seeds. `w2s-bench report` draws it for one run,
the leaderboard for each suite whose pairs give a weak rung more than one strong rung.

The mean over tasks of a (weak, strong) pair, for one seed, is the mean of the tasks' PGRs that
are defined for it; the interval is over seeds, as everywhere else (scoring.mean_ci).
"""

from __future__ import annotations

from pathlib import Path

MEAN = "(mean)"


def trend_frame(cells: list[dict]):
    """One row per task (and MEAN) x weak x strong rung: PGR (accuracy) and student accuracy,
    mean and 95 % half-width over seeds."""
    import numpy as np
    import pandas as pd

    from w2s_bench.scoring import mean_ci

    rows = []
    by_pair: dict = {}
    for c in cells:
        by_pair.setdefault((c["weak_rung"], c["strong_rung"]), []).append(c)
    for (weak, strong), group in by_pair.items():
        tasks = list(dict.fromkeys(c["task"] for c in group))
        for task in tasks + [MEAN]:
            if task == MEAN:
                seeds = sorted({c["seed"] for c in group})
                pgr, acc = [], []
                for s in seeds:
                    mine = [c for c in group if c["seed"] == s]
                    defined = [c["pgr_accuracy"] for c in mine if c["pgr_accuracy"] is not None]
                    pgr.append(float(np.mean(defined)) if defined else None)
                    acc.append(float(np.mean([c["student"]["accuracy"] for c in mine])))
            else:
                mine = [c for c in group if c["task"] == task]
                pgr = [c["pgr_accuracy"] for c in mine]
                acc = [c["student"]["accuracy"] for c in mine]
            p, p_ci = mean_ci(pgr)
            a, a_ci = mean_ci(acc)
            rows.append(
                {
                    "task": task,
                    "weak": weak,
                    "strong": strong,
                    "pgr": p,
                    "pgr_ci": p_ci,
                    "student_acc": a,
                    "student_acc_ci": a_ci,
                }
            )
    return pd.DataFrame(rows)


def has_trend(pairs) -> bool:
    """Whether some weak rung of `pairs` supervises more than one strong rung."""
    strong: dict = {}
    for w, s in pairs:
        strong.setdefault(w, set()).add(s)
    return any(len(v) > 1 for v in strong.values())


def trend_figure(series: list[tuple[str, list[dict]]], rungs: list[str], title: str, path: Path) -> None:
    """series: [(label, cells)], one line per label x weak rung; `rungs` orders the x axis (the
    strong rungs, weakest first). Top row PGR (accuracy), bottom row student test accuracy; a column per
    task and one for the mean over tasks."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [(label, trend_frame(cells)) for label, cells in series]
    tasks = list(dict.fromkeys(t for _, f in frames for t in f.task if t != MEAN)) + [MEAN]
    fig, axes = plt.subplots(2, len(tasks), figsize=(3.1 * len(tasks), 5.6), squeeze=False, sharex=True)
    color = 0
    for label, frame in frames:
        for weak in dict.fromkeys(frame.weak):
            line = (
                (f"{label} (weak {weak})" if label else f"weak {weak}")
                if len(set(frame.weak)) > 1 or not label
                else label
            )
            for j, task in enumerate(tasks):
                d = frame[(frame.task == task) & (frame.weak == weak)].copy()
                d["x"] = [rungs.index(s) for s in d.strong]
                d = d.sort_values("x")
                for i, (col, ci) in enumerate((("pgr", "pgr_ci"), ("student_acc", "student_acc_ci"))):
                    y = [math.nan if v is None else float(v) for v in d[col]]
                    err = [0.0 if v is None or v != v else float(v) for v in d[ci]]
                    axes[i][j].errorbar(
                        d.x,
                        y,
                        yerr=err,
                        marker="o",
                        ms=4,
                        capsize=2,
                        lw=1.2,
                        color=f"C{color % 10}",
                        label=line if j == 0 and i == 0 else None,
                    )
            color += 1
    for j, task in enumerate(tasks):
        axes[0][j].set_title("mean over tasks" if task == MEAN else task, fontsize=9)
        axes[0][j].axhline(0, color="black", lw=0.6)
        axes[0][j].axhline(1, color="black", lw=0.6, ls=":")
        axes[1][j].set_xticks(range(len(rungs)), rungs, fontsize=7, rotation=30)
        axes[1][j].set_xlabel("strong rung", fontsize=8)
    axes[0][0].set_ylabel("PGR (accuracy)")
    axes[1][0].set_ylabel("student test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
