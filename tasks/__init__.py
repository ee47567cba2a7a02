"""Task specs (one TOML file per task in this folder; the paper suite's in paper/) and their frozen
splits.

A split's content hash is frozen in its spec (`split_sha256`) or, for a hub task whose hashes
cannot be computed where the spec was written, in the lock file `splits.lock.json`: on a host with
the hub `w2s-bench validate --record` loads each such task once and records its split hashes, the
spec hash they belong to and the commit of the source it read (a spec whose `revision` is a branch
such as `refs/convert/parquet` is read at that recorded commit from then on). `load_splits`
enforces the lock exactly as it enforces hashes frozen in a spec.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from w2s_bench.specs import SPLITS, HubSource, SpecError, TaskSpec, is_commit, load_toml, spec_hash

SPEC_DIR = Path(__file__).parent
SPEC_DIRS = (SPEC_DIR, SPEC_DIR / "paper")  # the pocket and pairwise tasks; the paper suite
LOCK_FILE = SPEC_DIR / "splits.lock.json"
RECORD = "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 w2s-bench validate --record"


class SplitHashError(SpecError):
    """A split's content differs from the sha256 frozen in its task spec or in the lock file."""


def _spec_paths() -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for folder in SPEC_DIRS:
        for p in sorted(folder.glob("*.toml")):
            if p.stem in paths:
                raise SpecError(
                    f"task {p.stem!r} is defined twice: {paths[p.stem]} and {p}; "
                    f"task names must be unique across {', '.join(map(str, SPEC_DIRS))}"
                )
            paths[p.stem] = p
    return paths


def task_names() -> list[str]:
    return sorted(_spec_paths())


def task_path(name: str) -> Path:
    paths = _spec_paths()
    if name not in paths:
        raise SpecError(f"unknown task {name!r}; known tasks: {', '.join(sorted(paths))}")
    return paths[name]


def load_task(name: str) -> TaskSpec:
    path = task_path(name)
    spec = load_toml(path, TaskSpec)
    if spec.name != name:
        raise SpecError(f"{path}: name {spec.name!r} must match the file name {name!r}")
    return spec


# ---- the lock file --------------------------------------------------------------------------


def read_lock(path: Path | None = None) -> dict:
    path = Path(path or LOCK_FILE)
    if not path.exists():
        return {}
    try:
        lock = json.loads(path.read_text())
    except ValueError as e:
        raise SplitHashError(f"{path}: not valid JSON ({e}); restore it from git") from None
    if not isinstance(lock, dict):
        raise SplitHashError(f"{path}: must be a JSON object task -> entry; restore it from git")
    return lock


def write_json(obj, path: Path) -> None:
    """JSON (sorted keys), atomically: a temporary file in the same folder renamed over `path`;
    nothing half-written is left behind if the write fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def needs_lock(spec: TaskSpec) -> bool:
    """A hub task whose spec freezes no split hashes: they live in the lock file."""
    return isinstance(spec.source, HubSource) and not spec.split_sha256


def lock_entry(spec: TaskSpec, lock: dict) -> dict | None:
    """The task's lock entry, checked to belong to this very spec (else a clear error)."""
    entry = lock.get(spec.name)
    if entry is None or not needs_lock(spec):
        return None
    if entry.get("spec_sha256") != spec_hash(spec):
        raise SplitHashError(
            f"task {spec.name}: {LOCK_FILE.name} records split hashes for spec sha256 "
            f"{str(entry.get('spec_sha256'))[:12]}…, but the spec now hashes to {spec_hash(spec)[:12]}…. "
            f"A frozen task must not change: restore its spec file, or publish a new task "
            f"({spec.name}.v2) and record it with `{RECORD}`"
        )
    return entry


def frozen_split_hashes(spec: TaskSpec, lock: dict | None = None) -> tuple[dict[str, str], str]:
    """(split -> sha256, where they are frozen): the spec's own, else the lock's, else ({}, '')."""
    if spec.split_sha256:
        return dict(spec.split_sha256), "the spec"
    entry = lock_entry(spec, read_lock() if lock is None else lock)
    if entry:
        return dict(entry["split_sha256"]), LOCK_FILE.name
    return {}, ""


def pinned(spec: TaskSpec, lock: dict) -> TaskSpec:
    """The spec to read the source with: a hub revision that names a branch is replaced by the
    commit the lock recorded for it."""
    entry = lock_entry(spec, lock)
    if entry and not is_commit(spec.source.revision):
        return spec.model_copy(update={"source": spec.source.model_copy(update={"revision": entry["source_revision"]})})
    return spec


def _not_frozen(spec: TaskSpec) -> SplitHashError:
    if isinstance(spec.source, HubSource):
        return SplitHashError(
            f"task {spec.name}: its split hashes are frozen neither in the spec nor in "
            f"tasks/{LOCK_FILE.name}; on a host with the hub run `{RECORD}` and commit "
            f"tasks/{LOCK_FILE.name}"
        )
    return SplitHashError(
        f"task {spec.name}: split_sha256 must freeze all of {SPLITS}; "
        f"run `w2s-bench validate --print-hashes` and copy the hashes into the spec"
    )


def weak_subset(rows: list[dict], size: int | None) -> list[dict]:
    """The first size / 2 examples of each class of a split, in split order (all rows if None):
    the weak model's training set under a protocol with `weak_train_size`. weak_train is balanced,
    so this is exactly `size` examples, unless a smoke run (`--limit`) cut the split shorter."""
    if size is None:
        return rows
    counts = {0: 0, 1: 0}
    out = []
    for r in rows:
        if counts[r["label"]] < size // 2:
            counts[r["label"]] += 1
            out.append(r)
    return out


def limit_splits(splits: dict, limit: int | None) -> dict:
    """The first `limit` rows of each split (a smoke run; its results say so)."""
    return splits if limit is None else {k: v[:limit] for k, v in splits.items()}


def load_splits(spec: TaskSpec, verify: bool = True, lock_path: Path | None = None) -> dict[str, list[dict]]:
    """Build the task's splits from its source; check each against the frozen sha256 (the spec's,
    or the lock file's for a hub task recorded with `validate --record`)."""
    from w2s_bench.tasks.builders import build_examples, make_splits, read_rows, split_hash

    lock = read_lock(lock_path)
    frozen, where = frozen_split_hashes(spec, lock)
    if verify and set(frozen) != set(SPLITS):
        raise _not_frozen(spec)  # before any download
    source_spec = pinned(spec, lock)
    splits = make_splits(spec, build_examples(spec, read_rows(source_spec)))
    if verify:
        for name in SPLITS:
            got = split_hash(splits[name])
            if got == frozen[name]:
                continue
            if where == "the spec":
                raise SplitHashError(
                    f"task {spec.name}: split {name!r} has sha256 {got[:12]}…, the spec freezes "
                    f"{frozen[name][:12]}…. The source data or the split code changed; "
                    f"a frozen task must not change: restore them, or publish a new task "
                    f"({spec.name}.v2) with the new hashes"
                )
            raise SplitHashError(
                f"task {spec.name}: split {name!r} has sha256 {got[:12]}…, tasks/{where} freezes "
                f"{frozen[name][:12]}… (source {spec.source.id} at {source_spec.source.revision}). "
                f"The source data or the split code changed; a frozen task must not change: "
                f"restore them (and tasks/{where} from git), or publish a new task ({spec.name}.v2) "
                f"and record it with `{RECORD}`"
            )
    return splits


def resolve_revision(source: HubSource) -> str:
    """The commit a hub revision names now (a commit names itself)."""
    if is_commit(source.revision):
        return source.revision
    from huggingface_hub import HfApi

    return HfApi().dataset_info(source.id, revision=source.revision).sha


def record(spec: TaskSpec, lock_path: Path | None = None, resolve=resolve_revision) -> str:
    """`validate --record` for one task: a hub task whose spec freezes no split hashes gets its
    lock entry (split hashes, spec hash, resolved source commit), written atomically. An existing
    entry is never overwritten: the task is re-loaded and checked against it instead."""
    from w2s_bench.tasks.builders import split_hash

    path = Path(lock_path or LOCK_FILE)
    if not needs_lock(spec):
        return "frozen in the spec" if spec.split_sha256 else "not a hub task: nothing to record"
    if lock_entry(spec, read_lock(path)):
        load_splits(spec, lock_path=path)  # a mismatch raises SplitHashError naming task and fix
        return f"matches {path.name}"
    revision = resolve(spec.source)
    if not is_commit(revision):
        raise SpecError(
            f"task {spec.name}: revision {spec.source.revision!r} resolved to {revision!r}, not a 40-hex commit"
        )
    at = spec.model_copy(update={"source": spec.source.model_copy(update={"revision": revision})})
    splits = load_splits(at, verify=False, lock_path=path)
    entry = {
        "spec_sha256": spec_hash(spec),
        "source_revision": revision,
        "split_sha256": {k: split_hash(v) for k, v in splits.items()},
    }
    lock = read_lock(path)  # re-read: write only this entry, never over one written meanwhile
    if spec.name in lock:
        raise SplitHashError(
            f"task {spec.name}: {path} gained an entry while recording; run "
            f"`{RECORD}` again (it checks the existing entry)"
        )
    lock[spec.name] = entry
    write_json(lock, path)
    return f"recorded in {path.name} (source commit {revision[:12]}…)"
