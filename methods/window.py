"""window: cross-entropy on the weak labels only where the student is still unsure.

    L = (1 / B) · Σ_{i : max_c f_i,c < 0.5 + r} CE(f_i, f_w,i)      (B = batch size)

Once the student is more confident than 0.5 + r on an example, the weak label stops pulling
on it (EleutherAI's confidence-window loss). The radius r defaults to the weak labels' median
confidence on student_train, median |f_w − 0.5| ("midweak"): the student trains on an example
until it is as sure as a typical weak label.
"""
import numpy as np
import torch

from w2s_bench.api import Method


def window_loss(logits: torch.Tensor, weak: torch.Tensor, radius: float) -> torch.Tensor:
    log_f = torch.log_softmax(logits.float(), dim=1)
    unsure = log_f.exp().max(dim=1).values < 0.5 + radius
    t = torch.stack([1 - weak, weak], dim=1).float()
    ce = -(t * log_f).sum(1)
    return (ce * unsure).sum() / logits.shape[0]


def midweak_radius(weak: np.ndarray) -> float:
    return float(np.median(np.abs(np.asarray(weak, dtype=np.float64) - 0.5)))


class Window(Method):
    name = "window"

    class Config(Method.Config):
        radius: float | None = None  # None: the weak labels' median confidence ("midweak")

    def train_student(self, weak_labels):
        r = self.config.radius
        r = midweak_radius(weak_labels.train.targets) if r is None else r
        return self.ctx.train(weak_labels.train, weak_labels.val,
                              loss=lambda logits, weak, step, total: window_loss(logits, weak, r))
