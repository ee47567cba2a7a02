"""bootstrap: the paper's bootstrapping (Burns et al. 2023, §4.3.1).

weak → the ladder's intermediate rungs in order → strong: each step trains the next rung on the
previous step's soft labels over student_train (and selects on val labelled by that same
previous step), then labels student_train and val for the next. The last step trains the strong
rung. Needs at least one rung between the weak and strong rung of the pair.
"""
import numpy as np

from w2s_bench.api import Labeled, Method, WeakLabels


def relabel(model, labels: WeakLabels) -> WeakLabels:
    def one(split: Labeled) -> Labeled:
        return Labeled(split.texts, np.asarray(model.predict(split.texts), dtype=np.float64))
    return WeakLabels(train=one(labels.train), val=one(labels.val))


class Bootstrap(Method):
    name = "bootstrap"

    def train_student(self, weak_labels):
        if not self.ctx.intermediate:
            raise ValueError(f"bootstrap needs at least one intermediate rung between the weak rung "
                             f"and {self.ctx.strong.name}; choose a pair with a rung between them "
                             f"(e.g. --pairs L1:L6 on the pocket ladder)")
        labels = weak_labels
        for rung in self.ctx.intermediate:
            labels = relabel(self.ctx.train(labels.train, labels.val, rung=rung,
                                            desc=f"bootstrap {rung.name}"), labels)
        return self.ctx.train(labels.train, labels.val, desc=f"bootstrap {self.ctx.strong.name}")
