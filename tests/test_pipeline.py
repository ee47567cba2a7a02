"""End to end on the real assets with --limit and the smallest rungs: the cache is reused by a
second method, and an interrupted run (Ctrl-C or kill -9) continues to the same numbers.

The plumbing runs on frozen rungs (cached MiniLM features, linear heads: `pocket_frozen`'s mini1 ->
mini3), which exercise every stage, the cache and the sealed processes as fine-tuned rungs do, in
a fraction of the time; `test_fine_tuned_rungs_end_to_end` runs the fine-tuning path (pocket's
L1 -> L2) through the same `evaluate` once."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from w2s_bench.cli import main
from w2s_bench.results import Result
from w2s_bench.run import evaluate
from w2s_bench.stages import MARKER

TASKS = ["rotten_tomatoes", "sst2"]
LADDER, PAIR = "pocket_frozen", ("mini1", "mini3")
SMOKE = dict(suite="pocket.v2", ladder=LADDER, pairs=[PAIR], seeds=[0], limit=40, tasks=TASKS, quiet=True)
# the CLI's flags for the same grid (one task)
CLI = ["--suite", "pocket.v2", "--ladder", LADDER, "--pairs", ":".join(PAIR), "--limit", "40", "--tasks", TASKS[0]]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    res = evaluate(method="naive", cache_dir=root / "cache", out=root / "naive", **SMOKE)
    return root, res


def _preds(out, task=None):
    """The run's predictions; with `task`, only that task's rows (indexed from 0)."""
    df = pd.read_parquet(out / "predictions.parquet")
    return df if task is None else df[df.task == task].reset_index(drop=True)


# the interrupted runs start from an empty cache: one task is enough to interrupt one and resume it
ONE = {**SMOKE, "tasks": TASKS[:1]}


def test_results_directory(first_run):
    root, res = first_run
    out = root / "naive"
    result = Result.model_validate_json((out / "result.json").read_text())
    assert result.schema_version == 3 and result.method == "naive" and result.limit == 40
    assert len(result.method_code_sha256) == 64 and result.environment.isolation in ("bubblewrap", "audit-hook")
    assert {c.task for c in result.cells} == set(TASKS)
    table = pd.read_csv(out / "table.csv")
    assert list(table.task) == TASKS
    preds = _preds(out)
    assert len(preds) == 40 * len(TASKS)
    assert preds[["weak", "ceiling", "student"]].apply(lambda c: c.between(0, 1).all()).all()
    assert res["computed"] == {
        **{s: len(TASKS) for s in ("weak", "weak_labels", "ceiling", "ceiling_pred", "student", "student_pred")},
        "features": 2 * len(TASKS),  # pretrained, ceiling (the student's:
        # computed with its predictions, in the sealed process, and cached in student_pred)
        "frozen_features": (4 + 3) * len(TASKS),  # the weak rung's 4 splits, the strong's 3
    }
    for c in result.cells:
        d = c.diagnostics
        assert 0 <= d.student_weak_agreement.overall <= 1
        assert all(
            0 <= v <= 1 for v in (d.probe_accuracy.pretrained, d.probe_accuracy.student, d.probe_accuracy.ceiling)
        )


def test_fine_tuned_rungs_end_to_end(tmp_path):
    """The fine-tuning path (pocket's MiniLM cuts, the backbone trained) through `evaluate`: each
    stage once, the student trained in the sealed process, every metric recomputed exactly."""
    from w2s_bench.scoring import recheck

    grid = {**ONE, "ladder": None, "pairs": [("L1", "L2")], "limit": 24}  # 24: one batch a step
    res = evaluate(method="naive", cache_dir=tmp_path / "cache", out=tmp_path / "out", **grid)
    result = res["result"]
    assert result.ladder == "pocket" and [(c.task, c.weak_rung, c.strong_rung) for c in result.cells] == [
        (TASKS[0], "L1", "L2")
    ]
    assert res["computed"] == {
        **{s: 1 for s in ("weak", "weak_labels", "ceiling", "ceiling_pred", "student", "student_pred")},
        "features": 2,
    }  # no frozen features: every rung fine-tunes its backbone
    preds = _preds(tmp_path / "out")
    assert len(preds) == 24 and preds[["weak", "ceiling", "student"]].apply(lambda c: c.between(0, 1).all()).all()
    assert recheck(result, preds, tol=0) == []


def test_second_method_trains_only_students(first_run):
    root, _ = first_run
    res = evaluate(method="aux_conf", cache_dir=root / "cache", out=root / "aux", **SMOKE)
    assert "weak" not in res["computed"] and "ceiling" not in res["computed"]
    assert res["computed"] == {"student": len(TASKS), "student_pred": len(TASKS)}  # (+ its features)
    # same weak model and ceiling, so the same weak and ceiling predictions
    a, b = _preds(root / "naive"), _preds(root / "aux")
    assert np.array_equal(a.weak, b.weak) and np.array_equal(a.ceiling, b.ceiling)


def test_rerun_is_fully_cached_and_identical(first_run):
    root, _ = first_run
    res = evaluate(method="naive", cache_dir=root / "cache", out=root / "naive2", **SMOKE)
    assert res["computed"] == {}
    assert _preds(root / "naive").equals(_preds(root / "naive2"))


def test_ctrl_c_then_resume_gives_same_numbers(first_run, tmp_path, monkeypatch):
    root, _ = first_run
    import w2s_bench.stages as stages

    real = stages.Cache.get_or_make

    def interrupted(self, stage, key, make, meta):
        if stage == "ceiling":

            def make_then_interrupt(tmp):
                (tmp / "partial").write_text("half-written")
                raise KeyboardInterrupt

            return real(self, stage, key, make_then_interrupt, meta)
        return real(self, stage, key, make, meta)

    monkeypatch.setattr(stages.Cache, "get_or_make", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(method="naive", cache_dir=tmp_path / "cache", out=tmp_path / "out", **ONE)
    monkeypatch.setattr(stages.Cache, "get_or_make", real)
    assert not (tmp_path / "out").exists()  # no half-written results
    res = evaluate(method="naive", cache_dir=tmp_path / "cache", out=tmp_path / "out", **ONE)
    assert "weak" not in res["computed"] and res["computed"]["ceiling"] == 1  # the weak model was kept
    assert _preds(tmp_path / "out").equals(_preds(root / "naive", TASKS[0]))


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import w2s_bench.stages as stages
    real = stages.Cache.get_or_make
    def killing(self, stage, key, make, meta):
        if stage == "student":
            def make_then_die(tmp):
                (tmp / "partial").write_text("half-written")
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, stage, key, make_then_die, meta)
        return real(self, stage, key, make, meta)
    stages.Cache.get_or_make = killing
    from w2s_bench.cli import main
    main(sys.argv[1:])
""")


def test_kill_9_then_resume_gives_same_numbers(first_run, tmp_path):
    root, _ = first_run
    args = [
        "evaluate",
        *CLI,  # one task is enough to kill a run and resume it
        "--method",
        "naive",
        "--seeds",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, *args], capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert proc.returncode == -signal.SIGKILL
    leftovers = list((tmp_path / "cache" / "student").glob(".*tmp*"))
    assert leftovers and not any((p / MARKER).exists() for p in leftovers)
    assert (tmp_path / "cache" / "ceiling").exists() and not (tmp_path / "out").exists()
    assert main(args) == 0
    assert _preds(tmp_path / "out").equals(_preds(root / "naive", TASKS[0]))
    assert not any(p.exists() for p in leftovers)  # the dead process's temp folders are gone


def test_report_page_and_plots(first_run, capsys):
    root, _ = first_run
    assert main(["report", str(root / "naive")]) == 0
    page = (root / "naive" / "report.md").read_text()
    for heading in ("## PGR", "## Mistake imitation", "## Concept saliency"):
        assert heading in page
    assert "rotten_tomatoes" in page and "student_weak_wrong" in page
    for png in ("imitation.png", "saliency.png"):
        assert (root / "naive" / png).read_bytes()[:4] == b"\x89PNG"


def test_report_on_a_folder_without_result(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no result.json" in capsys.readouterr().err


def test_cli_list_and_bad_pairs(capsys):
    assert main(["list", "methods", "--json"]) == 0
    from w2s_bench.registry import METHODS

    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == sorted(METHODS)
    assert main(["evaluate", "--suite", "pocket.v2", "--pairs", "L6:L1", "--limit", "4"]) == 2
    assert "the weak rung must come before the strong one" in capsys.readouterr().err


def test_evaluate_without_seeds_runs_the_suites_min_seeds(monkeypatch):
    """A newcomer's first `w2s-bench evaluate` (no --seeds) runs as many seeds as the suite's board
    asks for, so its table has confidence intervals; given seeds are kept; none at all is an error."""
    from w2s_bench import run
    from w2s_bench.registry import DEFAULT_SUITE, load_suite
    from w2s_bench.specs import SpecError

    seen = {}

    def fake(methods, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(run, "evaluate_methods", fake)
    assert main(["evaluate", "--method", "naive"]) == 0
    assert seen["seeds"] is None  # the CLI leaves the choice to the suite
    suite = load_suite(DEFAULT_SUITE)
    assert suite.protocol.min_seeds >= 5
    assert run.default_seeds(suite, None) == list(range(suite.protocol.min_seeds))
    assert run.default_seeds(suite, [3, 7]) == [3, 7]
    with pytest.raises(SpecError, match="at least one seed"):
        run.default_seeds(suite, [])


def test_cli_validate(capsys):
    assert main(["validate"]) == 0
    assert "all specs valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name,message",
    [
        ("wrong_shape", r"wrong_shape on rotten_tomatoes: predictions must be 40 finite probabilities"),
        ("raises", r"method 'raises' failed on task rotten_tomatoes \(mini1->mini3, seed 0\): RuntimeError: boom"),
        ("not_a_predictor", r"method 'not_a_predictor': train_student must return a predictor"),
    ],
)
def test_broken_method_gets_a_clear_error_and_no_results(first_run, monkeypatch, capsys, name, message):
    root, _ = first_run
    from w2s_bench import registry

    cls = {"wrong_shape": "WrongShape", "raises": "Raises", "not_a_predictor": "NotAPredictor"}[name]
    monkeypatch.setitem(registry.METHODS, name, f"adversary:{cls}")
    out = root / f"broken_{name}"
    rc = main(
        [
            "evaluate",
            *CLI,
            "--method",
            name,
            "--cache-dir",
            str(root / "cache"),
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_wrong_predictions_are_not_cached(first_run, monkeypatch):
    root, _ = first_run
    from w2s_bench import registry

    monkeypatch.setitem(registry.METHODS, "wrong_shape", "adversary:WrongShape")
    main(
        [
            "evaluate",
            *CLI,
            "--method",
            "wrong_shape",
            "--cache-dir",
            str(root / "cache"),
            "--out",
            str(root / "ws"),
        ]
    )
    completed = [p for p in (root / "cache" / "student_pred").iterdir() if (p / MARKER).exists()]
    assert all(json.loads((p / "meta.json").read_text())["method"] != "wrong_shape" for p in completed)


def test_every_stored_metric_recomputes_from_predictions_and_frozen_labels(first_run):
    from w2s_bench.scoring import recheck

    root, _ = first_run
    result = Result.model_validate_json((root / "naive" / "result.json").read_text())
    assert recheck(result, _preds(root / "naive"), tol=0) == []  # exact: same code, float64
