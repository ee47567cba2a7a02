"""What a method's sealed process may read, and which runs may go on the board (issue "Integrity,
round two", 2 and 3).

gold_paths hides the folders data is read from, not where the repository happens to be: the
leaderboard is read from the working directory's leaderboard/ (and from any --root board), which
is the package's folder only in an editable install. Tested with a working directory away from
the package (in process), and in a non-editable install (pip into a fresh venv, marked slow).

No board number from a hook-only run: `leaderboard add` and `check_entry` refuse a result whose
environment.isolation is the audit hook's, with how to re-run it; committed entries (None or
bubblewrap) still pass."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2s_bench import isolate
from w2s_bench.leaderboard import entry as E

REPO = Path(__file__).resolve().parents[1]
ENTRY = Path("entries/pocket.v3/pocket_frozen/naive")  # a committed entry (isolation: bubblewrap)
BWRAP = pytest.mark.skipif(isolate._bwrap_runs() is not None, reason=str(isolate._bwrap_runs()))
MODES = [isolate.AUDIT_HOOK, pytest.param(isolate.BUBBLEWRAP, marks=BWRAP)]

READER = '''
from w2s_bench.api import Method


class Reader(Method):
    """Reads a file when its config is read (in the sealed process); says whether it could."""
    name = "reader"

    class Config(Method.Config):
        path: str = ""

        def model_post_init(self, _):
            if self.path:
                try:
                    with open(self.path) as f:
                        text = f.read()
                except OSError as e:
                    raise RuntimeError(f"NOT READ ({type(e).__name__})") from None
                raise RuntimeError(f"READ {text[:40]!r}")
'''

# run in a fresh interpreter (the non-editable install) or in this one: the reader, sealed with the
# gold paths a cell of rotten_tomatoes hides, tries to read the working directory's entry
PROBE = """
import json, os, sys
from pathlib import Path
from w2s_bench.isolate import IsolatedFailure, run_sealed
from w2s_bench.stages import Cache, gold_paths
from w2s_bench.tasks import load_task

def probe(entry_file, modes):
    hidden = gold_paths(Cache(Path("cache")), load_task("rotten_tomatoes"))
    out = {}
    for mode in modes:
        os.environ["W2S_BENCH_ISOLATION"] = mode
        try:
            run_sealed({"kind": "describe", "methods": {"reader": ("reader_method:Reader",
                                                                   {"path": str(entry_file)})}},
                       hidden=hidden)
            out[mode] = "no error"
        except IsolatedFailure as e:
            out[mode] = e.contract or e.error
    return out

if __name__ == "__main__":
    import w2s_bench
    print("PACKAGE " + w2s_bench.__file__)
    print("PROBE " + json.dumps(probe(sys.argv[1], sys.argv[2].split(","))))
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory away from the package with a board holding one committed entry."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "leaderboard" / ENTRY, work / "leaderboard" / ENTRY)
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "reader_method.py").write_text(textwrap.dedent(READER))
    (tmp_path / "mods" / "probe.py").write_text(PROBE)
    monkeypatch.chdir(work)
    return work


def _refused(message: str, entry_file: Path):
    assert "READ '" not in message, f"the sealed process read the entry: {message}"
    assert message.startswith(f"it tried to read {os.path.realpath(entry_file)}"), message


def test_gold_paths_hide_the_working_directorys_board(workdir):
    import w2s_bench.leaderboard
    from w2s_bench.stages import Cache, gold_paths
    from w2s_bench.tasks import LOCK_FILE, SPEC_DIRS, load_task

    hidden = [Path(p).resolve() for p in gold_paths(Cache(workdir / "cache"), load_task("rotten_tomatoes"))]
    assert (workdir / "leaderboard").resolve() in hidden  # where `leaderboard verify` reads entries
    assert Path(w2s_bench.leaderboard.__file__).parent.resolve() in hidden  # the package's, as before
    for folder in (*SPEC_DIRS, LOCK_FILE.parent):  # where the task loader reads specs and data
        assert folder.resolve() in hidden
    assert E.board_roots()[:2] == [
        Path(w2s_bench.leaderboard.__file__).parent.resolve(),
        (workdir / "leaderboard").resolve(),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_a_method_cannot_read_an_entry_of_the_working_directory(workdir, tmp_path, monkeypatch, mode):
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    from probe import probe

    entry_file = workdir / "leaderboard" / ENTRY / "result.json"
    _refused(probe(entry_file, [mode])[mode], entry_file)


@pytest.mark.slow  # a venv, a wheel built and installed, two sealed processes: over half a minute
def test_a_method_cannot_read_the_board_in_a_non_editable_install(workdir, tmp_path):
    """pip installs w2s-bench (not editable) into a fresh venv that sees this venv's packages
    through a .pth file; from a working directory holding a board, a method's process cannot
    read an entry, in each isolation."""
    src, venv = tmp_path / "src", tmp_path / "venv"
    ignore = shutil.ignore_patterns("__pycache__", "entries", "site", "plots", "*.egg-info")
    for d in ("w2s_bench", "methods", "tasks", "leaderboard"):
        shutil.copytree(REPO / d, src / d, ignore=ignore)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
    )
    ours = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    (site / "w2s_test_deps.pth").write_text("\n".join(ours) + "\n")  # torch & co., not w2s_bench
    modes = [isolate.AUDIT_HOOK] + ([isolate.BUBBLEWRAP] if isolate._bwrap_runs() is None else [])
    entry_file = workdir / "leaderboard" / ENTRY / "result.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "W2S_BENCH_ISOLATION")}
    p = subprocess.run(
        [str(venv / "bin" / "python"), str(tmp_path / "mods" / "probe.py"), str(entry_file), ",".join(modes)],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(tmp_path / "mods")},
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in p.stdout.splitlines() if line.startswith(("PACKAGE ", "PROBE ")))
    assert lines["PACKAGE"].startswith(str(site))  # the installed copy, not the repository
    found = json.loads(lines["PROBE"])
    for mode in modes:
        _refused(found[mode], entry_file)


# ---- no board number from a hook-only run ---------------------------------------------------


@pytest.fixture
def tampered(tmp_path):
    """A copy of a committed entry, in a board under tmp_path, marked as run under the hook only."""
    folder = tmp_path / "leaderboard" / ENTRY
    shutil.copytree(REPO / "leaderboard" / ENTRY, folder)
    data = json.loads((folder / "result.json").read_text())
    assert data["environment"]["isolation"] == isolate.BUBBLEWRAP
    data["environment"]["isolation"] = isolate.AUDIT_HOOK
    (folder / "result.json").write_text(json.dumps(data, indent=1) + "\n")
    return folder


HOW = (
    "environment.isolation is 'audit-hook', not 'bubblewrap': the method's processes (some or "
    "all) were sealed by the audit hook alone, which native code can get around, so no board "
    "number rests on this run. Install bubblewrap (Debian: `apt-get install bubblewrap`) and re-run "
    "`W2S_BENCH_ISOLATION=bubblewrap w2s-bench evaluate --method naive --suite pocket.v3 "
    "--ladder pocket_frozen --seeds 0,1,2,3,4`"
)


def test_check_entry_refuses_a_hook_only_run(tampered):
    result, problems = E.check_entry(tampered)
    assert result is not None
    hits = [p for p in problems if "environment.isolation" in p]
    assert len(hits) == 1 and hits[0].startswith(f"{tampered / 'result.json'}: {HOW}"), problems
    assert tampered.parents[3].resolve() in E.board_roots()  # the board it lies in: hidden from methods


def test_add_refuses_a_hook_only_run(tampered, tmp_path, capsys):
    from w2s_bench.cli import main

    board = tmp_path / "board"
    board.mkdir()
    with pytest.raises(E.LeaderboardError, match="^" + re.escape(f"{tampered / 'result.json'}: {HOW}")):
        E.add(tampered, board)
    assert main(["leaderboard", "add", str(tampered), "--root", str(board)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"w2s-bench: error: {tampered / 'result.json'}: {HOW}") and "apt-get install bubblewrap" in err
    )
    assert not (board / "entries").exists()


@pytest.mark.parametrize("how", ["audit-hook + bubblewrap", "seccomp"])  # ray: workers' isolations joined
def test_anything_but_bubblewrap_is_refused(tampered, how):
    data = json.loads((tampered / "result.json").read_text())
    data["environment"]["isolation"] = how
    (tampered / "result.json").write_text(json.dumps(data))
    assert E.hook_only(E.read_result(tampered / "result.json")).startswith(f"environment.isolation is {how!r}")


def test_committed_entries_are_not_refused():
    """Every committed entry records bubblewrap, or predates the field (None)."""
    seen = set()
    for path in sorted((REPO / "leaderboard" / "entries").rglob("result.json")):
        result = E.read_result(path)
        seen.add(result.environment.isolation)
        assert E.hook_only(result) is None, path
    assert seen <= {None, isolate.BUBBLEWRAP} and isolate.BUBBLEWRAP in seen
