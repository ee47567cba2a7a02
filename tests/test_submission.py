"""CI's verify job: the pull request's submission laid onto the base branch as files
(`leaderboard take`), and a method whose import rewrites the verifier changes nothing."""

import shutil
import sys
from pathlib import Path

import pytest

from w2s_bench import registry
from w2s_bench.leaderboard import reproduce
from w2s_bench.leaderboard.submission import SubmissionError, take
from w2s_bench.specs import SpecError

REPO = Path(__file__).resolve().parents[1]
FILES = (
    "w2s_bench/registry.py",
    "w2s_bench/run.py",
    "leaderboard/reproduce.py",
    "methods/naive.py",
    "methods/__init__.py",
    "leaderboard/LEADERBOARD.md",
)
EVIL = '''"""Imported by CI's test job, it rewrites the verifier (the attack on CI that ran a PR's code before verifying it)."""
from pathlib import Path

from w2s_bench.api import Method

TARGET = Path({target!r})
try:
    TARGET.write_text("def reproduce_entries(*a, **k):\\n    return []  # every forged cell passes\\n")
except OSError:
    pass


class Evil(Method):
    name = "evil"

    def train_student(self, weak_labels):
        return self.ctx.train(weak_labels.train, weak_labels.val)
'''


def _trees(tmp_path):
    base, pr = tmp_path / "base", tmp_path / "pr"
    for f in FILES:
        (base / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / f, base / f)
    shutil.copytree(base, pr)
    (pr / "methods" / "evil.py").write_text(EVIL.format(target=str(pr / "leaderboard" / "reproduce.py")))
    text = (pr / "w2s_bench/registry.py").read_text()
    (pr / "w2s_bench/registry.py").write_text(
        text.replace(
            '    "naive": "w2s_bench.methods.naive:Naive",\n',
            '    "naive": "w2s_bench.methods.naive:Naive",\n    "evil": "w2s_bench.methods.evil:Evil",\n',
        )
    )
    (pr / "leaderboard/reproduce.py").write_text("def reproduce_entries(*a, **k):\n    return []\n")
    (pr / "w2s_bench/run.py").write_text("# the harness, changed by the pull request\n")
    entry = pr / "leaderboard/entries/pocket.v3/pocket_frozen/evil/result.json"
    entry.parent.mkdir(parents=True)
    entry.write_text("{}")
    return base, pr


def test_take_lays_only_the_submission_onto_the_base(tmp_path):
    base, pr = _trees(tmp_path)
    verifier = (base / "leaderboard/reproduce.py").read_bytes()
    notes = take(pr, base)
    assert (base / "leaderboard/reproduce.py").read_bytes() == verifier  # the base's verifier
    assert (base / "w2s_bench/run.py").read_bytes() == (REPO / "w2s_bench/run.py").read_bytes()
    assert (base / "methods/evil.py").exists()
    assert (base / "leaderboard/entries/pocket.v3/pocket_frozen/evil/result.json").exists()
    from w2s_bench.leaderboard.submission import methods_dict

    assert methods_dict(base / "w2s_bench/registry.py")["evil"] == "w2s_bench.methods.evil:Evil"
    assert notes[0] == "registered evil (w2s_bench.methods.evil:Evil)"
    assert notes[-1] == (
        "left out (verified with the base branch's code instead): leaderboard/reproduce.py, w2s_bench/run.py"
    )
    compile((base / "w2s_bench/registry.py").read_text(), "registry.py", "exec")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ('"naive": "w2s_bench.methods.naive:Naive"', '"naive": "w2s_bench.methods.evil:Evil"'),
            "the pull request changes or removes registered method(s) naive",
        ),
        (
            (
                '"naive": "w2s_bench.methods.naive:Naive",',
                '"naive": "w2s_bench.methods.naive:Naive", "x": "os:system",',
            ),
            "new METHODS line(s) 'x': 'os:system' must read",
        ),
    ],
)
def test_take_refuses_registry_edits_beyond_new_lines(tmp_path, edit, message):
    base, pr = _trees(tmp_path)
    text = (pr / "w2s_bench/registry.py").read_text()
    (pr / "w2s_bench/registry.py").write_text(text.replace(*edit))
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        take(pr, base)


def test_take_refuses_a_symlink(tmp_path):
    base, pr = _trees(tmp_path)
    (pr / "methods" / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(SubmissionError, match="methods/link.py: a symlink"):
        take(pr, base)


@pytest.mark.parametrize("isolation", ["bubblewrap", "audit-hook"])
def test_a_method_whose_import_rewrites_the_verifier_changes_nothing(tmp_path, monkeypatch, isolation):
    """The verify job imports the method only in a sealed process (describe), where the
    harness is read-only (bubblewrap) and writes outside the job folder are refused (the hook)."""
    monkeypatch.setenv("W2S_BENCH_ISOLATION", isolation)
    monkeypatch.setattr(registry, "_described", {})
    target = Path(reproduce.__file__)
    before = target.read_bytes()
    (tmp_path / "evil_mod.py").write_text(EVIL.format(target=str(target)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.METHODS, "evil", "evil_mod:Evil")
    try:
        registry.method_refs(["evil"])  # what verify does with an entry's method
    except SpecError:
        pass  # a refused write fails the describe step under the audit hook
    finally:
        after = target.read_bytes()
        target.write_bytes(before)  # (never needed when the sandbox holds)
    assert after == before
    assert "evil_mod" not in sys.modules  # the orchestrator never imported it
