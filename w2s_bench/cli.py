"""`w2s-bench`: a thin command line over the Python API. Heavy imports happen inside commands so
that `w2s-bench --help` answers at once."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers, got {text!r}") from None


def cmd_evaluate(args) -> int:
    from w2s_bench.run import evaluate_methods, parse_pairs

    runs = evaluate_methods(
        [m.strip() for m in args.method.split(",") if m.strip()],
        suite=args.suite,
        ladder=args.ladder,
        pairs=parse_pairs(args.pairs),
        seeds=args.seeds,
        limit=args.limit,
        tasks=args.tasks.split(",") if args.tasks else None,
        out=args.out,
        cache_dir=args.cache_dir,
        ceiling=args.ceiling,
        executor=args.executor,
        ray_address=args.ray_address,
        cpus_per_cell=args.cpus_per_cell,
    )
    for res in runs:
        _print_run(res)
    return 0


def _print_run(res) -> None:
    from tabulate import tabulate

    from w2s_bench.scoring import fmt_ci

    t = res["per_pair"]
    rows = [
        [
            r.task,
            r.pair,
            r.seeds,
            f"{r.weak_acc:.3f}",
            f"{r.ceiling_acc:.3f}",
            f"{r.student_acc:.3f}",
            fmt_ci(r.pgr_acc, r.pgr_acc_ci),
            fmt_ci(r.pgr_auroc, r.pgr_auroc_ci),
        ]
        for r in t.itertuples()
    ]
    s = res["suite"].iloc[0]
    headline = res["result"].protocol.headline
    rows.append(
        [
            "**mean over tasks**",
            "->".join(headline) if headline else "median over pairs",
            len(res["result"].seeds),
            "",
            "",
            "",
            fmt_ci(s.pgr_acc, s.pgr_acc_ci),
            fmt_ci(s.pgr_auroc, s.pgr_auroc_ci),
        ]
    )
    r = res["result"]
    print(
        f"\n{r.method} on {r.suite} (ladder {r.ladder}), seeds {r.seeds}"
        + (", generative ceiling" if r.ceiling == "generative" else "")
        + (f", --limit {r.limit} (smoke run)" if r.limit else "")
    )
    print(
        tabulate(
            rows,
            headers=["task", "pair", "seeds", "weak acc", "ceiling acc", "student acc", "PGR (acc)", "PGR (AUROC)"],
            tablefmt="github",
        )
    )
    print(
        f"\nPGR: mean over seeds ± 95% CI; 'undefined' where ceiling - weak is under the noise "
        f"floor.\nwall time {r.wall_time_s:.0f} s; results in {res['out']}; "
        f"`w2s-bench report {res['out']}` adds the diagnostics page"
    )


def cmd_report(args) -> int:
    from w2s_bench.report import write_report

    print(f"wrote {write_report(args.results)}")
    return 0


def cmd_check_method(args) -> int:
    from w2s_bench.check import check_method, report

    checks, context = check_method(args.name)
    print(report(args.name, checks, context))
    return 0 if all(c.ok for c in checks) else 1


def cmd_list(args) -> int:
    """The catalogue (w2s_bench.catalog): a table, or the same rows as JSON with --json."""
    import json

    from w2s_bench import catalog

    items = catalog.rows(args.what, audit=not args.no_audit)
    print(json.dumps(items, indent=1) if args.json else catalog.table(args.what, items))
    return 0


def cmd_validate(args) -> int:
    """Re-check every spec (strict schema) and every frozen split hash."""
    from w2s_bench import registry
    from w2s_bench.specs import SpecError
    from w2s_bench.tasks import load_splits, load_task, task_names
    from w2s_bench.tasks.builders import split_hash

    failures = 0

    def check(what, fn):
        nonlocal failures
        try:
            note = fn()
            print(f"ok    {what}" + (f"  {note}" if note else ""))
        except SpecError as e:
            failures += 1
            print(f"FAIL  {what}: {e}")

    from w2s_bench.specs import HubSource
    from w2s_bench.tasks import RECORD, lock_entry, needs_lock, read_lock, record

    unlocked = []
    for name in task_names():

        def task_check(name=name):
            spec = load_task(name)
            hub = isinstance(spec.source, HubSource)
            try:
                if args.print_hashes:
                    splits = load_splits(spec, verify=False)
                    return "\n[split_sha256]\n" + "\n".join(f'{k} = "{split_hash(v)}"' for k, v in splits.items())
                if args.record and needs_lock(spec):
                    return record(spec)
                if needs_lock(spec) and not lock_entry(spec, read_lock()):
                    unlocked.append(name)
                    return "hub source, split hashes frozen neither in the spec nor in tasks/splits.lock.json"
                splits = load_splits(spec)
            except (OSError, RuntimeError) as e:  # no hub here, a failed download, a script repo
                if not hub:
                    raise
                if args.record or isinstance(e, RuntimeError):
                    raise SpecError(
                        f"cannot read {spec.source.id} at {spec.source.revision} "
                        f"({type(e).__name__}: {e}); run `{RECORD}` on a host with the hub, "
                        f"and check the spec's id, revision, config and data_dir"
                    ) from None
                return f"hub source unavailable here ({type(e).__name__}), split hashes not re-checked"
            return ", ".join(f"{k} {len(v)}" for k, v in splits.items())

        check(f"task {name}", task_check)
    if unlocked:
        print(
            f"note  {len(unlocked)} hub task(s) frozen neither in the spec nor in "
            f"tasks/splits.lock.json: {', '.join(unlocked)}; on a host with the hub run `{RECORD}` "
            f"and commit tasks/splits.lock.json (until then they refuse to load)"
        )
    for name in registry.ladder_names():
        check(f"ladder {name}", lambda name=name: registry.load_ladder(name) and None)
    for name in registry.suite_names():

        def suite_check(name=name):
            suite = registry.load_suite(name)
            ladder = registry.load_ladder(suite.ladder)
            for t in suite.tasks:
                load_task(t)
            for w, s in suite.pairs:
                ladder.rung(w), ladder.rung(s)

        check(f"suite {name}", suite_check)
    check(
        "methods (configs read in one sealed process)", lambda: registry.method_refs(registry.method_names()) and None
    )
    print("all specs valid" if not failures else f"{failures} spec(s) failed")
    return 1 if failures else 0


def cmd_audit(args) -> int:
    """Label-leak audit (w2s_bench.audit): a format-only baseline per task must sit at chance."""
    from w2s_bench import registry
    from w2s_bench.audit import audit_task, table
    from w2s_bench.tasks import load_task, task_names

    names = task_names() if args.all else args.tasks.split(",") if args.tasks else registry.load_suite(args.suite).tasks
    results, skipped = [], []
    for name in names:
        spec = load_task(name)
        if spec.kind == "generative":  # the answer is generated, not picked among candidates
            skipped.append(f"{name} (generative: no candidates whose format could give the label away)")
            continue
        try:
            results.append(audit_task(spec, tolerance=args.tolerance))
        except OSError as e:  # e.g. a hub task on an offline host
            skipped.append(f"{name} (source unavailable: {e})")
    if results:
        print(table(results))
    for s in skipped:
        print(f"not audited: {s}")
    bad = [r for r in results if not r["within"]]
    for r in bad:
        print(
            f"FAIL  {r['task']}: format-only accuracy {r['accuracy']:.3f} vs chance "
            f"{r['chance']:.3f} (tolerance ±{args.tolerance:.2f}; cues: "
            f"{', '.join(r['top_features'])}); fix the format and freeze it as a new task "
            f"{r['task']}.v2 (the frozen {r['task']} stays loadable)"
        )
    print(f"{len(results) - len(bad)}/{len(results)} audited task(s) within ±{args.tolerance:.2f} of chance")
    return 1 if bad else 0


def cmd_leaderboard(args) -> int:
    """build | verify | add | schema | take on the leaderboard folder (default ./leaderboard)."""
    from pathlib import Path

    from w2s_bench.leaderboard import entry

    root = Path(args.root) if args.root else entry.default_root()
    if args.action == "build":
        from w2s_bench.leaderboard.build import build

        for path in build(root):
            print(f"wrote {path}")
    elif args.action == "schema":
        print(f"wrote {entry.write_schema(root)}")
    elif args.action == "take":
        from w2s_bench.leaderboard.submission import SubmissionError, take

        if not args.results:
            raise entry.LeaderboardError("leaderboard take needs PR_TREE (the pull request's checkout)")
        try:
            notes = take(Path(args.results), root.resolve().parent)
        except SubmissionError as e:
            print(f"FAIL  {e}")
            return 1
        for note in notes:
            print(f"note: {note}")
    elif args.action == "add":
        if not args.results:
            raise entry.LeaderboardError("leaderboard add needs RESULTS_DIR (a folder `w2s-bench evaluate` wrote)")
        dest = entry.add(args.results, root)
        print(f"added {dest}; now run `w2s-bench leaderboard build` and `w2s-bench leaderboard verify`")
    else:
        from w2s_bench.leaderboard.verify import verify

        problems, notes = verify(
            root, base=args.base, reproduce=args.reproduce, cells=args.cells, features_cache=args.features_cache
        )
        for note in notes:
            print(f"note: {note}")
        for problem in problems:
            print(f"FAIL  {problem}")
        print("leaderboard verified" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


def cmd_plot(args) -> int:
    from pathlib import Path

    from w2s_bench.leaderboard import entry
    from w2s_bench.leaderboard.plot import plot_board

    paths = plot_board(Path(args.root) if args.root else entry.default_root(), out=args.out)
    print("\n".join(f"wrote {p}" for p in paths) or "no entries: nothing to plot")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from w2s_bench.registry import DEFAULT_SUITE  # light: specs only

    p = argparse.ArgumentParser(prog="w2s-bench", description="Weak-to-strong generalization benchmark.")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("evaluate", help="run a method on a suite and print its PGR table")
    e.add_argument(
        "--method",
        default="naive",
        help="registered method (w2s-bench list methods); "
        "several, comma-separated, run on the same grid (at once with --executor ray)",
    )
    e.add_argument("--suite", default=DEFAULT_SUITE, help=f"default {DEFAULT_SUITE}")
    e.add_argument("--ladder", help="ladder name or .toml path (default: the suite's)")
    e.add_argument("--pairs", help="WEAK:STRONG rung pairs, comma-separated (default: the suite's)")
    e.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="e.g. 0,1,2 (default: 0 .. the suite's min_seeds - 1, the fewest seeds its "
        "board accepts: a first table has confidence intervals)",
    )
    e.add_argument("--limit", type=int, help="use only the first N examples of each split (smoke run)")
    e.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    e.add_argument("--out", help="results directory (default w2s-results/SUITE_LADDER_METHOD)")
    e.add_argument("--cache-dir", help="stage cache (default $W2S_BENCH_HOME/cache)")
    e.add_argument(
        "--ceiling",
        default="standard",
        choices=["standard", "generative"],
        help="the ceiling PGR is measured against: strong on gold, or strong after "
        "unsupervised LM fine-tuning on the task's inputs, then gold (recorded)",
    )
    e.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local: cells one after another in this process; ray: the task x pair x "
        "seed cells in parallel on a Ray cluster, one per GPU, sharing --cache-dir "
        "(needs `pip install 'w2s-bench[ray]'`; docs/scale-out.md)",
    )
    e.add_argument(
        "--ray-address", help="Ray cluster to join (default $RAY_ADDRESS, else a new local cluster on this machine)"
    )
    e.add_argument(
        "--cpus-per-cell",
        type=int,
        default=1,
        help="with --executor ray: CPUs (torch threads) each cell takes, besides one "
        "GPU where the cluster has GPUs (default 1)",
    )
    e.set_defaults(fn=cmd_evaluate)

    r = sub.add_parser("report", help="markdown page for a run: PGR, mistake imitation, saliency, plots")
    r.add_argument("results", help="a results directory written by `w2s-bench evaluate`")
    r.set_defaults(fn=cmd_report)

    c = sub.add_parser(
        "check-method", help="check a method's contract in seconds; prints a markdown report for its pull request"
    )
    c.add_argument("name", help="registered method (w2s-bench list methods)")
    c.set_defaults(fn=cmd_check_method)

    ls = sub.add_parser(
        "list",
        help="the catalogue: tasks (kind, source, split sizes, suites, audit, description), methods, ladders or suites",
    )
    ls.add_argument("what", choices=["tasks", "methods", "ladders", "suites"])
    ls.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    ls.add_argument(
        "--no-audit",
        action="store_true",
        help="tasks: leave out the label-leak audit column (it is cached after the first run)",
    )
    ls.set_defaults(fn=cmd_list)

    v = sub.add_parser("validate", help="re-check every spec and frozen split hash")
    v.add_argument(
        "--record",
        action="store_true",
        help="on a host with the hub: load each hub task whose spec freezes no split hashes "
        "and record them (and the source commit) in tasks/splits.lock.json; an "
        "existing entry is checked, never overwritten",
    )
    v.add_argument(
        "--print-hashes",
        action="store_true",
        help="print each task's split hashes instead of checking them (for new specs)",
    )
    v.set_defaults(fn=cmd_validate)

    au = sub.add_parser(
        "audit",
        help="label-leak audit: a format-only baseline (lengths, punctuation, "
        "...) per task must sit within ±3 points of chance",
    )
    au.add_argument("--suite", default=DEFAULT_SUITE, help=f"audit this suite's tasks (default {DEFAULT_SUITE})")
    au.add_argument("--tasks", help="comma-separated task names instead of a suite")
    au.add_argument("--all", action="store_true", help="every shipped task (w2s-bench list tasks)")
    au.add_argument("--tolerance", type=float, default=0.03, help="allowed |accuracy - chance|")
    au.set_defaults(fn=cmd_audit)

    lb = sub.add_parser("leaderboard", help="build, verify or add to leaderboard/ (see CONTRIBUTING.md)")
    lb.add_argument(
        "action",
        choices=["build", "verify", "add", "schema", "take"],
        help="build: LEADERBOARD.md, leaderboard.csv, plots; verify: what CI checks; "
        "add RESULTS_DIR: copy a run into its entry path; schema: regenerate "
        "result.schema.json; take PR_TREE: lay a pull request's submission (methods, "
        "their METHODS lines, entries, board) onto this checkout, as CI's verify job does",
    )
    lb.add_argument(
        "results",
        nargs="?",
        help="for add: a results directory from `w2s-bench evaluate`; for take: the pull request's checkout",
    )
    lb.add_argument("--root", help="the leaderboard folder (default ./leaderboard)")
    lb.add_argument(
        "--reproduce",
        action="store_true",
        help="verify: also re-run every cell of every new entry under bubblewrap from an "
        "empty cache, compare its predictions, and run the memorizer canary (what CI runs)",
    )
    lb.add_argument(
        "--cells",
        type=int,
        default=None,
        help="verify --reproduce: re-run a sample of at least max(N, 3, 20%%) cells per "
        "new entry, drawn now, instead of every cell (hosts where an entry is too costly)",
    )
    lb.add_argument(
        "--features-cache",
        type=Path,
        default=None,
        help="verify --reproduce: a stage cache whose frozen_features CI filled itself from "
        "the base branch (default: computed in this run)",
    )
    lb.add_argument(
        "--base",
        help="verify: git ref whose merge-base with HEAD holds the existing entries (default origin/main, else main)",
    )
    lb.set_defaults(fn=cmd_leaderboard)

    pl = sub.add_parser("plot", help="the leaderboard's PNGs: student vs ceiling accuracy, PGR bars")
    pl.add_argument("--root", help="the leaderboard folder (default ./leaderboard)")
    pl.add_argument("--out", help="folder for the PNGs (default ROOT/plots)")
    pl.set_defaults(fn=cmd_plot)
    return p


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the pocket suite never needs a hub
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    from w2s_bench.assets import AssetError
    from w2s_bench.specs import SpecError
    from w2s_bench.stages import MethodError

    try:
        return args.fn(args)
    except (SpecError, AssetError, MethodError) as e:
        print(f"w2s-bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nw2s-bench: interrupted; finished stages are cached, run again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
