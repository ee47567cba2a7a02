"""PGR arithmetic, the noise floor and the aggregation over pairs, tasks and seeds."""

import math

import numpy as np
import pytest

from w2s_bench.scoring import fmt_ci, mean_ci, metrics, noise_floor, pgr, score_cell, summarize


def test_pgr_arithmetic():
    assert pgr(0.6, 0.8, 0.7, 0.0) == pytest.approx(0.5)
    assert pgr(0.6, 0.8, 0.85, 0.0) == pytest.approx(1.25)
    assert pgr(0.6, 0.8, 0.55, 0.0) == pytest.approx(-0.25)


def test_pgr_undefined_under_noise_floor():
    floor = noise_floor(0.6, 0.8, 1000, 1.0)
    assert floor == pytest.approx(math.sqrt((0.24 + 0.16) / 1000))
    assert pgr(0.6, 0.8, 0.7, floor) == pytest.approx(0.5)
    small = noise_floor(0.60, 0.61, 100, 1.0)
    assert pgr(0.60, 0.61, 0.70, small) is None  # would be 10.0: a huge meaningless number
    assert pgr(0.7, 0.6, 0.65, 0.0) is None  # ceiling below weak


def test_metrics_use_sklearn_values():
    gold = np.array([0, 0, 1, 1])
    m = metrics(gold, np.array([0.1, 0.6, 0.4, 0.9]))
    assert m["accuracy"] == 0.5
    assert m["auroc"] == 0.75


def test_score_cell():
    gold = np.array([0, 1] * 50)
    weak = np.where(np.arange(100) < 60, gold, 1 - gold) * 0.8 + 0.1  # 60 % right
    ceil = np.where(np.arange(100) < 90, gold, 1 - gold) * 0.8 + 0.1  # 90 % right
    stud = np.where(np.arange(100) < 75, gold, 1 - gold) * 0.8 + 0.1  # 75 % right
    c = score_cell(gold, weak, ceil, stud, z=1.0)
    assert c["weak"]["accuracy"] == 0.6 and c["ceiling"]["accuracy"] == 0.9
    assert c["pgr_accuracy"] == pytest.approx(0.5)
    assert c["n_test"] == 100


def _cell(task, w, s, seed, pgr_acc):
    m = {"accuracy": 0.5, "auroc": 0.5}
    return {
        "task": task,
        "weak_rung": w,
        "strong_rung": s,
        "seed": seed,
        "weak": m,
        "ceiling": m,
        "student": m,
        "pgr_accuracy": pgr_acc,
        "pgr_auroc": None,
    }


def test_median_over_pairs_mean_over_tasks_ci_over_seeds():
    cells = []
    # task a: pairs give (0.2, 0.4, 0.9) -> median 0.4 per seed, + seed offsets
    for seed, off in enumerate([0.0, 0.1, 0.2]):
        for (w, s), v in zip([("L1", "L6"), ("L2", "L6"), ("L3", "L6")], [0.2, 0.4, 0.9]):
            cells.append(_cell("a", w, s, seed, v + off))
        cells.append(_cell("b", "L1", "L6", seed, 0.0))
        cells.append(_cell("c", "L1", "L6", seed, None))  # undefined: left out of the mean
    per_pair, per_task, suite = summarize(cells)
    a = per_task.set_index("task").loc["a"]
    assert a.pgr_acc == pytest.approx(0.5)  # medians 0.4, 0.5, 0.6
    assert a.pgr_acc_ci == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(per_task.set_index("task").loc["c"].pgr_acc)  # undefined
    s = suite.iloc[0]
    # per seed: mean(a, b) = (0.4+0)/2, (0.5+0)/2, (0.6+0)/2 -> 0.25
    assert s.pgr_acc == pytest.approx(0.25)
    assert s.pgr_acc_defined_tasks == 2
    assert len(per_pair) == 5


def test_mean_ci_and_format():
    assert mean_ci([0.5]) == (0.5, None)
    assert mean_ci([None, None]) == (None, None)
    assert fmt_ci(None, None) == "undefined"
    assert fmt_ci(0.4567, 0.1234) == "0.46 ± 0.12"
