"""`w2s-bench report RESULTS_DIR`: a markdown page for one run — the PGR table, the mistake
imitation and concept saliency tables, and their plots — written next to result.json."""

from __future__ import annotations

from pathlib import Path


def _md(df, floatfmt=".3f") -> str:
    from tabulate import tabulate

    return tabulate(
        df.values.tolist(), headers=list(df.columns), tablefmt="github", floatfmt=floatfmt, missingval="n/a"
    )


def _bars(df, columns, labels, title, ylabel, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(df))
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(df)), 3.6))
    for i, (col, label) in enumerate(zip(columns, labels)):
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, df[col].astype(float), width, label=label)
    ax.set_xticks(x, [f"{t}\n{p}" for t, p in zip(df.task, df.pair)], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results_dir: Path) -> Path:
    from w2s_bench.diagnostics import tables
    from w2s_bench.results import Result
    from w2s_bench.scoring import fmt_ci, summarize
    from w2s_bench.specs import SpecError

    results_dir = Path(results_dir)
    path = results_dir / "result.json"
    if not path.exists():
        raise SpecError(f"{results_dir} holds no result.json; give the folder `w2s-bench evaluate` wrote")
    try:
        result = Result.model_validate_json(path.read_text())
    except ValueError as e:
        raise SpecError(
            f"{path} does not match result schema v2 ({str(e).splitlines()[0]}); "
            f"re-run `w2s-bench evaluate` to regenerate it"
        ) from None
    cells = [c.model_dump() for c in result.cells]
    per_pair, _, suite = summarize(cells, result.protocol.headline)
    pgr = per_pair[["task", "pair", "seeds", "weak_acc", "ceiling_acc", "student_acc"]].copy()
    pgr["PGR (acc)"] = [fmt_ci(v, h) for v, h in zip(per_pair.pgr_acc, per_pair.pgr_acc_ci)]
    pgr["PGR (AUROC)"] = [fmt_ci(v, h) for v, h in zip(per_pair.pgr_auroc, per_pair.pgr_auroc_ci)]
    s = suite.iloc[0]
    imitation, saliency = tables(cells)

    lines = [
        f"# {result.method} on {result.suite} (ladder {result.ladder})",
        "",
        f"Seeds {result.seeds}, pairs {', '.join(f'{w}->{s_}' for w, s_ in result.pairs)}"
        + (f", --limit {result.limit} (smoke run)" if result.limit else "")
        + f"; method config sha256 `{result.method_config_sha256[:12]}`; "
        f"{result.environment.device}; {result.created_utc}.",
        "",
        "## PGR",
        "",
        _md(pgr),
        "",
        (
            f"Mean over tasks (headline pair {'->'.join(result.protocol.headline)}): "
            if result.protocol.headline
            else "Mean over tasks (median over pairs): "
        )
        + f"PGR (acc) {fmt_ci(s.pgr_acc, s.pgr_acc_ci)}, "
        f"PGR (AUROC) {fmt_ci(s.pgr_auroc, s.pgr_auroc_ci)}.",
        "",
        "## Mistake imitation",
        "",
        "Agreement of hard test predictions with the weak model's, overall and split by whether "
        "the weak label is right or wrong (mean over seeds). A student that imitates its "
        "supervisor agrees with it on its mistakes (`weak_wrong`) far more than the ceiling does.",
        "",
        _md(imitation),
        "",
        "![imitation](imitation.png)",
        "",
        "## Concept saliency",
        "",
        "Test accuracy of a logistic-regression probe fitted on gold `val` labels over frozen "
        "features (the pooled representation the head reads) of the pretrained strong rung, "
        "the student and the ceiling (mean over seeds).",
        "",
        _md(saliency),
        "",
        "![saliency](saliency.png)",
        "",
    ]
    from w2s_bench.trend import MEAN, has_trend, trend_figure, trend_frame

    if has_trend(result.pairs):  # the paper's figure: PGR against the strong rung
        rungs = list(dict.fromkeys(s_ for _, s_ in result.pairs))
        trend = trend_frame(cells)
        order = {t: i for i, t in enumerate(dict.fromkeys(list(result.tasks) + [MEAN]))}
        trend = trend.assign(
            o=[order.get(t, len(order)) for t in trend.task], r=[rungs.index(s_) for s_ in trend.strong]
        ).sort_values(["o", "weak", "r"])
        table = trend.assign(pair=[f"{w}->{s_}" for w, s_ in zip(trend.weak, trend.strong)])
        table["PGR (acc)"] = [fmt_ci(v, h) for v, h in zip(table.pgr, table.pgr_ci)]
        table["student acc"] = [fmt_ci(v, h) for v, h in zip(table.student_acc, table.student_acc_ci)]
        table["task"] = ["mean over tasks" if t == MEAN else t for t in table.task]
        lines[lines.index("## Mistake imitation") : lines.index("## Mistake imitation")] = [
            "## PGR against the strong rung",
            "",
            "One line per weak rung; mean over seeds ± 95 % CI (the mean over tasks is taken per seed).",
            "",
            _md(table[["task", "pair", "PGR (acc)", "student acc"]].astype(str)),
            "",
            "![trend](trend.png)",
            "",
        ]
        trend_figure(
            [("", cells)],
            rungs,
            f"{result.method} on {result.suite}: PGR and student accuracy against the strong rung",
            results_dir / "trend.png",
        )
    _bars(
        imitation,
        ["student_weak_wrong", "ceiling_weak_wrong"],
        ["student", "ceiling"],
        "Agreement with the weak model where it is wrong",
        "agreement",
        results_dir / "imitation.png",
    )
    _bars(
        saliency,
        ["probe_pretrained", "probe_student", "probe_ceiling"],
        ["pretrained", "student", "ceiling"],
        "Linear probe accuracy on test (gold val labels)",
        "accuracy",
        results_dir / "saliency.png",
    )
    out = results_dir / "report.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(out)
    return out
