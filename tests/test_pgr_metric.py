"""The `evaluate` metric module (w2s_bench/metrics/pgr/pgr.py) is the scorer: loaded by path,
offline, it returns what `scoring.score_cell` returns, and what the committed leaderboard stores."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from w2s_bench.scoring import pgr_metric_path, score_cell
from w2s_bench.tasks import load_splits, load_task

ENTRIES = Path(__file__).parent.parent / "leaderboard" / "entries"


@pytest.fixture(scope="module")
def pgr():
    import evaluate  # a dependency of the package: its absence is a failure, not a skip

    return evaluate.load(pgr_metric_path())  # a local path: evaluate copies it, fetches nothing


@pytest.mark.parametrize("entry", ["pocket.v3/pocket_frozen/naive", "pocket_pairwise.v2/pocket/aux_conf"])
def test_the_metric_recomputes_a_committed_entry(pgr, entry):
    result = json.loads((ENTRIES / entry / "result.json").read_text())
    preds = pd.read_parquet(ENTRIES / entry / "predictions.parquet")
    z, gold_of = result["protocol"]["noise_floor_z"], {}
    assert result["cells"]
    for cell in result["cells"]:
        if cell["task"] not in gold_of:
            gold_of[cell["task"]] = np.array([r["label"] for r in load_splits(load_task(cell["task"]))["test"]])
        gold = gold_of[cell["task"]]
        rows = preds[
            (preds.task == cell["task"])
            & (preds.weak_rung == cell["weak_rung"])
            & (preds.strong_rung == cell["strong_rung"])
            & (preds.seed == cell["seed"])
        ]
        p = {who: rows.sort_values("index")[who].to_numpy(np.float64) for who in ("weak", "ceiling", "student")}
        got = pgr.compute(
            references=gold,
            predictions=p["student"],
            weak_predictions=p["weak"],
            ceiling_predictions=p["ceiling"],
            noise_floor_z=z,
        )
        assert got == score_cell(gold, p["weak"], p["ceiling"], p["student"], z)
        for key in ("n_test", "pgr_accuracy", "pgr_auroc", "noise_floor_accuracy"):
            assert got[key] == pytest.approx(cell[key], abs=1e-12) if cell[key] is not None else got[key] is None
        assert got["student"]["accuracy"] == pytest.approx(cell["student"]["accuracy"], abs=1e-12)


def test_the_metric_on_texts_and_its_noise_floor(pgr):
    gold = ["e4", "d5", "Nf3", "O-O"]
    got = pgr.compute(
        references=gold,
        predictions=["e4", "d5", "x", "O-O "],
        weak_predictions=["e4", "x", "x", "x"],
        ceiling_predictions=gold,
    )
    assert got == score_cell(np.array(gold), ["e4", "x", "x", "x"], gold, ["e4", "d5", "x", "O-O "], 1.0)
    assert got["student"]["accuracy"] == 0.75 and got["pgr_auroc"] is None
    # a gap under z binomial SEs of the difference: PGR undefined
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    w, c = np.where(y, 0.6, 0.4), np.where(y, 0.6, 0.4)
    c[:2] = 1 - c[:2]
    out = pgr.compute(references=y, predictions=w, weak_predictions=c, ceiling_predictions=w, noise_floor_z=3.0)
    assert out["pgr_accuracy"] is None and out["noise_floor_accuracy"] > 0.04
