"""`w2s-bench leaderboard take PR_TREE`: the pull request's submission, laid onto the base branch.

CI verifies a pull request in a job of its own, on a fresh checkout of the *base* branch: the
harness, the verifier, the tasks and the leaderboard code are the base's. This module (the base's
copy) reads the pull request's checkout as files, never importing or running any of it, and takes
only what a submission consists of:

- `methods/` (a method's file or folder, and changes to other methods, which verify then catches
  as code that no longer matches the entries recorded with it);
- new lines of the `METHODS` dict in `w2s_bench/registry.py`, read from the pull request's
  registry by parsing it, each checked to be a plain `"name": "w2s_bench.methods.module:Class"`
  string (a changed or removed line of an existing name is refused);
- `leaderboard/entries/`, and the generated board (`LEADERBOARD.md`, `leaderboard.csv`, `plots/`,
  `site/`), which verify regenerates with the base's code and compares.

Anything else the pull request changes is listed and left out: a harness change is reviewed and
merged on its own, before entries that depend on it. The method's code then runs only where the
verifier puts it, in sealed processes (w2s_bench/isolate.py): whatever its import does (rewrite
the verifier, say) it does inside a read-only sandbox, and `verify` compares its code hash and
re-runs every cell.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

TAKEN = (
    "methods",
    "leaderboard/entries",
    "leaderboard/LEADERBOARD.md",
    "leaderboard/leaderboard.csv",
    "leaderboard/plots",
    "leaderboard/site",
)
REGISTRY = "w2s_bench/registry.py"
METHOD_PATH = re.compile(r"^w2s_bench\.methods\.[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SubmissionError(ValueError):
    pass


def methods_dict(registry_py: Path) -> dict[str, str]:
    """The literal METHODS dict of a registry.py, parsed (not imported)."""
    tree = ast.parse(registry_py.read_text(), str(registry_py))
    for node in tree.body:
        target = (
            node.targets[0]
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            else (node.target if isinstance(node, ast.AnnAssign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "METHODS":
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise SubmissionError(f"{registry_py}: METHODS must be a literal dict of strings") from None
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise SubmissionError(f"{registry_py}: METHODS must be a literal dict of strings")
            return value
    raise SubmissionError(f"{registry_py}: no METHODS dict found")


def new_methods(pr: Path, base: Path) -> dict[str, str]:
    """The METHODS lines the pull request adds; refuses changed or removed ones."""
    theirs, ours = methods_dict(pr / REGISTRY), methods_dict(base / REGISTRY)
    changed = sorted(n for n in ours if theirs.get(n) != ours[n])
    if changed:
        raise SubmissionError(
            f"{REGISTRY}: the pull request changes or removes registered method(s) "
            f"{', '.join(changed)}; a submission only adds lines (a new name per method)"
        )
    added = {n: p for n, p in theirs.items() if n not in ours}
    bad = [f"{n!r}: {p!r}" for n, p in added.items() if not (METHOD_NAME.match(n) and METHOD_PATH.match(p))]
    if bad:
        raise SubmissionError(
            f"{REGISTRY}: new METHODS line(s) {', '.join(bad)} must read "
            f'"name": "w2s_bench.methods.module:Class" (lower-case name)'
        )
    return added


def _register(base: Path, added: dict[str, str]) -> None:
    """Append `added` to the base registry's METHODS dict, before its closing brace."""
    path = base / REGISTRY
    text = path.read_text()
    start = text.index("METHODS = {")
    end = text.index("\n}", start)
    lines = "".join(f'\n    "{n}": "{p}",' for n, p in added.items())
    path.write_text(text[:end] + lines + text[end:])


def _tracked(tree: Path, rel: str) -> list[str]:
    """Files git tracks under `rel` in `tree` (every file where `tree` is not a git checkout)."""
    p = subprocess.run(["git", "-C", str(tree), "ls-files", "-z", "--", rel], capture_output=True)
    if p.returncode == 0:
        return [f for f in p.stdout.decode().split("\0") if f]
    root = tree / rel
    files = [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else []
    return [f.relative_to(tree).as_posix() for f in files]


def _differs(pr: Path, base: Path, rel: str) -> bool:
    a, b = pr / rel, base / rel
    return not (a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes())


def take(pr: Path, base: Path) -> list[str]:
    """Lay the submission in `pr` onto the base checkout `base` (in place); return notes: what was
    taken and which other changed files were left out. Raises SubmissionError."""
    pr, base = Path(pr).resolve(), Path(base).resolve()
    added = new_methods(pr, base)
    notes = []
    for rel in TAKEN:
        for f in _tracked(pr, rel):
            if (pr / f).is_symlink():
                raise SubmissionError(f"{f}: a symlink; a submission holds regular files only")
        target = base / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        for f in _tracked(pr, rel):
            (base / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pr / f, base / f)
    if added:
        _register(base, added)
        notes.append(f"registered {', '.join(f'{n} ({p})' for n, p in added.items())}")
    if (pr / REGISTRY).read_text() != (base / REGISTRY).read_text():
        notes.append(f"{REGISTRY}: only its new METHODS lines were taken")
    others = sorted(
        f
        for f in _tracked(pr, ".")
        if not any(f == t or f.startswith(t + "/") for t in TAKEN) and f != REGISTRY and _differs(pr, base, f)
    )
    gone = sorted(
        f
        for f in _tracked(base, ".")
        if not (pr / f).exists() and not any(f == t or f.startswith(t + "/") for t in TAKEN)
    )
    if others or gone:
        notes.append(
            "left out (verified with the base branch's code instead): "
            + ", ".join(others + [f"{g} (removed)" for g in gone])
        )
    return notes
