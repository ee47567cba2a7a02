"""`w2s-bench leaderboard verify --reproduce`: CI re-runs what a new entry claims.

Verify recomputes every number from an entry's predictions; this checks the predictions
themselves. For every new entry it re-runs **every cell** (task x pair x seed) under bubblewrap
from an empty stage cache, with this repository's code, and compares the weak, ceiling and
student test predictions with the entry's: a forged entry with one fabricated cell is rejected
with certainty. Frozen-backbone features depend on no entry: they are computed once per verify
run and shared by its cells, or read from `features_cache` (a cache CI itself filled from the
base branch, never one a pull request wrote). `--cells N` re-runs a sample instead, for hosts
where a whole entry is too costly (hub + GPU suites): at least max(N, 3, 20 % of the cells),
drawn from the operating system's randomness at verify time, so a submitter cannot know which
cells will be checked; a forge of f of n cells passes with probability C(n-f, k) / C(n, k)
(`forge_passes`; CONTRIBUTING.md, "What CI checks"). Then one cell per entry, drawn the same
way, is re-run on label-preserving edits of its test texts (word, case and punctuation edits; on
chess move texts, the history dropped and the board mirrored): the memorizer canary (canary.py).
No number on the board rests on a run that only the audit hook protected: this refuses to run
without bubblewrap.

Tolerance, measured: the pocket.v2 cell sst2 L1->L6 seed 0 of the committed naive entry (run
at 2 torch threads with the code of commit 91e065a), re-run from an empty cache on this 2-core
machine at 2 and at 1 thread: every hard prediction (p > 0.5) agreed and the largest probability
difference was 5.7e-7 (ceiling; weak 1.2e-7, student 1.8e-7), float32 rounding. A cell passes
when each model's hard predictions agree on at least MIN_AGREEMENT of the test examples and no
probability differs by more than MAX_PROB_DIFF, over a thousand times the measured difference yet
small enough that an entry can move only predictions within 0.001 of 0.5. Generative tasks
compare predicted texts (MIN_AGREEMENT) and get no canary.

Suites that need the hub and a GPU (rungs or tasks from the hub) cannot be re-run by CI: verify
notes it, and the board marks such entries "not reproduced by CI".
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

from w2s_bench.leaderboard import entry as E

MIN_AGREEMENT = 0.99
MAX_PROB_DIFF = 1e-3
WHO = ("weak", "ceiling", "student")


def cells_of(result) -> list[tuple]:
    return sorted({(c.task, c.weak_rung, c.strong_rung, c.seed) for c in result.cells})


def pick_cells(result, k: int | None, rng=None) -> list[tuple]:
    """Every cell of the entry (k None), or a sample of at least max(k, 3, 20 %) of them drawn
    from `rng` (default: the operating system's randomness, drawn now)."""
    cells = cells_of(result)
    if k is None:
        return cells
    k = min(len(cells), max(k, 3, math.ceil(0.2 * len(cells))))
    return sorted((rng or secrets.SystemRandom()).sample(cells, k))


def forge_passes(n: int, f: int, k: int) -> float:
    """The probability that a sample of k of n cells misses all f fabricated ones."""
    return math.comb(n - f, k) / math.comb(n, k) if k <= n - f else 0.0


def rerun_cell(result, cell: tuple, cache_root: Path, edit_seed: int | None = None):
    """The cell's CellPredictions, computed from an empty cache with this repository's code;
    with `edit_seed`, on the test texts edited by canary.perturb (and the gold labels)."""
    from w2s_bench.registry import load_ladder, method_ref
    from w2s_bench.stages import Cache, gold_paths, run_cell
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    task_name, weak, strong, seed = cell
    task = load_task(task_name)
    ladder = load_ladder(result.ladder)
    splits = limit_splits(load_splits(task), result.limit)
    gold = [r["label"] for r in splits["test"]]
    if edit_seed is not None:
        from w2s_bench.leaderboard.canary import edit_kind, perturb

        edited = perturb([r["text"] for r in splits["test"]], edit_seed, edit_kind(task))
        splits = {
            **splits,
            "test": [
                {**r, "text": list(t) if isinstance(r["text"], list) else t} for r, t in zip(splits["test"], edited)
            ],
        }
    cache = Cache(cache_root)  # the method's config is read under the same seal as in evaluate
    return run_cell(
        cache,
        task,
        splits,
        ladder,
        ladder.rung(weak),
        ladder.rung(strong),
        seed,
        method_ref(result.method, hidden=gold_paths(cache, task)),
        ceiling=result.ceiling,
        features=False,
        weak_train_size=result.protocol.weak_train_size,
    ), gold


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
    return [
        f"{who} predictions agree on {agree:.1%} of test examples (at least {MIN_AGREEMENT:.0%} "
        f"needed)"
        + (f", largest probability difference {d:.3g} (at most {MAX_PROB_DIFF} allowed)" if d is not None else "")
        for who, (agree, d) in diffs.items()
        if agree < MIN_AGREEMENT or (d is not None and d > MAX_PROB_DIFF)
    ]


def _stored(folder: Path, cell: tuple) -> dict:
    df = E.read_predictions(folder / "predictions.parquet")
    t, w, s, seed = cell
    rows = df[(df.task == t) & (df.weak_rung == w) & (df.strong_rung == s) & (df.seed == seed)].sort_values("index")
    text = "student_text" in rows and rows["student_text"].notna().all() and len(rows)
    return {who: rows[f"{who}_text" if text else who].to_numpy(dtype=object if text else np.float64) for who in WHO}


def reproduce_entries(
    entries, cells: int | None, notes: list[str], features_cache: Path | None = None, canary: bool = True, rng=None
) -> list[str]:
    """Problems of re-running each (folder, result, problems) entry: every cell (`cells` None) or
    a drawn sample, then the canary on one drawn cell. `features_cache`: a stage cache whose
    `frozen_features` CI filled itself (default: computed in this run). `rng`: where samples,
    canary cells and edits are drawn from (default: the operating system's randomness; tests fix it)."""
    from w2s_bench.isolate import BUBBLEWRAP, IsolationError, isolation

    if not entries:
        notes.append("--reproduce: no new entry to re-run")
        return []
    try:
        how = isolation()
    except IsolationError as e:
        how = str(e)
    if how != BUBBLEWRAP:
        return [
            f"--reproduce needs bubblewrap, the sandbox a method's re-run must have (here: {how}); "
            f"install it (Debian: apt-get install bubblewrap) and run with W2S_BENCH_ISOLATION=bubblewrap"
        ]
    with tempfile.TemporaryDirectory(prefix="w2s-reproduce-features-") as shared:
        features = Path(features_cache) / "frozen_features" if features_cache else Path(shared)
        features.mkdir(parents=True, exist_ok=True)
        return _reproduce(entries, cells, notes, features, canary, rng or secrets.SystemRandom())


def _rerun(result, cell, features: Path, edit_seed=None):
    with tempfile.TemporaryDirectory(prefix="w2s-reproduce-") as d:
        (Path(d) / "frozen_features").symlink_to(features, target_is_directory=True)
        fresh, gold = rerun_cell(result, cell, Path(d), edit_seed)
    return {who: getattr(fresh, who) for who in WHO}, gold


def _name(cell) -> str:
    return f"cell {cell[0]} {cell[1]}->{cell[2]} seed {cell[3]}"


def _reproduce(entries, cells, notes: list[str], features: Path, canary: bool, rng) -> list[str]:
    from w2s_bench.leaderboard import canary as C

    problems = []
    for folder, result, found in entries:
        if result is None or found:
            notes.append(f"{folder}: not re-run (--reproduce): fix the problems above first")
            continue
        why = E.not_rerunnable(result)
        if why:
            notes.append(f"{folder}: not reproduced by CI ({why}); the board marks it so")
            continue
        chosen = pick_cells(result, cells, rng)
        t0, bad_cells = time.time(), 0
        for cell in chosen:
            t1 = time.time()
            fresh, _ = _rerun(result, cell, features)
            diffs = compare(_stored(folder, cell), fresh)
            bad = mismatches(diffs)
            if bad:
                bad_cells += 1
                problems.append(
                    f"{folder}: {_name(cell)} does not reproduce: re-run from an empty cache, "
                    + "; ".join(bad)
                    + ". The entry's predictions are not what its method "
                    "and this code produce"
                )
            else:
                notes.append(
                    f"{folder}: {_name(cell)} reproduced in {time.time() - t1:.0f} s ("
                    + ", ".join(
                        f"{who} agreement {a:.1%}" + (f", max diff {d:.2g}" if d is not None else "")
                        for who, (a, d) in diffs.items()
                    )
                    + ")"
                )
        notes.append(
            f"{folder}: {len(chosen) - bad_cells} of {len(chosen)} re-run cells reproduce "
            f"({'every cell' if cells is None else 'a sample drawn now'}; {time.time() - t0:.0f} s)"
        )
        task_kind = {t: load_kind(t) for t in result.tasks}
        candidates = [c for c in chosen if task_kind[c[0]] != "generative"]
        if not canary or bad_cells or not candidates:
            continue
        cell, edit_seed = rng.choice(candidates), rng.randrange(2**32)
        t1 = time.time()
        fresh, gold = _rerun(result, cell, features, edit_seed)
        acc, why = C.canary(_stored(folder, cell), fresh, gold, C.edit_kind(load_task_spec(cell[0])))
        line = (
            f"canary on {_name(cell)} (edited test texts): ceiling {acc['ceiling'][0]:.3f} -> "
            f"{acc['ceiling'][1]:.3f}, student {acc['student'][0]:.3f} -> {acc['student'][1]:.3f}"
        )
        if why:
            problems.append(f"{folder}: {line}: {why}")
        else:
            notes.append(f"{folder}: {line} ({time.time() - t1:.0f} s)")
    return problems


def load_task_spec(task: str):
    from w2s_bench.tasks import load_task

    return load_task(task)


def load_kind(task: str) -> str:
    return load_task_spec(task).kind
