"""entropy: the confidence loss without hardening — entropy minimisation.

    L = (1 − α) · CE(f, f_w) + α · H(f),   H(f) = −Σ_c f_c log f_c  (with its gradient)

α ramps linearly as in aux_conf. Where aux_conf pulls the student towards its own hardened
predictions, this pulls it towards confidence in whatever it already leans to. Note: EleutherAI's
`entropy` loss is its log-confidence loss with the target left unhardened and *detached*, and
CE(f, stopgrad(f)) has zero gradient: it trains as (1 − α)·CE(f, f_w), a rescaled naive loss. We
implement what the name says, the entropy term with its gradient.
"""
import torch

from w2s_bench.api import soft_ce
from w2s_bench.methods.aux_conf import AuxConf, alpha_at


def entropy(logits: torch.Tensor) -> torch.Tensor:
    log_f = torch.log_softmax(logits.float(), dim=1)
    return -(log_f.exp() * log_f).sum(1).mean()


class EntropyLoss:
    def __init__(self, alpha_max: float, warmup_frac: float):
        self.alpha_max, self.warmup_frac = alpha_max, warmup_frac

    def __call__(self, logits, weak, step, total_steps):
        alpha = alpha_at(step, total_steps, self.alpha_max, self.warmup_frac)
        return (1 - alpha) * soft_ce(logits, weak) + alpha * entropy(logits)


class Entropy(AuxConf):
    """aux_conf's schedule and config, the entropy term in place of the hardened target."""
    name = "entropy"
    loss = EntropyLoss
