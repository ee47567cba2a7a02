"""One leaderboard entry: the folder `entries/<suite>/<ladder>/<method>/` holding a run's
`result.json` (schema: `result.schema.json`, generated from `w2s_bench.results.Result`) and its
per-example test predictions `predictions.parquet` (float64, zstd). `check_entry` re-derives
everything an entry claims from this repository: registered method and config hash, frozen task
and ladder specs, and every metric from the predictions and the frozen test labels. It refuses a
run whose method was sealed by the audit hook alone (`environment.isolation`; results older than
the field, None, predate the check), as `add` does before anything else. `board_roots` says where
boards are read from in this process (a method's sealed process may not read them:
`stages.gold_paths`).
"""

from __future__ import annotations

import json
from pathlib import Path

from w2s_bench.specs import SpecError

ENTRY_FILES = ("result.json", "predictions.parquet")
PRED_COLUMNS = {
    "task": "object",
    "weak_rung": "object",
    "strong_rung": "object",
    "seed": "int64",
    "index": "int64",
    "weak": "float64",
    "ceiling": "float64",
    "student": "float64",
}
TEXT_COLUMNS = ("weak_text", "ceiling_text", "student_text")  # generative tasks' predicted texts
MIN_SEEDS = 3
MAX_FILE_BYTES = 5_000_000  # per file under leaderboard/ (CONTRIBUTING.md states it)
SCHEMA_FILE = "result.schema.json"
GOLD_CACHE: dict = {}  # (task, limit) -> frozen test labels, loaded once per process
_READ_ROOTS: dict[Path, None] = {}  # boards this process read entries of (board_roots)


class LeaderboardError(SpecError):
    """An entry or the board cannot be read or written; the message names the file and the fix."""


def default_root() -> Path:
    root = Path("leaderboard")
    if not (root / "entries").is_dir() and not (root / "__init__.py").exists():
        raise LeaderboardError("no leaderboard/ folder here: run from the repository root or pass --root")
    _READ_ROOTS[root.resolve()] = None
    return root


def board_roots() -> list[Path]:
    """Every folder a board may be read from here (absolute): the package's (w2s_bench.leaderboard,
    which is the repository's leaderboard/ only in an editable install), the working directory's
    leaderboard/ where it exists (every `leaderboard` command's default root), and each board this
    process has checked or added an entry in (`--root`)."""
    import w2s_bench.leaderboard

    roots = [Path(w2s_bench.leaderboard.__file__).parent.resolve()]
    if Path("leaderboard").is_dir():
        roots.append(Path("leaderboard").resolve())
    return list(dict.fromkeys(roots + list(_READ_ROOTS)))


def _note_board_of(folder: Path) -> None:
    """Remember the board an entry folder (ROOT/entries/suite/ladder/method) lies in, if it does."""
    folder = Path(folder).resolve()
    if folder.parent.parent.parent.name == "entries":
        _READ_ROOTS[folder.parent.parent.parent.parent] = None


def identity(result) -> Path:
    """suite / ladder / method, the method marked when PGR is against the generative ceiling."""
    ceiling = "+generative-ceiling" if getattr(result, "ceiling", "standard") == "generative" else ""
    return Path(result.suite) / result.ladder / f"{result.method}{ceiling}"


def schema_text() -> str:
    from w2s_bench.results import Result

    return json.dumps(Result.model_json_schema(), indent=1, sort_keys=True) + "\n"


def write_schema(root: Path) -> Path:
    path = Path(root) / SCHEMA_FILE
    path.write_text(schema_text())
    return path


def read_result(path: Path):
    from pydantic import ValidationError

    from w2s_bench.results import Result

    try:
        return Result.model_validate_json(Path(path).read_text())
    except (ValidationError, ValueError) as e:
        first = str(e).splitlines()
        detail = "; ".join(first[:3]) if first else type(e).__name__
        raise LeaderboardError(
            f"{path}: breaks the result schema ({SCHEMA_FILE}): {detail}. "
            f"Submit the result.json `w2s-bench evaluate` wrote, unedited"
        ) from None


def read_predictions(path: Path):
    import numpy as np
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a truncated or foreign file
        raise LeaderboardError(
            f"{path}: cannot be read as parquet ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); the file is truncated "
            f"or not the predictions.parquet `w2s-bench evaluate` wrote"
        ) from None
    got = {c: str(t) for c, t in df.dtypes.items()}
    want_strings = {c for c, t in PRED_COLUMNS.items() if t == "object"}
    bad = [
        c
        for c in PRED_COLUMNS
        if c not in got or not (got[c] == PRED_COLUMNS[c] or (c in want_strings and got[c] in ("str", "string")))
    ]
    extra = set(got) - set(PRED_COLUMNS)
    if bad or (extra and extra != set(TEXT_COLUMNS)):
        raise LeaderboardError(
            f"{path}: columns {got} are not the predictions schema {PRED_COLUMNS}"
            f" (plus {TEXT_COLUMNS} where a task is generative)"
        )
    text = df[list(TEXT_COLUMNS)].notna().all(axis=1).to_numpy() if extra else np.zeros(len(df), dtype=bool)
    probs = df.loc[~text, ["weak", "ceiling", "student"]].to_numpy()  # rows of texts: NaN there
    if not (((probs >= 0) & (probs <= 1)).all()):
        raise LeaderboardError(f"{path}: predictions must be probabilities in [0, 1] (NaN or out of range found)")
    return df


def hook_only(result) -> str | None:
    """Why a result's number cannot go on the board because its method's processes were sealed by
    the audit hook alone (isolate.py: native code gets around it), or None. Results that predate
    `environment.isolation` (None) are not refused."""
    from w2s_bench.isolate import BUBBLEWRAP

    how = result.environment.isolation
    if how in (None, BUBBLEWRAP):
        return None
    seeds = ",".join(map(str, result.seeds))
    ceiling = " --ceiling generative" if getattr(result, "ceiling", "standard") == "generative" else ""
    return (
        f"environment.isolation is {how!r}, not {BUBBLEWRAP!r}: the method's processes (some "
        f"or all) were sealed by the audit hook alone, which native code can get around, so no "
        f"board number rests on this run. Install bubblewrap (Debian: `apt-get install bubblewrap`) and "
        f"re-run `W2S_BENCH_ISOLATION={BUBBLEWRAP} w2s-bench evaluate --method {result.method} "
        f"--suite {result.suite} --ladder {result.ladder} --seeds {seeds}{ceiling}` (it stops "
        f"where bubblewrap cannot run instead of falling back), then add that results directory"
    )


def not_rerunnable(result) -> str | None:
    """Why CI (CPU, offline but for PyPI) cannot re-run this entry's cells, or None where it can:
    no rung or task may come from the hub (the pocket suites read registry wheels and files)."""
    from w2s_bench import registry
    from w2s_bench.specs import HubSource
    from w2s_bench.tasks import load_task

    try:
        ladder = registry.load_ladder(result.ladder)
        tasks = [load_task(t) for t in result.tasks]
    except SpecError as e:
        return str(e)
    hub = [r.name for r in ladder.rungs if isinstance(r.source, HubSource)]
    hub += [t.name for t in tasks if isinstance(t.source, HubSource)]
    return (
        (f"{', '.join(hub)} come(s) from the Hugging Face hub and need a GPU host; CI runs on CPUs without the hub")
        if hub
        else None
    )


def split_hash_problems(name: str, spec, recorded: dict[str, str], lock: dict | None = None) -> list[str]:
    """The entry's split hashes for task `name` against those frozen in its spec or, for a hub
    task, in tasks/splits.lock.json (`lock`: that file's content; default: read it)."""
    from w2s_bench.tasks import RECORD, SplitHashError, frozen_split_hashes

    try:
        frozen, where = frozen_split_hashes(spec, lock)
    except SplitHashError as e:  # a lock entry of another spec version
        return [str(e)]
    if not frozen:
        return [
            (
                f"task {name}: no frozen split hashes to check the entry's against (neither in the "
                f"spec nor in tasks/splits.lock.json); run `{RECORD}` on a host with the hub, commit "
                f"tasks/splits.lock.json, then re-run the entry on the frozen splits"
            )
        ]
    source = "the frozen spec's" if where == "the spec" else f"the lock's (tasks/{where})"
    return [
        f"task {name}: split {split!r} sha256 {h[:12]}… differs from {source} "
        f"{str(frozen.get(split))[:12]}… (task spec {name}); re-run on the frozen splits"
        for split, h in sorted(recorded.items())
        if h != frozen.get(split)
    ]


def check_entry(folder: Path, gold_cache: dict | None = None) -> tuple[object | None, list[str]]:
    """(result or None, problems): every check that needs no git history. Messages name the file."""
    from w2s_bench import registry
    from w2s_bench.scoring import recheck, same_number, summarize
    from w2s_bench.specs import spec_hash
    from w2s_bench.tasks import load_task

    folder = Path(folder)
    _note_board_of(folder)
    gold_cache = GOLD_CACHE if gold_cache is None else gold_cache
    rpath, ppath = folder / "result.json", folder / "predictions.parquet"
    try:
        result = read_result(rpath)
    except (LeaderboardError, OSError) as e:
        return None, [str(e)]
    problems = []

    def bad(msg, path=rpath):
        problems.append(f"{path}: {msg}")

    if result.limit is not None:
        bad(
            f"a smoke run (--limit {result.limit}) is not a leaderboard run; run "
            f"`w2s-bench evaluate --method {result.method} --seeds 0,1,2` without --limit"
        )
    if hook_only(result):
        bad(hook_only(result))
    need = max(MIN_SEEDS, result.protocol.min_seeds)
    if len(set(result.seeds)) < need or len(set(result.seeds)) != len(result.seeds):
        bad(
            f"seeds {result.seeds}: a leaderboard entry of suite {result.suite} needs at least {need} "
            f"distinct seeds (`--seeds {','.join(map(str, range(need)))}`)"
        )

    ref = None
    if result.method not in registry.METHODS:
        bad(
            f"method {result.method!r} is not registered in this repository (w2s_bench/registry.py "
            f"METHODS); add its file and registry line in the same pull request"
        )
    else:
        try:
            ref = registry.method_ref(result.method)  # its config read in a sealed process
        except SpecError as e:
            bad(str(e))
    if ref is not None:
        if result.method_config_sha256 != ref.config_sha256 or result.method_config != ref.config:
            bad(
                f"method {result.method!r} is registered with config sha256 {ref.config_sha256[:12]}… "
                f"{ref.config}, the entry records {result.method_config_sha256[:12]}… "
                f"{result.method_config}; re-run with the registered config (a changed config is a "
                f"new method name)"
            )
        if result.method_code_sha256 not in (None, ref.code_sha256):
            files = ", ".join(str(p) for p in registry.source_files(ref.path.partition(":")[0]).values())
            bad(
                f"method {result.method!r}: its code here ({files}; sha256 {ref.code_sha256[:12]}…) "
                f"is not the code the entry ran (sha256 {result.method_code_sha256[:12]}…); an entry "
                f"is tied to its method's code: restore the file, or submit the changed method "
                f"under a new name"
            )

    try:
        suite = registry.load_suite(result.suite)
        ladder = registry.load_ladder(result.ladder)
    except SpecError as e:
        bad(f"{e}; entries must use a suite and a ladder shipped in this repository")
    else:
        if spec_hash(ladder) != result.ladder_sha256:
            bad(
                f"ladder {result.ladder!r} has sha256 {spec_hash(ladder)[:12]}… here, the entry "
                f"records {result.ladder_sha256[:12]}…; re-run on the frozen ladder"
            )
        if sorted(result.tasks) != sorted(suite.tasks):
            bad(
                f"tasks {sorted(result.tasks)} are not suite {suite.name!r}'s {sorted(suite.tasks)}; "
                f"run the whole suite (no --tasks)"
            )
        if result.ladder == suite.ladder and [tuple(p) for p in result.pairs] != [tuple(p) for p in suite.pairs]:
            bad(f"pairs {result.pairs} are not suite {suite.name!r}'s {suite.pairs}; run without --pairs")
        if result.protocol != suite.protocol:
            bad(f"protocol {result.protocol} differs from suite {suite.name!r}'s {suite.protocol}")

    hashes_ok = True
    for name, info in result.tasks.items():
        try:
            spec = load_task(name)
        except SpecError as e:
            bad(str(e))
            hashes_ok = False
            continue
        if info.spec_sha256 != spec_hash(spec):
            bad(
                f"task {name}: spec sha256 {info.spec_sha256[:12]}… differs from the frozen spec "
                f"tasks/{name}.toml ({spec_hash(spec)[:12]}…); re-run on the frozen task"
            )
            hashes_ok = False
        found = split_hash_problems(name, spec, info.split_sha256)
        for msg in found:
            bad(msg)
        hashes_ok = hashes_ok and not found

    want_cells = {(t, w, s, seed) for t in result.tasks for w, s in result.pairs for seed in result.seeds}
    got_cells = [(c.task, c.weak_rung, c.strong_rung, c.seed) for c in result.cells]
    if sorted(got_cells) != sorted(want_cells):
        bad(f"cells are not exactly one per task x pair x seed ({len(got_cells)} cells, {len(want_cells)} expected)")

    if not ppath.exists():
        bad("missing; an entry holds the predictions.parquet `w2s-bench evaluate` wrote", ppath)
    elif hashes_ok:
        try:
            preds = read_predictions(ppath)
            problems += [
                f"{ppath}: {p}; the stored metric does not follow from the stored "
                f"predictions (hand-edited or truncated?)"
                for p in recheck(result, preds, gold_cache)
            ]
        except SpecError as e:  # LeaderboardError, or the repository's data fails its frozen hash
            problems.append(str(e))

    if result.cells:
        _, _, srow = summarize([c.model_dump() for c in result.cells], result.protocol.headline)
        fresh = srow.iloc[0].to_dict()
        for k, v in result.summary.items():
            if k not in fresh or not same_number(fresh[k], v):
                bad(f"summary {k} = {v!r}, recomputed from the cells {fresh.get(k)!r}")
    return result, problems


def add(results_dir: Path, root: Path) -> Path:
    """Copy a results directory into its identity path (predictions re-written with zstd) after
    checking it (a hook-only run is refused first: `hook_only`); an existing entry is never
    replaced."""
    import shutil

    results_dir = Path(results_dir)
    if not (results_dir / "result.json").exists():
        raise LeaderboardError(f"{results_dir} holds no result.json; give the folder `w2s-bench evaluate` wrote")
    why = hook_only(read_result(results_dir / "result.json"))  # refused before anything else runs
    if why:
        raise LeaderboardError(f"{results_dir / 'result.json'}: {why}")
    _READ_ROOTS[Path(root).resolve()] = None
    result, problems = check_entry(results_dir)
    if problems:
        raise LeaderboardError(f"{results_dir} is not a valid entry:\n  " + "\n  ".join(problems))
    dest = Path(root) / "entries" / identity(result)
    if dest.exists():
        raise LeaderboardError(
            f"{dest} exists; entries are immutable. A new config or changed method is a new method name"
        )
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(results_dir / "result.json", tmp / "result.json")
    read_predictions(results_dir / "predictions.parquet").to_parquet(
        tmp / "predictions.parquet", index=False, compression="zstd"
    )
    tmp.rename(dest)
    return dest
