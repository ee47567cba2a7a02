"""`w2s-bench leaderboard verify`: what CI runs on a pull request. Returns one message per problem:

- a file under `leaderboard/` over the size cap, or a stray file in `entries/`;
- an entry whose result.json breaks the schema, sits at the wrong identity path, is a smoke run,
  has fewer than 3 seeds, names a method not registered at its config hash or whose code differs
  from the code hash it records, records task or split hashes that differ from the frozen specs,
  or whose metrics do not recompute from its predictions (`entry.check_entry`);
- an existing entry modified or removed against the merge-base with the base branch (git);
- with `--reproduce`: a new entry whose cells, re-run here under bubblewrap from an empty cache,
  do not give its predictions, or whose student fails the memorizer canary (leaderboard/reproduce.py).
- `result.schema.json`, `LEADERBOARD.md`, `leaderboard.csv` or the site (`site/`) not what the
  code generates, or a plot LEADERBOARD.md or the site shows missing.

Base for the git check: `--base REF` (CI passes origin/<base branch>); otherwise `origin/main`, else
`main`. Where the merge-base is HEAD itself (a clone of main) or no such branch exists, only
uncommitted changes are checked, against HEAD, and a note says so; outside a git repository the
check is skipped with a note.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from w2s_bench.leaderboard import entry as E
from w2s_bench.leaderboard import site
from w2s_bench.leaderboard.build import CSV_FILE, MD_FILE, render


def _git(cwd: Path, *args) -> tuple[int, str]:
    try:
        p = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return 1, str(e)
    return p.returncode, p.stdout.strip() if p.returncode == 0 else p.stderr.strip()


def _merge_base(root: Path, base: str | None, notes: list[str]):
    """(repository top, merge-base commit, its description) or a list of problems; None where
    there is no git history to compare with (a note says why)."""
    root = Path(root).resolve()
    rc, top = _git(root, "rev-parse", "--show-toplevel")
    if rc != 0:
        notes.append(f"{root} is not in a git repository: skipped the checks against git history")
        return None
    if _git(root, "rev-parse", "--verify", "-q", "HEAD")[0] != 0:
        notes.append("the repository has no commit yet: skipped the checks against git history")
        return None
    head = _git(root, "rev-parse", "HEAD")[1]
    if base is not None:
        if _git(root, "rev-parse", "--verify", "-q", f"{base}^{{commit}}")[0] != 0:
            return [f"--base {base}: no such commit or branch here (in CI, check out with fetch-depth: 0)"]
        candidates = [base]
    else:
        candidates = [
            c for c in ("origin/main", "main") if _git(root, "rev-parse", "--verify", "-q", f"{c}^{{commit}}")[0] == 0
        ]
    ref, merge_base = None, None
    for c in candidates:
        rc, mb = _git(root, "merge-base", "HEAD", c)
        if rc == 0 and mb:
            ref, merge_base = c, mb
            break
    if merge_base is None:
        if base is not None:
            return [f"--base {base}: no merge-base with HEAD"]
        notes.append("no main branch to compare with: checked only uncommitted changes to entries, against HEAD")
        merge_base = head
    elif merge_base == head:
        notes.append(
            f"HEAD is the merge-base with {ref} (a clone of main): checked only uncommitted "
            f"changes to entries, against HEAD; on a pull request pass --base origin/main"
        )
    return Path(top), merge_base, f"the merge-base {merge_base[:12]}" + (f" with {ref}" if ref else " (HEAD)")


def _entry_changes(root: Path, base: str | None, notes: list[str]):
    """([(git status letter, path from the repository top)] of files under root/entries against
    the merge-base (untracked files as "A"), the merge-base's description), or problems."""
    found = _merge_base(root, base, notes)
    if found is None or isinstance(found, list):
        return found or [], None
    top, merge_base, against = found
    rel = (Path(root).resolve() / "entries").relative_to(top).as_posix()
    rc, out = _git(top, "diff", "--name-status", "--no-renames", merge_base, "--", rel)
    if rc != 0:
        return [f"git diff against {merge_base[:12]} failed: {out}"], None
    changes = [tuple(line.split("\t", 1)) for line in out.splitlines()]
    rc, untracked = _git(top, "ls-files", "--others", "--exclude-standard", "--", rel)
    changes += [("A", p) for p in untracked.splitlines() if rc == 0 and p]
    return [(status[:1], path) for status, path in changes], (top, merge_base, against)


def history_problems(root: Path, base: str | None, notes: list[str]) -> list[str]:
    """Entries (files under root/entries) modified or removed against the merge-base with `base`."""
    changes, where = _entry_changes(root, base, notes)
    if where is None:
        return changes
    _, merge_base, against = where
    what = {"M": "modified", "D": "removed", "T": "modified (file type)"}
    return [
        f"{path}: existing entry {what[status]} against {against}; entries are immutable: restore "
        f"it (`git checkout {merge_base[:12]} -- {path}`) and submit a new method name instead"
        for status, path in changes
        if status in what
    ]


def new_entries(root: Path, base: str | None, notes: list[str]) -> list[Path]:
    """Entry folders with a file added against the merge-base with `base` (see history_problems)."""
    changes, where = _entry_changes(root, base, notes)
    if where is None:
        return []
    return sorted({(where[0] / path).parent for status, path in changes if status == "A"})


def verify(
    root: Path,
    base: str | None = None,
    git: bool = True,
    reproduce: bool = False,
    cells: int | None = None,
    features_cache: Path | None = None,
) -> tuple[list[str], list[str]]:
    """(problems, notes) for the board at `root`. `reproduce`: also re-run every cell of every new
    entry (`cells`: a sample of that many, drawn now) and the canary (leaderboard/reproduce.py)."""
    from w2s_bench import registry

    root = Path(root)
    problems, notes = [], []
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if f.stat().st_size > E.MAX_FILE_BYTES:
            problems.append(
                f"{f}: {f.stat().st_size:,} bytes, over the {E.MAX_FILE_BYTES:,}-byte cap "
                f"per file (store predictions with `w2s-bench leaderboard add`, zstd)"
            )
    entries = root / "entries"
    folders = set()
    for f in sorted(p for p in entries.rglob("*") if p.is_file()) if entries.is_dir() else []:
        rel = f.relative_to(entries)
        if len(rel.parts) != 4 or rel.name not in E.ENTRY_FILES:
            problems.append(
                f"{f}: not part of an entry; an entry is entries/<suite>/<ladder>/<method>/ "
                f"holding only {' and '.join(E.ENTRY_FILES)}"
            )
            continue
        folders.add(f.parent)
    methods = set()
    for folder in folders:
        try:
            methods.add(E.read_result(folder / "result.json").method)
        except (E.LeaderboardError, OSError):
            pass  # reported by check_entry below
    try:
        registry.method_refs(sorted(methods & set(registry.METHODS)))  # one sealed process for all
    except E.SpecError:
        pass  # each entry's check names its method's problem
    checked = {}
    for folder in sorted(folders):
        if not (folder / "result.json").exists():
            problems.append(
                f"{folder / 'result.json'}: missing; an entry holds the result.json `w2s-bench evaluate` wrote"
            )
            continue
        result, found = E.check_entry(folder)
        problems += found
        checked[folder.resolve()] = (result, found)
        if result is not None and result.method_code_sha256 is None:
            notes.append(f"{folder}: no code hash recorded (entry predates code hashing)")
        if result is not None and folder.relative_to(entries) != E.identity(result):
            problems.append(
                f"{folder / 'result.json'}: a result of {E.identity(result).as_posix()} "
                f"must sit at entries/{E.identity(result).as_posix()}/"
            )
    if git:
        problems += history_problems(root, base, notes)
    if reproduce:
        from w2s_bench.leaderboard.reproduce import reproduce_entries

        new = new_entries(root, base, []) if git else sorted(checked)
        problems += reproduce_entries(
            [(f, *checked.get(f.resolve(), (None, ["unreadable"]))) for f in new], cells, notes, features_cache
        )

    schema = root / E.SCHEMA_FILE
    if not schema.exists() or schema.read_text() != E.schema_text():
        problems.append(
            f"{schema}: not the schema generated from w2s_bench.results.Result; run "
            f"`w2s-bench leaderboard schema` and commit it"
        )
    try:
        md, csv, entries = render(root)
    except E.LeaderboardError:
        notes.append(f"{MD_FILE} not compared: an entry cannot be read (see above)")
    else:
        for name, text in ((MD_FILE, md), (CSV_FILE, csv)):
            path = root / name
            if not path.exists() or path.read_text() != text:
                problems.append(
                    f"{path}: not what `w2s-bench leaderboard build` produces; run it and commit the result"
                )
        for link in sorted(set(re.findall(r"\]\((plots/[^)]+\.png)\)", md))):
            if not (root / link).exists():
                problems.append(
                    f"{root / link}: linked from {MD_FILE} but missing; run "
                    f"`w2s-bench leaderboard build` (or `w2s-bench plot`)"
                )
        try:
            problems += site.problems(root, site.pages(root, entries))
        except E.LeaderboardError as e:  # e.g. a suite without its tier statement
            problems.append(str(e))
    return problems, notes
