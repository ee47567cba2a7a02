"""kl: fit the weak labels with the reverse KL divergence, KL(f ‖ f_w).

    L = mean_i Σ_c f_c · (log f_c − log f_w,c)

Forward KL, KL(f_w ‖ f), differs from naive cross-entropy only by the constant H(f_w) and has
the same gradient, so it is offered (`direction = "forward"`) for completeness but the default is
reverse KL: mode-seeking, it lets the student commit to one class where the weak label is unsure
instead of copying its uncertainty.
"""
from typing import Literal

import torch

from w2s_bench.api import Method

EPS = 1e-6


def kl_loss(logits: torch.Tensor, weak: torch.Tensor, direction: str = "reverse") -> torch.Tensor:
    log_f = torch.log_softmax(logits.float(), dim=1)
    p_weak = torch.stack([1 - weak, weak], dim=1).float().clamp(EPS, 1 - EPS)
    if direction == "reverse":
        return (log_f.exp() * (log_f - p_weak.log())).sum(1).mean()
    return (p_weak * (p_weak.log() - log_f)).sum(1).mean()


class KL(Method):
    name = "kl"

    class Config(Method.Config):
        direction: Literal["reverse", "forward"] = "reverse"

    def train_student(self, weak_labels):
        direction = self.config.direction
        return self.ctx.train(weak_labels.train, weak_labels.val,
                              loss=lambda logits, weak, step, total: kl_loss(logits, weak, direction))
