"""aux_conf: the auxiliary confidence loss of Burns et al. (2023), §4.3.2.

    L = (1 - α) · CE(f, f_w) + α · CE(f, f̂_t),   f̂_t = 1[f > t]

f_w are the weak soft labels, f the student's p(label = 1), and t the threshold that makes the
hardened positive rate equal to the weak labels' positive rate in the batch (the batch mean of the
soft weak labels). α ramps linearly from 0 to α_max over the first `warmup_frac` of the steps
(the released code jumps instead; we ramp as the paper says). α_max is larger for the ladder's
largest student.
"""
import torch

from w2s_bench.api import Method, soft_ce


def adaptive_hard_labels(p1: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """1[p1 > t], t = the (1 - prior) quantile of p1, prior = mean soft weak label."""
    prior = weak.float().mean()
    t = torch.quantile(p1.detach().float(), (1 - prior).clamp(0, 1))
    return (p1.detach() > t).float()


def alpha_at(step: int, total_steps: int, alpha_max: float, warmup_frac: float) -> float:
    warm = warmup_frac * total_steps
    return alpha_max if warm <= 0 else alpha_max * min(1.0, step / warm)


class AuxConfLoss:
    def __init__(self, alpha_max: float, warmup_frac: float):
        self.alpha_max, self.warmup_frac = alpha_max, warmup_frac

    def __call__(self, logits, weak, step, total_steps):
        alpha = alpha_at(step, total_steps, self.alpha_max, self.warmup_frac)
        p1 = torch.softmax(logits, dim=1)[:, 1]
        hardened = adaptive_hard_labels(p1, weak)
        return (1 - alpha) * soft_ce(logits, weak) + alpha * soft_ce(logits, hardened)


class AuxConf(Method):
    name = "aux_conf"
    loss = AuxConfLoss  # (alpha_max, warmup_frac) -> loss

    class Config(Method.Config):
        alpha_max: float = 0.5
        alpha_max_largest: float = 0.75  # for the ladder's largest student
        warmup_frac: float = 0.2

    def train_student(self, weak_labels):
        c = self.config
        alpha = c.alpha_max_largest if self.ctx.largest_student else c.alpha_max
        return self.ctx.train(weak_labels.train, weak_labels.val,
                              loss=self.loss(alpha, c.warmup_frac))
