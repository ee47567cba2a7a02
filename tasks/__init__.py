"""Task specs (one TOML file per task in this folder) and their frozen splits."""
from __future__ import annotations

from pathlib import Path

from w2s_bench.specs import SPLITS, SpecError, TaskSpec, load_toml

SPEC_DIR = Path(__file__).parent


class SplitHashError(SpecError):
    """A split's content differs from the sha256 frozen in its task spec."""


def task_names() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def load_task(name: str) -> TaskSpec:
    path = SPEC_DIR / f"{name}.toml"
    if not path.exists():
        raise SpecError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    spec = load_toml(path, TaskSpec)
    if spec.name != name:
        raise SpecError(f"{path}: name {spec.name!r} must match the file name {name!r}")
    return spec


def load_splits(spec: TaskSpec, verify: bool = True) -> dict[str, list[dict]]:
    """Build the task's splits from its source; check each against the frozen sha256."""
    from w2s_bench.tasks.builders import build_examples, make_splits, read_rows, split_hash

    splits = make_splits(spec, build_examples(spec, read_rows(spec)))
    if verify:
        if set(spec.split_sha256) != set(SPLITS):
            raise SplitHashError(
                f"task {spec.name}: split_sha256 must freeze all of {SPLITS}; "
                f"run `w2s-bench validate --print-hashes` and copy the hashes into the spec")
        for name in SPLITS:
            got = split_hash(splits[name])
            if got != spec.split_sha256[name]:
                raise SplitHashError(
                    f"task {spec.name}: split {name!r} has sha256 {got[:12]}…, the spec freezes "
                    f"{spec.split_sha256[name][:12]}…. The source data or the split code changed; "
                    f"a frozen task must not change: restore them, or publish a new task "
                    f"({spec.name}.v2) with the new hashes")
    return splits
