"""The static leaderboard site, written by `w2s-bench leaderboard build` under `leaderboard/site/`.

Plain HTML files, one stylesheet and one small script (`leaderboard/static/`: column sorting),
nothing fetched at view time and no build chain: open `site/index.html` from disk or publish the
`leaderboard/` folder as it is (pages link up to `../entries/` and `../plots/`).

    index.html                              the suites: ladder, tasks, entries, best method, tier
    suite-<suite>--<ladder>.html            the ranked table (sortable by any column), weak and
                                            ceiling per task, the protocol, what the tier can and
                                            cannot show (tiers.toml), the plots
    task-<suite>--<ladder>--<task>.html     weak / ceiling / student accuracies and PGRs per
                                            method, the task's spec and figure

Every number comes from `board.board_frame`, the frame LEADERBOARD.md and leaderboard.csv are
drawn from. The pages are deterministic (no timestamps), so `w2s-bench leaderboard verify`
rebuilds them in memory and fails on any difference, as it does for LEADERBOARD.md.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

from w2s_bench.catalog import source_text
from w2s_bench.leaderboard.board import (
    BASELINE,
    PLOT_DIR,
    board_frame,
    by_status,
    load_entries,
    num,
    suite_status,
    weak_and_ceiling,
)
from w2s_bench.leaderboard.entry import LeaderboardError
from w2s_bench.leaderboard.plot import pairs_of, task_plot
from w2s_bench.trend import has_trend

SITE_DIR = "site"
STATIC = Path(__file__).parent / "static"  # copied verbatim into the site
TIERS = Path(__file__).parent / "tiers.toml"  # what each suite can and cannot show


def suite_page(suite: str, ladder: str) -> str:
    return f"suite-{suite}--{ladder}.html"


def task_page(suite: str, ladder: str, task: str) -> str:
    return f"task-{suite}--{ladder}--{task}.html"


# ---- HTML pieces --------------------------------------------------------------------------------


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def code(x) -> str:
    return f"<code>{esc(x)}</code>"


def prose(x: str) -> str:
    """Escaped text whose `backticked` spans become <code> (the tier statements are markdown-ish)."""
    parts = esc(x).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{text}</a>'


def ci_text(value, half) -> str:
    """PGR ± 95 % CI as the markdown board prints it ('undefined' under the noise floor)."""
    from w2s_bench.scoring import fmt_ci

    return fmt_ci(num(value), num(half))


def number(value, text: str | None = None, cls: str = "num") -> tuple[str, str, str]:
    """A numeric cell: (shown HTML, sort key, class); an undefined value sorts last."""
    v = num(value)
    return (
        esc(text if text is not None else ("undefined" if v is None else f"{v:.3f}")),
        "" if v is None else repr(round(v, 9)),
        cls,
    )


def text(shown: str, key: str | None = None) -> tuple[str, str, str]:
    """A text cell: (shown HTML, sort key, class). `shown` is HTML already."""
    return shown, key if key is not None else html.unescape(shown), ""


def table(headers: list[tuple[str, str]], rows: list[list[tuple[str, str, str]]], table_id: str) -> str:
    """A sortable table: headers [(label, "num" | "text")], cells (HTML, sort key, class)."""
    head = "".join(f'<th data-type="{kind}">{esc(label)}</th>' for label, kind in headers)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td data-sort="{esc(key)}"' + (f' class="{cls}"' if cls else "") + f">{shown}</td>"
            for shown, key, cls in row
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="sortable" id="{esc(table_id)}">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def plain_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def figure(src: str, caption: str) -> str:
    return (
        f'<figure><img src="{esc(src)}" alt="{esc(caption)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def page(title: str, crumbs: list[tuple[str, str]], body: str) -> str:
    nav = " › ".join(link(href, esc(label)) if href else esc(label) for label, href in crumbs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · w2s-bench leaderboard</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header>{nav}</header>
<main>
{body}
</main>
<footer>Generated by <code>w2s-bench leaderboard build</code> from <code>leaderboard/entries/</code>;
do not edit by hand (<code>w2s-bench leaderboard verify</code> rebuilds it and fails on any
difference). Every number is recomputed from the entries' per-example predictions.</footer>
<script src="sort.js"></script>
</body>
</html>
"""


# ---- the pages ----------------------------------------------------------------------------------


def read_tiers(path: Path | None = None) -> dict:
    path = TIERS if path is None else path
    try:
        return tomllib.loads(Path(path).read_text())["suites"]
    except (tomllib.TOMLDecodeError, KeyError) as e:
        raise LeaderboardError(f'{path}: not valid ({e!r}); it holds [suites."<name>"] tables') from None


def _suite_spec(suite: str):
    from w2s_bench import registry
    from w2s_bench.specs import SpecError

    try:
        return registry.load_suite(suite)
    except SpecError:
        return None


def _task_spec(task: str):
    from w2s_bench.specs import SpecError
    from w2s_bench.tasks import load_task

    try:
        return load_task(task)
    except SpecError:
        return None


def _files(folder: str) -> str:
    from w2s_bench.leaderboard.entry import ENTRY_FILES

    return " · ".join(link(f"../{folder}/{f}", esc(f.split(".")[0])) for f in ENTRY_FILES)


def _vs(row) -> tuple[str, str, str]:
    v, half = num(row.vs_naive), num(row.vs_naive_ci)
    if v is None:
        return "—", "", "num"
    mark = (
        ' <span class="up">▲</span>'
        if half is not None and v - half > 0
        else ' <span class="down">▼</span>'
        if half is not None and v + half < 0
        else ""
    )
    return esc(ci_text(v, half)) + mark, repr(round(v, 9)), "num"


def _tier(tiers: dict, suite: str) -> str:
    t = tiers.get(suite)
    if t is None:
        raise LeaderboardError(
            f'{TIERS}: no entry for suite {suite!r}; add [suites."{suite}"] with tier, can_show and cannot_show'
        )
    return (
        f'<dl class="tier"><dt>tier</dt><dd>{prose(t["tier"])}</dd>'
        f"<dt>can show</dt><dd>{prose(t['can_show'])}</dd>"
        f"<dt>cannot show</dt><dd>{prose(t['cannot_show'])}</dd></dl>"
    )


def _accuracy_header(group, tasks: list[str], pairs: list[str], suite: str, ladder: str) -> str:
    rows = [
        [link(task_page(suite, ladder, t), code(t)), code(p), w, c]
        for t, p, w, c in weak_and_ceiling(group, tasks, pairs)
    ]
    return plain_table(["task", "pair", "weak acc", "ceiling acc"], rows)


SUITE_COLUMNS = [
    ("suite", "text"),
    ("ladder", "text"),
    ("status", "text"),
    ("tasks", "num"),
    ("entries", "num"),
    ("best method (mean PGR)", "text"),
    ("best mean PGR", "num"),
    ("tier", "text"),
    ("description", "text"),
]


def index_html(groups: dict, frame, tiers: dict) -> str:
    rows, retired = [], []
    for (suite, ladder), group in by_status(groups):
        g = frame[(frame.suite == suite) & (frame.ladder == ladder) & (frame.task == "(mean)")]
        best = g.iloc[0]
        tasks = list(dict.fromkeys(t for _, r in group for t in r.tasks))
        spec = _suite_spec(suite)
        state, reason = suite_status(suite)
        (retired if state == "retired" else rows).append(
            [
                text(link(suite_page(suite, ladder), code(suite)), suite),
                text(code(ladder), ladder),
                text(esc(state + (f": {reason}" if reason else "")), state),
                number(len(tasks), str(len(tasks))),
                number(len(group), str(len(group))),
                text(f"{code(best.method)} {esc(ci_text(best.pgr_acc, best.pgr_acc_ci))}", best.method),
                number(best.pgr_acc, ci_text(best.pgr_acc, None)),
                text(esc(tiers.get(suite, {}).get("tier", ""))),
                text(esc(spec.description) if spec else "(suite spec not in this version)"),
            ]
        )
    body = [
        "<h1>w2s-bench leaderboard</h1>",
        "<p>Weak-to-strong generalization (Burns et al., 2023): a strong model is trained on a weak "
        "model's labels. <b>PGR</b> = (student − weak) / (ceiling − weak) on test accuracy: the share "
        "of the gap between the weak model and the strong model trained on gold labels that the "
        "student recovers. Every number here is recomputed by CI from the entries' predictions; "
        "how to submit: <code>CONTRIBUTING.md</code>. The same board as markdown: "
        f"{link('../LEADERBOARD.md', 'LEADERBOARD.md')}, as a table: "
        f"{link('../leaderboard.csv', 'leaderboard.csv')}.</p>",
        "<h2>Suites</h2>",
        table(SUITE_COLUMNS, rows, "suites"),
        "<p>Each suite's own page says what its tier can and cannot show. The default suite comes "
        "first; retired suites, frozen with their entries, are folded below with the reason.</p>",
    ]
    if retired:
        body += [
            '<details id="retired"><summary>Retired suites</summary>',
            table(SUITE_COLUMNS, retired, "retired-suites"),
            "</details>",
        ]
    return page("Suites", [("w2s-bench leaderboard", "")], "\n".join(body))


def suite_html(suite: str, ladder: str, group, frame, tiers: dict) -> str:
    g = frame[(frame.suite == suite) & (frame.ladder == ladder)]
    tasks = list(dict.fromkeys(t for _, r in group for t in r.tasks))
    pairs = list(dict.fromkeys(f"{w}->{s}" for _, r in group for w, s in r.pairs))
    protocol = group[0][1].protocol
    spec = _suite_spec(suite)
    rows = []
    for method in dict.fromkeys(g.method):
        m = g[g.method == method].set_index("task")
        mean = m.loc["(mean)"]
        rerun = esc(mean.ci_rerun)
        flag = f' <span class="warn">⚠ {esc(mean.flag)}</span>' if mean.flag else ""
        rows.append(
            [
                number(mean["rank"], str(int(mean["rank"]))),
                text(code(method) + flag, method),
                *[
                    number(m.loc[t, "pgr_acc"], ci_text(m.loc[t, "pgr_acc"], m.loc[t, "pgr_acc_ci"]))
                    if t in m.index
                    else text("n/a", "")
                    for t in tasks
                ],
                number(mean.pgr_acc, ci_text(mean.pgr_acc, mean.pgr_acc_ci)),
                _vs(mean),
                number(len(mean.seeds.split(",")), mean.seeds),
                number(mean.wall_time_s, f"{mean.wall_time_s / 60:.1f} min"),
                text(esc(mean.device)),
                text(
                    f'<span class="warn">{rerun}</span>' if mean.ci_rerun == "not reproduced by CI" else rerun,
                    mean.ci_rerun,
                ),
                text(_files(mean.entry), mean.entry),
            ]
        )
    headers = [
        ("rank", "num"),
        ("method", "text"),
        *[(f"{t} PGR", "num") for t in tasks],
        ("mean PGR", "num"),
        (f"vs {BASELINE} (paired)", "num"),
        ("seeds", "num"),
        ("wall time", "num"),
        ("device", "text"),
        ("CI re-run", "text"),
        ("files", "text"),
    ]
    stem = f"../{PLOT_DIR}/{suite}_{ladder}"
    body = [
        f"<h1>Suite {code(suite)}, ladder {code(ladder)}</h1>",
        f"<p>{esc(spec.description)}</p>" if spec else "",
        "<h2>What this tier can and cannot show</h2>",
        _tier(tiers, suite),
        "<h2>Ranked methods</h2>",
        "<p>Click a column header to sort by it. PGR per task: "
        + (f"the headline pair {code('->'.join(protocol.headline))}'s" if protocol.headline else "median over pairs")
        + ", then mean over seeds ± 95 % t-interval; <i>undefined</i> where ceiling − weak is under the noise floor. "
        "Mean PGR: per seed the mean over tasks with a defined PGR, then mean ± 95 % t-interval "
        f"over seeds; methods are ranked by it. <i>vs {BASELINE}</i>: the mean PGR minus "
        f"{BASELINE}'s, paired by seed; ▲ / ▼ where its 95 % interval excludes 0. CI re-run: "
        "<i>sampled cells</i> — CI re-ran sampled cells from an empty cache and got the entry's "
        "predictions; <i>not reproduced by CI</i> — the suite needs the hub and a GPU.</p>",
        table(headers, rows, "methods"),
        "<h2>Protocol</h2>",
        plain_table(
            ["pairs", "protocol version", "noise floor z", "min seeds", "tasks"],
            [
                [
                    ", ".join(code(p) for p in pairs),
                    str(protocol.version),
                    f"{protocol.noise_floor_z:g}",
                    str(protocol.min_seeds),
                    ", ".join(link(task_page(suite, ladder, t), code(t)) for t in tasks),
                ]
            ],
        ),
        "<h2>Weak and ceiling accuracy</h2>",
        _accuracy_header(group, tasks, pairs, suite, ladder),
        "<p>Test accuracy, mean over seeds; a range where the entries' weak models or ceilings "
        "differ (other seeds or hardware).</p>",
        "<h2>Plots</h2>",
        figure(
            f"{stem}_accuracy.png",
            "Student accuracy against ceiling accuracy per task and pair; "
            "grey crosses are the weak model, the diagonal is student = ceiling.",
        ),
        figure(f"{stem}_pgr.png", "PGR (accuracy) per method and task, 95 % CIs."),
        figure(
            f"{stem}_trend.png",
            "PGR (top) and student accuracy (bottom) against the strong rung, "
            "a line per method, per task and the mean over tasks; 95 % CIs over seeds.",
        )
        if has_trend(pairs_of(group))
        else "",
    ]
    return page(
        f"{suite} / {ladder}",
        [("w2s-bench leaderboard", "index.html"), (f"{suite} / {ladder}", "")],
        "\n".join(b for b in body if b),
    )


def task_html(suite: str, ladder: str, task: str, group, frame) -> str:
    g = frame[(frame.suite == suite) & (frame.ladder == ladder) & (frame.task == task)]
    spec = _task_spec(task)
    rows = [
        [
            number(r.rank, str(int(r.rank))),
            text(code(r.method), r.method),
            number(r.student_acc),
            number(r.weak_acc),
            number(r.ceiling_acc),
            number(r.pgr_acc, ci_text(r.pgr_acc, r.pgr_acc_ci)),
            number(r.pgr_auroc, ci_text(r.pgr_auroc, r.pgr_auroc_ci)),
            number(len(r.seeds.split(",")), r.seeds),
            text(_files(r.entry), r.entry),
        ]
        for r in g.itertuples()
    ]
    headers = [
        ("rank", "num"),
        ("method", "text"),
        ("student acc", "num"),
        ("weak acc", "num"),
        ("ceiling acc", "num"),
        ("PGR (acc)", "num"),
        ("PGR (AUROC)", "num"),
        ("seeds", "num"),
        ("files", "text"),
    ]
    about = ""
    if spec is not None:
        source = source_text(spec.source)
        about = plain_table(
            ["kind", "description", "source", "split sizes"],
            [
                [
                    esc(spec.kind),
                    esc(spec.description),
                    esc(source),
                    esc(" / ".join(f"{k} {v}" for k, v in spec.splits.sizes.items())),
                ]
            ],
        )
        p = spec.provenance
        if p is not None:
            about += plain_table(
                ["reference", "licence", "citation", "superseded by"],
                [
                    [
                        esc(p.reference),
                        esc(p.licence),
                        esc(p.citation),
                        code(p.superseded_by) if p.superseded_by else "—",
                    ]
                ],
            )
    body = [
        f"<h1>Task {code(task)}</h1>",
        f"<p>In suite {link(suite_page(suite, ladder), code(suite))}, ladder {code(ladder)}.</p>",
        about,
        "<h2>Accuracies and PGR per method</h2>",
        "<p>Test accuracy, mean over seeds and pairs; PGR: median over pairs, mean over seeds ± 95 % "
        "t-interval. Rank: the method's rank on the suite's mean PGR. Click a header to sort.</p>",
        table(headers, rows, "task-methods"),
        "<h2>Plots</h2>",
        figure(
            f"../{PLOT_DIR}/{task_plot(suite, ladder, task)}",
            "Student test accuracy per method; dashed: the weak model, solid: the ceiling.",
        ),
        figure(
            f"../{PLOT_DIR}/{suite}_{ladder}_accuracy.png",
            "The suite's student vs ceiling accuracy, every task and pair.",
        ),
    ]
    return page(
        f"{task} in {suite}",
        [("w2s-bench leaderboard", "index.html"), (f"{suite} / {ladder}", suite_page(suite, ladder)), (task, "")],
        "\n".join(b for b in body if b),
    )


def pages(root: Path, entries=None) -> dict[str, str]:
    """{file name under site/: its text}: every page, the stylesheet and the script."""
    root = Path(root)
    entries = load_entries(root) if entries is None else entries
    frame = board_frame(entries)
    tiers = read_tiers()
    groups = {}
    for folder, r in entries:
        groups.setdefault((r.suite, r.ladder), []).append((folder, r))
    out = {
        "index.html": index_html(groups, frame, tiers),
        **{f.name: f.read_text() for f in sorted(STATIC.iterdir()) if f.suffix in (".css", ".js")},
    }
    for (suite, ladder), group in sorted(groups.items()):
        out[suite_page(suite, ladder)] = suite_html(suite, ladder, group, frame, tiers)
        for task in dict.fromkeys(t for _, r in group for t in r.tasks):
            out[task_page(suite, ladder, task)] = task_html(suite, ladder, task, group, frame)
    return out


def write(root: Path, site: dict[str, str]) -> list[Path]:
    """Replace root/site with exactly `site`: written into a temporary folder next to it, then
    swapped in, so a failure leaves the old site whole."""
    root = Path(root)
    final = root / SITE_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".site-", dir=root))
    try:
        for name, content in site.items():
            (tmp / name).write_text(content)
        old = root / f".site-old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [final / name for name in site]


def problems(root: Path, site: dict[str, str]) -> list[str]:
    """How root/site differs from `site` (verify), and images the pages link that are missing."""
    import re

    root = Path(root)
    folder = root / SITE_DIR
    out = []
    have = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    for name in sorted(set(site) | have):
        path = folder / name
        if name not in site:
            out.append(f"{path}: not a page `w2s-bench leaderboard build` writes; remove it (or rebuild)")
        elif name not in have or path.read_text() != site[name]:
            out.append(f"{path}: not what `w2s-bench leaderboard build` produces; run it and commit the result")
    images = {src for text in site.values() for src in re.findall(r'<img src="([^"]+)"', text)}
    for src in sorted(images):
        if not (folder / src).resolve().exists():
            out.append(
                f"{(folder / src).resolve()}: an image the site shows is missing; run "
                f"`w2s-bench leaderboard build` (or `w2s-bench plot`)"
            )
    return out
