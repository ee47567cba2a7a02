"""probe_filter: drop the weak labels a probe on frozen strong features disagrees with most.

The probe (see probe_relabel) is fitted to the weak labels of student_train; the `drop_frac`
(10 %) of examples with the largest |probe − weak label| are removed, and the student trains on
the rest with their weak labels (EleutherAI/w2s's probe filtering, "contamination" 0.1).
"""
import numpy as np

from w2s_bench.api import Labeled, Method
from w2s_bench.methods.probe_relabel import ProbeConfig, probe_predict


def keep_agreeing(probe: np.ndarray, weak: np.ndarray, drop_frac: float) -> np.ndarray:
    """Indices (ascending) of the examples kept: all but the `drop_frac` most disagreeing."""
    disagree = np.abs(np.asarray(probe) - np.asarray(weak))
    order = np.argsort(-disagree, kind="stable")
    return np.sort(order[int(drop_frac * len(disagree)):])


class ProbeFilter(Method):
    name = "probe_filter"

    class Config(ProbeConfig):
        drop_frac: float = 0.1

    def train_student(self, weak_labels):
        c, train = self.config, weak_labels.train
        p = probe_predict(self.ctx.pretrained_features(train.texts), train.targets, c.probe, c.l2, c.k)
        keep = keep_agreeing(p, train.targets, c.drop_frac)
        kept = Labeled(tuple(train.texts[i] for i in keep), np.asarray(train.targets)[keep])
        return self.ctx.train(kept, weak_labels.val)
