"""`w2s-bench check-method`: a good method passes every check; a broken one gets a report naming
the method and the failing check."""

import contextlib
from types import SimpleNamespace

import pytest

from w2s_bench import check as check_module
from w2s_bench import registry
from w2s_bench.check import check_method, harness_imports, ladder_for, report
from w2s_bench.cli import main


@pytest.fixture(scope="module")
def one_cache(tmp_path_factory):
    """check-method's stage cache, one for this module: the weak model and the ceiling are trained
    once; each run still trains its student afresh (`check._student_run` removes the student's
    stages first), twice for the determinism check."""
    root = tmp_path_factory.mktemp("check-method")

    @contextlib.contextmanager
    def shared(prefix=None):
        yield str(root)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(check_module, "tempfile", SimpleNamespace(TemporaryDirectory=shared))
        yield root


def test_naive_passes_every_check(one_cache, capsys):
    assert main(["check-method", "naive"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### `w2s-bench check-method naive`")
    for check in (
        "imports only the method API",
        "config frozen, strict and hashed",
        "trains and predicts every test example",
        "deterministic for a seed",
        "never reads gold labels",
    ):
        assert f"| {check} | ok |" in out
    assert "All checks passed." in out
    assert "rotten_tomatoes, 40 examples per split, pocket_frozen mini1 -> mini6, seed 0" in out  # frozen rungs


def test_nan_loss_is_reported_with_the_method_and_the_check(one_cache, monkeypatch):
    monkeypatch.setitem(registry.METHODS, "nan_loss", "adversary:NaNLoss")
    checks, _ = check_method("nan_loss")
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == ["trains and predicts every test example"]
    assert "method 'nan_loss' failed" in failed[0].detail and "loss became nan" in failed[0].detail
    text = report("nan_loss", checks, "")
    assert "**FAIL**" in text and "Failed: trains and predicts every test example (method 'nan_loss')" in text


def test_importing_the_harness_is_flagged():
    assert harness_imports("cheater:Cheater") == ["w2s_bench.tasks"]
    assert harness_imports("adversary:NaNLoss") == []
    assert harness_imports(registry.METHODS["entropy"]) == []  # other methods are allowed


def test_rungs_are_frozen_unless_the_method_trains_the_backbone():
    """check-method runs a method on frozen rungs, as the default suite's; one that trains the
    backbone (refused on frozen rungs) on fine-tuned ones; both pairs have a rung between, for
    bootstrap."""
    from w2s_bench.stages import rungs_between

    assert ladder_for(SimpleNamespace(trains_backbone=False)) == ("pocket_frozen", "mini1", "mini6")
    assert ladder_for(SimpleNamespace(trains_backbone=True)) == ("pocket", "L1", "L3")
    for trains in (False, True):
        name, weak, strong = ladder_for(SimpleNamespace(trains_backbone=trains))
        ladder = registry.load_ladder(name)
        assert all((r.kind == "frozen") != trains for r in (ladder.rung(weak), ladder.rung(strong)))
        assert rungs_between(ladder, ladder.rung(weak), ladder.rung(strong))
