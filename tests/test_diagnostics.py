"""Mistake imitation and concept saliency on hand-computed cases."""

import numpy as np

from w2s_bench.diagnostics import agreement, diagnose, probe_accuracy, tables


def test_agreement_split_by_weak_correctness():
    gold = [1, 1, 0, 0, 1]
    weak = [0.9, 0.2, 0.1, 0.8, 0.7]  # hard 1 0 0 1 1: right on 0, 2, 4; wrong on 1, 3
    student = [0.6, 0.4, 0.3, 0.2, 0.9]  # hard 1 0 0 0 1: agrees on 0, 1, 2, 4
    assert agreement(gold, weak, student) == {"overall": 0.8, "weak_right": 1.0, "weak_wrong": 0.5}
    # a perfect model agrees with the weak model exactly where the weak model is right
    assert agreement(gold, weak, gold) == {"overall": 0.6, "weak_right": 1.0, "weak_wrong": 0.0}
    # no weak mistakes: that subset is empty, not zero
    assert agreement([1, 0], [0.9, 0.1], [0.9, 0.9])["weak_wrong"] is None


def test_probe_on_fixed_features():
    x_train, y_train = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    assert probe_accuracy(x_train, y_train, [[0.5], [2.5], [-1.0], [4.0]], [0, 1, 0, 1]) == 1.0
    # features that carry no information: the probe can do no better than chance
    assert probe_accuracy([[1.0]] * 4, y_train, [[1.0]] * 4, [0, 1, 0, 1]) == 0.5


def test_diagnose_and_tables():
    rng = np.random.default_rng(0)
    gold_val, gold_test = np.array([0, 1] * 10), np.array([0, 1] * 5)
    informative = {
        "val": gold_val[:, None] + 0.1 * rng.standard_normal((20, 1)),
        "test": gold_test[:, None] + 0.1 * rng.standard_normal((10, 1)),
    }
    d = diagnose(
        gold_val,
        gold_test,
        np.full(10, 0.9),
        gold_test * 1.0,
        np.full(10, 0.8),
        {"pretrained": informative, "student": None, "ceiling": informative},
        seed=0,
    )
    assert d["probe_accuracy"] == {"pretrained": 1.0, "student": None, "ceiling": 1.0}
    assert d["student_weak_agreement"] == {"overall": 1.0, "weak_right": 1.0, "weak_wrong": 1.0}
    assert d["ceiling_weak_agreement"]["weak_wrong"] == 0.0
    cell = {"task": "t", "weak_rung": "L1", "strong_rung": "L6", "seed": 0, "diagnostics": d}
    imitation, saliency = tables([cell, {**cell, "seed": 1}])
    assert imitation.iloc[0].student_weak_wrong == 1.0 and imitation.iloc[0].ceiling_weak_wrong == 0.0
    assert saliency.iloc[0].probe_ceiling == 1.0 and np.isnan(saliency.iloc[0].probe_student)
