"""s2s (strong-to-strong): train the student on the weak labels, then relabel student_train with
the student's own soft predictions and train a fresh strong model on them; `rounds` times.

Model selection stays on the weak-labelled val split (the protocol's only selection signal).
"""
import numpy as np

from w2s_bench.api import Labeled, Method


class S2S(Method):
    name = "s2s"

    class Config(Method.Config):
        rounds: int = 1  # relabel-and-retrain rounds after the first student
        hard: bool = False  # relabel with hard 0/1 predictions instead of probabilities

    def train_student(self, weak_labels):
        student = self.ctx.train(weak_labels.train, weak_labels.val, desc="s2s round 0")
        for r in range(self.config.rounds):
            p = np.asarray(student.predict(weak_labels.train.texts), dtype=np.float64)
            labels = Labeled(weak_labels.train.texts, (p > 0.5).astype(np.float64) if self.config.hard else p)
            student = self.ctx.train(labels, weak_labels.val, desc=f"s2s round {r + 1}")
        return student
