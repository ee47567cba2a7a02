"""Diagnostics the paper reads its results with (Burns et al. 2023, §5): run in the scorer, after
the method has returned, because they read gold labels.

1. Mistake imitation: how often a model's hard test predictions (generative tasks: predicted
   texts) agree with the weak model's,
   overall and split by whether the weak label is right or wrong. A student that merely imitates
   agrees with the weak model on its mistakes far more than the ceiling does.
2. Concept saliency: a logistic-regression probe (scikit-learn) fitted on gold labels of the probe
   split (`val`) over frozen features (the pooled representation the head reads) of the pretrained
   strong rung, the student and the ceiling; its accuracy on `test`.
"""

from __future__ import annotations

import numpy as np

PROBE_SPLIT = "val"


def agreement(gold, weak_p, other_p) -> dict[str, float | None]:
    """Agreement of hard predictions with the weak model's: overall, where the weak label is right,
    where it is wrong (None where that subset is empty)."""
    if np.asarray(gold).dtype.kind in "OUS":  # generative: predicted texts, compared as texts
        gold, weak, other = (np.array([str(x).strip() for x in v], dtype=object) for v in (gold, weak_p, other_p))
    else:
        gold = np.asarray(gold).astype(bool)
        weak, other = np.asarray(weak_p) > 0.5, np.asarray(other_p) > 0.5
    agree, right = weak == other, weak == gold

    def mean(mask):
        return float(agree[mask].mean()) if mask.any() else None

    return {"overall": float(agree.mean()), "weak_right": mean(right), "weak_wrong": mean(~right)}


def probe_accuracy(train_x, train_y, test_x, test_y, seed: int = 0) -> float:
    """Test accuracy of a standardized logistic-regression probe fitted on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(np.asarray(train_x), np.asarray(train_y).astype(int))
    return float((probe.predict(np.asarray(test_x)) == np.asarray(test_y).astype(int)).mean())


def diagnose(gold_probe, gold_test, weak_p, ceiling_p, student_p, features: dict, seed: int) -> dict:
    """`features`: {"pretrained" | "student" | "ceiling": {"val": X, "test": X} or None}."""
    probe = {}
    for who in ("pretrained", "student", "ceiling"):
        f = features.get(who)
        probe[who] = None if f is None else probe_accuracy(f[PROBE_SPLIT], gold_probe, f["test"], gold_test, seed)
    return {
        "student_weak_agreement": agreement(gold_test, weak_p, student_p),
        "ceiling_weak_agreement": agreement(gold_test, weak_p, ceiling_p),
        "probe_accuracy": probe,
    }


def tables(cells: list[dict]):
    """(imitation, saliency) DataFrames: one row per task x pair, means over seeds."""
    import pandas as pd

    rows = []
    for c in cells:
        d = c.get("diagnostics")
        if not d:
            continue
        row = {"task": c["task"], "pair": f"{c['weak_rung']}->{c['strong_rung']}", "seed": c["seed"]}
        for who in ("student", "ceiling"):
            for k, v in d[f"{who}_weak_agreement"].items():
                row[f"{who}_{k}"] = np.nan if v is None else v
        for who, v in d["probe_accuracy"].items():
            row[f"probe_{who}"] = np.nan if v is None else v
        rows.append(row)
    if not rows:
        return None, None
    df = pd.DataFrame(rows).groupby(["task", "pair"], sort=False).mean(numeric_only=True).reset_index()
    imitation = df[
        ["task", "pair"] + [f"{w}_{k}" for k in ("overall", "weak_right", "weak_wrong") for w in ("student", "ceiling")]
    ]
    saliency = df[["task", "pair", "probe_pretrained", "probe_student", "probe_ceiling"]]
    return imitation, saliency
