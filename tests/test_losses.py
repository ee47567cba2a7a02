"""Exact values of the two losses on a hand-computed case."""

import math

import pytest
import torch

from w2s_bench.methods.aux_conf import AuxConfLoss, adaptive_hard_labels, alpha_at
from w2s_bench.train import soft_ce

# p(label=1) = [0.5, 0.75]; weak soft labels [0.2, 0.6]
LOGITS = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
WEAK = torch.tensor([0.2, 0.6])
CE_WEAK = (-(0.8 * math.log(0.5) + 0.2 * math.log(0.5)) - (0.4 * math.log(0.25) + 0.6 * math.log(0.75))) / 2
# prior = 0.4 -> t = quantile([0.5, 0.75], 0.6) = 0.65 -> hardened [0, 1]
CE_HARD = (-math.log(0.5) - math.log(0.75)) / 2


def test_naive_soft_cross_entropy_exact():
    assert soft_ce(LOGITS, WEAK).item() == pytest.approx(CE_WEAK, abs=1e-6)
    assert CE_WEAK == pytest.approx(0.7101372, abs=1e-6)


def test_adaptive_threshold_matches_weak_positive_rate():
    assert adaptive_hard_labels(torch.tensor([0.5, 0.75]), WEAK).tolist() == [0.0, 1.0]
    # prior 0.25 over four predictions: t = 0.675, one positive
    p1 = torch.tensor([0.1, 0.4, 0.6, 0.9])
    weak = torch.tensor([0.0, 0.1, 0.2, 0.7])
    assert adaptive_hard_labels(p1, weak).tolist() == [0.0, 0.0, 0.0, 1.0]
    # prior 0.75: three positives
    assert adaptive_hard_labels(p1, 1 - weak).tolist() == [0.0, 1.0, 1.0, 1.0]


def test_alpha_ramps_linearly_over_first_20_percent():
    assert alpha_at(0, 100, 0.5, 0.2) == 0.0
    assert alpha_at(5, 100, 0.5, 0.2) == pytest.approx(0.125)
    assert alpha_at(10, 100, 0.5, 0.2) == pytest.approx(0.25)
    assert alpha_at(20, 100, 0.5, 0.2) == pytest.approx(0.5)
    assert alpha_at(90, 100, 0.75, 0.2) == pytest.approx(0.75)


@pytest.mark.parametrize("step,alpha", [(0, 0.0), (10, 0.25), (20, 0.5), (99, 0.5)])
def test_aux_conf_loss_exact(step, alpha):
    loss = AuxConfLoss(alpha_max=0.5, warmup_frac=0.2)(LOGITS, WEAK, step, 100)
    assert loss.item() == pytest.approx((1 - alpha) * CE_WEAK + alpha * CE_HARD, abs=1e-6)


def test_aux_conf_hardened_target_carries_no_gradient():
    logits = LOGITS.clone().requires_grad_(True)
    AuxConfLoss(0.5, 0.0)(logits, WEAK, 50, 100).backward()
    # gradient of mean CE w.r.t. logits is (softmax - target) / n with target = 0.5*weak + 0.5*hard
    p = torch.softmax(LOGITS, 1)
    target1 = 0.5 * WEAK + 0.5 * torch.tensor([0.0, 1.0])
    expected = (p - torch.stack([1 - target1, target1], 1)) / 2
    assert torch.allclose(logits.grad, expected, atol=1e-6)
