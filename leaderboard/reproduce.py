"""`w2s-bench leaderboard verify --reproduce`: CI re-runs what a new entry claims.

Verify recomputes every number from an entry's predictions; this checks the predictions
themselves. For every new entry it re-runs a sample of its cells (task x pair x seed; `--cells`,
default 1) from an empty stage cache (frozen-backbone features, which depend on no entry, are
computed once per verify run and shared by its cells), with this repository's code, and compares the weak, ceiling
and student test predictions with the entry's. The cells are chosen by the sha256 of the entry's
files, so a submitter cannot choose which cell is checked without changing the entry (see
CONTRIBUTING.md, "What CI checks", for what that leaves open).

Tolerance, measured: the pocket.v2 cell sst2 L1->L6 seed 0 of the committed naive entry (run
at 2 torch threads with the code of commit 91e065a), re-run from an empty cache on this 2-core
machine at 2 and at 1 thread: every hard prediction (p > 0.5) agreed and the largest probability
difference was 5.7e-7 (ceiling; weak 1.2e-7, student 1.8e-7), float32 rounding. A cell passes
when each model's hard predictions agree on at least MIN_AGREEMENT of the test examples and no
probability differs by more than MAX_PROB_DIFF, over a thousand times the measured difference yet
small enough that an entry can move only predictions within 0.001 of 0.5. Generative tasks
compare predicted texts (MIN_AGREEMENT).

Suites that need the hub and a GPU (rungs or tasks from the hub) cannot be re-run by CI: verify
notes it, and the board marks such entries "not reproduced by CI".
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from w2s_bench.leaderboard import entry as E

MIN_AGREEMENT = 0.99
MAX_PROB_DIFF = 1e-3
WHO = ("weak", "ceiling", "student")


def sample_cells(folder: Path, result, k: int) -> list[tuple]:
    """k cells (task, weak rung, strong rung, seed) of the entry, ordered by the sha256 of the
    entry's files and the cell: fixed by the entry's content."""
    digest = hashlib.sha256(b"".join((folder / f).read_bytes() for f in E.ENTRY_FILES)).hexdigest()
    cells = sorted({(c.task, c.weak_rung, c.strong_rung, c.seed) for c in result.cells})
    return sorted(cells, key=lambda c: hashlib.sha256(f"{digest}/{c}".encode()).hexdigest())[:k]


def rerun_cell(result, cell: tuple, cache_root: Path):
    """The cell's CellPredictions, computed from an empty cache with this repository's code."""
    from w2s_bench.registry import load_ladder, method_ref
    from w2s_bench.stages import Cache, run_cell
    from w2s_bench.tasks import limit_splits, load_splits, load_task
    task_name, weak, strong, seed = cell
    task = load_task(task_name)
    ladder = load_ladder(result.ladder)
    splits = limit_splits(load_splits(task), result.limit)
    return run_cell(Cache(cache_root), task, splits, ladder, ladder.rung(weak), ladder.rung(strong),
                    seed, method_ref(result.method), ceiling=result.ceiling, features=False,
                    weak_train_size=result.protocol.weak_train_size)


def compare(stored: dict, fresh: dict) -> dict[str, tuple[float, float | None]]:
    """{model: (agreement of hard predictions or texts, largest probability difference or None)}."""
    out = {}
    for who in WHO:
        a, b = np.asarray(stored[who]), np.asarray(fresh[who])
        if a.dtype == object or b.dtype == object:  # generative: texts
            out[who] = (float(np.mean([x == y for x, y in zip(a, b)])) if len(a) == len(b) else 0.0, None)
        elif a.shape != b.shape:
            out[who] = (0.0, float("inf"))
        else:
            out[who] = (float(np.mean((a > 0.5) == (b > 0.5))), float(np.max(np.abs(a - b), initial=0.0)))
    return out


def mismatches(diffs: dict) -> list[str]:
    return [f"{who} predictions agree on {agree:.1%} of test examples (at least {MIN_AGREEMENT:.0%} "
            f"needed)" + (f", largest probability difference {d:.3g} (at most {MAX_PROB_DIFF} allowed)"
                          if d is not None else "")
            for who, (agree, d) in diffs.items()
            if agree < MIN_AGREEMENT or (d is not None and d > MAX_PROB_DIFF)]


def _stored(folder: Path, cell: tuple) -> dict:
    df = E.read_predictions(folder / "predictions.parquet")
    t, w, s, seed = cell
    rows = df[(df.task == t) & (df.weak_rung == w) & (df.strong_rung == s) & (df.seed == seed)].sort_values("index")
    text = "student_text" in rows and rows["student_text"].notna().all() and len(rows)
    return {who: rows[f"{who}_text" if text else who].to_numpy(dtype=object if text else np.float64)
            for who in WHO}


def reproduce_entries(entries, cells: int, notes: list[str]) -> list[str]:
    """Problems of re-running `cells` sampled cells of each (folder, result, problems) entry."""
    problems = []
    if not entries:
        notes.append("--reproduce: no new entry to re-run")
    # frozen-backbone features depend only on pinned weights and the split's texts, never on an
    # entry: computed once in this run (not read from any earlier cache) and shared by its cells
    shared = tempfile.TemporaryDirectory(prefix="w2s-reproduce-features-")
    try:
        return problems + _reproduce(entries, cells, notes, Path(shared.name))
    finally:
        shared.cleanup()


def _reproduce(entries, cells: int, notes: list[str], features: Path) -> list[str]:
    problems = []
    for folder, result, found in entries:
        if result is None or found:
            notes.append(f"{folder}: not re-run (--reproduce): fix the problems above first")
            continue
        why = E.not_rerunnable(result)
        if why:
            notes.append(f"{folder}: not reproduced by CI ({why}); the board marks it so")
            continue
        for cell in sample_cells(folder, result, cells):
            t0 = time.time()
            with tempfile.TemporaryDirectory(prefix="w2s-reproduce-") as d:
                (Path(d) / "frozen_features").symlink_to(features, target_is_directory=True)
                fresh = rerun_cell(result, cell, Path(d))
            diffs = compare(_stored(folder, cell), {who: getattr(fresh, who) for who in WHO})
            name = f"cell {cell[0]} {cell[1]}->{cell[2]} seed {cell[3]}"
            bad = mismatches(diffs)
            if bad:
                problems.append(f"{folder}: {name} does not reproduce: re-run from an empty cache, its "
                                + "; ".join(bad) + ". The entry's predictions are not what its method "
                                "and this code produce")
            else:
                notes.append(f"{folder}: {name} reproduced in {time.time() - t0:.0f} s ("
                             + ", ".join(f"{who} agreement {a:.1%}" + (f", max diff {d:.2g}" if d is not None else "")
                                         for who, (a, d) in diffs.items()) + ")")
    return problems
