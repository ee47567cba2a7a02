"""`w2s-bench check-method NAME`: a method's contract, checked in seconds, as a markdown report.

Runs the method on a tiny real task (rotten_tomatoes, 40 examples per split) on frozen MiniLM
cuts with linear heads (pocket_frozen's mini1 -> mini6, so bootstrap has an intermediate rung,
mini3), as the default suite's rungs are frozen; a method that trains the backbone
(`trains_backbone`, refused on frozen rungs) on the fine-tuned cuts (pocket's L1 -> L3). Checks:

1. it imports nothing of the harness but `w2s_bench.api` (and other methods);
2. its config is a frozen, strict model whose hash is stable and recorded;
3. it trains and returns a probability in [0, 1] for every test example;
4. it is deterministic for a seed (trained twice, identical predictions);
5. it never reads gold labels (it runs sealed — isolate.py — and no blocked read was tried).

The report is what a contributor pastes into the pull request that adds the method.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALLOWED_PREFIXES = ("w2s_bench.api", "w2s_bench.methods")
TASK, LIMIT, SEED = "rotten_tomatoes", 40, 0
# (ladder, weak, strong): frozen rungs; fine-tuned ones for a method that trains the backbone
FROZEN, FINE_TUNED = ("pocket_frozen", "mini1", "mini6"), ("pocket", "L1", "L3")


def ladder_for(method) -> tuple[str, str, str]:
    """The (ladder, weak rung, strong rung) check-method runs `method` (a MethodRef) on."""
    return FINE_TUNED if getattr(method, "trains_backbone", False) else FROZEN


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def harness_imports(method_path: str) -> list[str]:
    """w2s_bench modules the method's Python files ("module:Class" path; read, not imported)
    import beyond the method API, relative imports (`from .. import stages`) resolved."""
    from w2s_bench.registry import import_targets, module_of, source_files

    def allowed(n: str) -> bool:
        return n.startswith(ALLOWED_PREFIXES)

    found = []
    for key, path in source_files(method_path.partition(":")[0]).items():
        module = module_of(key)
        if module is None:
            continue
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (SyntaxError, ValueError):
            continue
        for base, names in import_targets(tree, module, path.name == "__init__.py"):
            if not base.startswith("w2s_bench") or allowed(base):
                continue
            if names and any(p.startswith(base + ".") for p in ALLOWED_PREFIXES):  # from w2s_bench import x
                found += [f"{base}.{n}" for n in names if not allowed(f"{base}.{n}")]
            else:
                found.append(base)
    return sorted(set(found))


def files_section(method_path: str) -> list[str]:
    """The report's list of the method's files: every file its code hash covers, with its size;
    binary ones with their declared reason (or marked, where none is declared)."""
    from w2s_bench.registry import BINARY_FILES, method_files
    from w2s_bench.specs import SpecError

    try:
        files = method_files(method_path.partition(":")[0])
    except SpecError as e:
        return ["", f"Files: {e}"]
    lines = [
        "",
        "Files (all in its code sha256; a binary file needs its reason in the folder's "
        f"`__init__.py`: `{BINARY_FILES} = {{'path': 'reason'}}`):",
        "",
        "| file | size | kind |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `{f.key}` | {f.size} B | "
        + (
            "text"
            if not f.binary
            else f"binary: {f.reason}"
            if f.reason is not None
            else "**binary, no declared reason**"
        )
        + " |"
        for f in files
    ]
    return lines


def _student_run(cache, task, splits, ladder, pair, method):
    from w2s_bench.stages import run_cell

    for stage in ("student", "student_pred"):  # retrain the student, keep weak/ceiling
        shutil.rmtree(cache.root / stage, ignore_errors=True)
    return run_cell(
        cache, task, splits, ladder, ladder.rung(pair[0]), ladder.rung(pair[1]), SEED, method, features=False
    )


def beats_ceiling_check(name: str, root: Path | None = None) -> Check:
    """Whether any board entry of the method has a student beyond its ceiling: PGR above 1 by
    more than its CI, on a task or the suite mean (leaderboard/board.py flags the same)."""
    from w2s_bench.leaderboard.board import board_frame, load_entries
    from w2s_bench.leaderboard.entry import default_root

    root = Path(root) if root else default_root()
    entries = [(f, r) for f, r in load_entries(root) if r.method == name] if (root / "entries").is_dir() else []
    if not entries:
        return Check("student never beats its ceiling beyond the CI", True, "no board entry yet")
    df = board_frame(entries)
    flagged = sorted(set(df[df.flag != ""].entry))
    return Check(
        "student never beats its ceiling beyond the CI",
        not flagged,
        f"{len(entries)} board entr{'y' if len(entries) == 1 else 'ies'}, none with PGR > 1 beyond its CI"
        if not flagged
        else f"{', '.join(flagged)}: PGR above 1 beyond its CI, a student better "
        f"than the strong model trained on gold; a weak-to-strong method cannot do that honestly",
    )


def check_method(name: str) -> tuple[list[Check], str]:
    """The checks of one registered method. Its code runs only in sealed processes."""
    from w2s_bench.registry import METHODS, load_ladder, method_ref
    from w2s_bench.scoring import score_cell
    from w2s_bench.specs import SpecError
    from w2s_bench.stages import Cache, MethodError
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    checks: list[Check] = []
    bad = harness_imports(METHODS[name]) if name in METHODS else []
    checks.append(
        Check(
            "imports only the method API",
            not bad,
            "w2s_bench.api (+ other methods)"
            if not bad
            else f"imports {', '.join(bad)}: a method may import only w2s_bench.api",
        )
    )
    try:
        method, again = method_ref(name), method_ref(name)  # (the second: read from the first)
        checks.append(
            Check(
                "config frozen, strict and hashed",
                method.config_sha256 == again.config_sha256,
                f"sha256 {method.config_sha256[:16]}… {method.config}; code sha256 {method.code_sha256[:16]}…",
            )
        )
    except SpecError as e:  # the config failed to build (in the sealed process)
        checks.append(Check("config frozen, strict and hashed", False, str(e)))
        return checks, ""

    task = load_task(TASK)
    splits = limit_splits(load_splits(task), LIMIT)
    ladder_name, *pair = ladder_for(method)
    ladder = load_ladder(ladder_name)
    gold = np.array([r["label"] for r in splits["test"]])
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="w2s-check-") as d:
        cache = Cache(Path(d))
        try:
            first = _student_run(cache, task, splits, ladder, pair, method)
        except MethodError as e:
            gold_read = "tried to" in str(e) or "may not" in str(e)
            checks.append(
                Check("trains and predicts every test example", gold_read, str(e) if not gold_read else "(not reached)")
            )
            checks.append(Check("never reads gold labels", not gold_read, str(e) if gold_read else "(not reached)"))
            return checks, ""
        p = first.student
        checks.append(
            Check(
                "trains and predicts every test example",
                True,
                f"{len(p)} probabilities in [{p.min():.3f}, {p.max():.3f}]",
            )
        )
        second = _student_run(cache, task, splits, ladder, pair, method)
        diff = float(np.max(np.abs(second.student - p)))
        checks.append(
            Check(
                "deterministic for a seed",
                diff == 0.0,
                "two trainings, identical predictions"
                if diff == 0.0
                else f"two trainings with seed {SEED} differ by up to {diff:.2e}: seed every "
                f"random choice from ctx.seed",
            )
        )
        checks.append(
            Check("never reads gold labels", True, "ran sealed: no gold in its process, no blocked read attempted")
        )
        scored = score_cell(gold, first.weak, first.ceiling, p, 1.0)
    checks.append(beats_ceiling_check(name))
    context = (
        f"{TASK}, {LIMIT} examples per split, {ladder_name} {pair[0]} -> {pair[1]}, seed {SEED}: "
        f"weak acc {scored['weak']['accuracy']:.3f}, ceiling acc {scored['ceiling']['accuracy']:.3f}, "
        f"student acc {scored['student']['accuracy']:.3f} (a smoke run: numbers mean nothing); "
        f"{time.time() - t0:.0f} s"
    )
    return checks, context


def report(name: str, checks: list[Check], context: str) -> str:
    lines = [f"### `w2s-bench check-method {name}`", "", "| check | result | detail |", "| --- | --- | --- |"]
    lines += [f"| {c.name} | {'ok' if c.ok else '**FAIL**'} | {c.detail.replace('|', '/')} |" for c in checks]
    if context:
        lines += ["", context]
    from w2s_bench.registry import METHODS

    if name in METHODS:
        lines += files_section(METHODS[name])
    passed = all(c.ok for c in checks)
    lines += [
        "",
        "All checks passed."
        if passed
        else f"Failed: {', '.join(c.name for c in checks if not c.ok)} (method {name!r}).",
    ]
    return "\n".join(lines)
