"""product: train towards the normalised product of the student's and the weak model's beliefs.

    target ∝ p_student^β · p_weak^α   (per class, detached, renormalised over the two classes)
    L = CE(f, target)

Where the student is confident and the weak label is not, the target leans to the student: a
soft form of trusting one's own predictions. β = 0 is naive training on the weak labels.
"""
import torch

from w2s_bench.api import Method, soft_ce

EPS = 1e-6


def product_target(logits: torch.Tensor, weak: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """p(label = 1) of the product target."""
    p_student = torch.softmax(logits.detach().float(), dim=1)
    p_weak = torch.stack([1 - weak, weak], dim=1).float().clamp(EPS, 1 - EPS)
    t = p_weak ** alpha * p_student ** beta
    return (t / t.sum(1, keepdim=True))[:, 1]


class ProductLoss:
    def __init__(self, alpha: float, beta: float):
        self.alpha, self.beta = alpha, beta

    def __call__(self, logits, weak, step, total_steps):
        return soft_ce(logits, product_target(logits, weak, self.alpha, self.beta))


class Product(Method):
    name = "product"

    class Config(Method.Config):
        alpha: float = 1.0  # exponent of the weak labels
        beta: float = 1.0  # exponent of the student's own prediction

    def train_student(self, weak_labels):
        return self.ctx.train(weak_labels.train, weak_labels.val,
                              loss=ProductLoss(self.config.alpha, self.config.beta))
