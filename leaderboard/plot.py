"""`w2s-bench plot`: the leaderboard's figures (matplotlib, Agg), one pair of PNGs per suite and
ladder, linked from LEADERBOARD.md:

- `<suite>_<ladder>_accuracy.png`: student test accuracy against ceiling test accuracy, one point
  per method x task x pair (mean over seeds), the weak model's accuracy as grey crosses and the
  diagonal student = ceiling (Burns et al. 2023, Fig. 3 in accuracy-vs-ceiling form: PGR is how far
  a point has climbed from its cross to the diagonal);
- `<suite>_<ladder>_pgr.png`: PGR (accuracy) per method, grouped by task plus the mean over tasks,
  with 95 % t-interval error bars; undefined PGRs are left out;
- `<suite>_<ladder>_trend.png` where a weak rung supervises several strong rungs: PGR and student
  accuracy against the strong rung, a line per method (w2s_bench.trend);
- `<suite>_<ladder>_<task>_task.png` per task: each method's student test accuracy (mean over
  seeds) as a bar, with the weak model's and the ceiling's accuracy as lines (the site's task page).
"""

from __future__ import annotations

from pathlib import Path

from w2s_bench.leaderboard.board import PLOT_DIR, board_frame, load_entries
from w2s_bench.trend import has_trend, trend_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_figure(group, title: str, path: Path) -> None:
    """group: [(folder, Result)] of one suite and ladder; one panel per weak -> strong pair."""
    import pandas as pd

    from w2s_bench.scoring import summarize

    plt = _plt()
    frames = []
    for i, (_, r) in enumerate(group):
        per_pair, _, _ = summarize([c.model_dump() for c in r.cells])
        frames.append(per_pair.assign(method=r.method, color=f"C{i % 10}"))
    df = pd.concat(frames, ignore_index=True)
    pairs = list(dict.fromkeys(df.pair))
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.8), squeeze=False)
    lo = max(0.0, float(df[["weak_acc", "ceiling_acc", "student_acc"]].min().min()) - 0.03)
    for ax, pair in zip(axes[0], pairs):
        d = df[df.pair == pair]
        for task, t in d.groupby("task", sort=False):
            weak, ceiling = float(t.weak_acc.mean()), float(t.ceiling_acc.mean())
            ax.plot([ceiling, ceiling], [weak, ceiling], color="lightgrey", lw=1, zorder=1)
            ax.scatter([ceiling], [weak], marker="x", color="grey", zorder=2)
            ax.annotate(
                task,
                (ceiling, ceiling),
                fontsize=7,
                rotation=90,
                color="grey",
                xytext=(-9, 4),
                textcoords="offset points",
                va="bottom",
            )
        for method, m in d.groupby("method", sort=False):
            ax.scatter(m.ceiling_acc, m.student_acc, s=36, color=m.color.iloc[0], label=method, zorder=3)
        ax.plot([lo, 1], [lo, 1], ls="--", color="black", lw=0.8, label="student = ceiling")
        ax.scatter([], [], marker="x", color="grey", label="weak model")
        ax.set_xlim(lo, 1), ax.set_ylim(lo, 1)
        ax.set_xlabel("ceiling test accuracy (strong rung on gold labels)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"pair {pair}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def pgr_figure(frame, title: str, path: Path) -> None:
    """frame: board_frame rows of one suite and ladder."""
    import numpy as np

    plt = _plt()
    tasks = list(dict.fromkeys(t for t in frame.task if t != "(mean)")) + ["(mean)"]
    methods = list(dict.fromkeys(frame.method))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(tasks))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(tasks) + 0.4 * len(methods)), 3.8))
    for i, m in enumerate(methods):
        sub = frame[frame.method == m].set_index("task").reindex(tasks)
        ci = sub.pgr_acc_ci.astype(float).fillna(0).to_numpy()
        ax.bar(
            x + (i - (len(methods) - 1) / 2) * width,
            sub.pgr_acc.astype(float),
            width,
            yerr=ci,
            capsize=2,
            color=f"C{i % 10}",
            label=m,
        )
    ax.axhline(0, color="black", lw=0.6)
    ax.axhline(1, color="black", lw=0.6, ls=":")
    ax.set_xticks(x, ["mean over tasks" if t == "(mean)" else t for t in tasks], fontsize=8)
    ax.set_ylabel("PGR (accuracy)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def task_figure(rows, title: str, path: Path) -> None:
    """rows: board_frame rows of one suite, ladder and task (one per method, ranked)."""
    plt = _plt()
    rows = rows.iloc[::-1]  # the best-ranked method on top
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * len(rows)))
    ax.barh(range(len(rows)), rows.student_acc.astype(float), color="C0", height=0.6)
    weak, ceiling = float(rows.weak_acc.mean()), float(rows.ceiling_acc.mean())
    ax.axvline(weak, color="grey", ls="--", lw=1.2, label=f"weak {weak:.3f}")
    ax.axvline(ceiling, color="black", lw=1.2, label=f"ceiling {ceiling:.3f}")
    ax.set_yticks(range(len(rows)), list(rows.method), fontsize=8)
    lo = min(float(rows.student_acc.min()), weak) - 0.03
    ax.set_xlim(max(0.0, lo), min(1.0, max(float(rows.student_acc.max()), ceiling) + 0.03))
    ax.set_xlabel("student test accuracy (mean over seeds)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def pairs_of(group) -> list[tuple[str, str]]:
    """The (weak, strong) pairs of a suite's entries, in order."""
    return list(dict.fromkeys((w, s) for _, r in group for w, s in r.pairs))


def task_plot(suite: str, ladder: str, task: str) -> str:
    """The file name of a task's figure under plots/."""
    return f"{suite}_{ladder}_{task}_task.png"


def plot_board(root: Path, entries=None, out: Path | None = None) -> list[Path]:
    """Write the figures into `out` (default root/plots), removing stale PNGs there."""
    root = Path(root)
    entries = load_entries(root) if entries is None else entries
    out = Path(out) if out else root / PLOT_DIR
    frame = board_frame(entries)
    groups = {}
    for folder, r in entries:
        groups.setdefault((r.suite, r.ladder), []).append((folder, r))
    written = []
    if groups:
        out.mkdir(parents=True, exist_ok=True)
    for (suite, ladder), group in sorted(groups.items()):
        title = f"suite {suite}, ladder {ladder}"
        p = out / f"{suite}_{ladder}_accuracy.png"
        accuracy_figure(group, f"{title}: student vs ceiling accuracy, mean over seeds", p)
        q = out / f"{suite}_{ladder}_pgr.png"
        pgr_figure(
            frame[(frame.suite == suite) & (frame.ladder == ladder)],
            f"{title}: PGR (accuracy), mean over seeds ± 95% CI",
            q,
        )
        written += [p, q]
        if has_trend(pairs_of(group)):  # PGR against the strong rung, a line per method
            pairs = pairs_of(group)
            rungs = list(dict.fromkeys(s for _, s in pairs))
            tr = out / f"{suite}_{ladder}_trend.png"
            trend_figure(
                [(r.method, [c.model_dump() for c in r.cells]) for _, r in group],
                rungs,
                f"{title}: PGR and student accuracy against the strong rung",
                tr,
            )
            written.append(tr)
        g = frame[(frame.suite == suite) & (frame.ladder == ladder)]
        for task in dict.fromkeys(t for t in g.task if t != "(mean)"):
            t = out / task_plot(suite, ladder, task)
            task_figure(g[g.task == task], f"{title}, task {task}", t)
            written.append(t)
    if out.is_dir():
        for stale in set(out.glob("*.png")) - set(written):
            stale.unlink()
    return written
