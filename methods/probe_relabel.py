"""probe_relabel: fit a probe on frozen strong features to the weak labels; train the student on
the probe's predictions instead (EleutherAI/w2s's probe relabelling).

The probe sees the pretrained strong rung's pooled features of student_train:
- "logreg": logistic regression (scikit-learn) on the soft weak labels (each example enters
  twice, as class 1 with weight f_w and class 0 with weight 1 − f_w), L2 penalty `l2` on the
  mean loss (C = 1 / (2 · l2 · n));
- "knn": the mean weak label of the k nearest neighbours (Euclidean), the example itself included.
The noise of the weak labels is averaged out where the strong representation clusters.
"""
from typing import Literal

import numpy as np

from w2s_bench.api import Labeled, Method


def probe_predict(features: np.ndarray, weak: np.ndarray, kind: str, l2: float, k: int) -> np.ndarray:
    """The probe fitted to (features, weak) and applied to the same features: p(label = 1)."""
    weak = np.asarray(weak, dtype=np.float64)
    n = len(weak)
    if kind == "knn":
        from sklearn.neighbors import KNeighborsRegressor
        return KNeighborsRegressor(n_neighbors=min(k, n)).fit(features, weak).predict(features)
    from sklearn.linear_model import LogisticRegression
    x = np.concatenate([features, features])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    w = np.concatenate([weak, 1 - weak])
    clf = LogisticRegression(C=1.0 / (2 * l2 * n), max_iter=2000)
    clf.fit(x, y, sample_weight=w)
    return clf.predict_proba(features)[:, 1]


class ProbeConfig(Method.Config):
    probe: Literal["logreg", "knn"] = "logreg"
    l2: float = 1e-3  # logreg: L2 penalty on the mean loss
    k: int = 20  # knn: neighbours


class ProbeRelabel(Method):
    name = "probe_relabel"
    Config = ProbeConfig

    def train_student(self, weak_labels):
        c, train = self.config, weak_labels.train
        p = probe_predict(self.ctx.pretrained_features(train.texts), train.targets, c.probe, c.l2, c.k)
        return self.ctx.train(Labeled(train.texts, p), weak_labels.val)
