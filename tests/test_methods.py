"""Every method of the zoo on a hand-computed case: exact loss values, exact targets, and the
order of training calls for the multi-step methods (with a recording context)."""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from w2s_bench.api import Labeled, WeakLabels
from w2s_bench.methods.bootstrap import Bootstrap
from w2s_bench.methods.entropy import EntropyLoss, entropy
from w2s_bench.methods.generative import Generative
from w2s_bench.methods.kl import kl_loss
from w2s_bench.methods.probe_filter import ProbeFilter, keep_agreeing
from w2s_bench.methods.probe_relabel import ProbeRelabel, probe_predict
from w2s_bench.methods.product import ProductLoss, product_target
from w2s_bench.methods.s2s import S2S
from w2s_bench.methods.window import midweak_radius, window_loss
from w2s_bench.registry import METHODS, get_method
from w2s_bench.train import soft_ce

# the same case as test_losses: p(label=1) = [0.5, 0.75]; weak soft labels [0.2, 0.6]
LOGITS = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
WEAK = torch.tensor([0.2, 0.6])
L2, L34 = math.log(2), math.log(4 / 3)


def test_product_target_and_loss_exact():
    # [0.8, 0.2] * [0.5, 0.5] -> 0.2;  [0.4, 0.6] * [0.25, 0.75] = [0.1, 0.45] -> 0.45 / 0.55
    assert product_target(LOGITS, WEAK, 1.0, 1.0).tolist() == pytest.approx([0.2, 9 / 11], abs=1e-6)
    assert product_target(LOGITS, WEAK, 1.0, 0.0).tolist() == pytest.approx([0.2, 0.6], abs=1e-6)
    expected = (L2 + (2 / 11) * math.log(4) + (9 / 11) * L34) / 2
    assert ProductLoss(1.0, 1.0)(LOGITS, WEAK, 0, 10).item() == pytest.approx(expected, abs=1e-6)
    # the target is detached: the gradient is that of CE against a constant
    x = LOGITS.clone().requires_grad_(True)
    ProductLoss(1.0, 1.0)(x, WEAK, 0, 10).backward()
    t = torch.tensor([0.2, 9 / 11])
    expected_grad = (torch.softmax(LOGITS, 1) - torch.stack([1 - t, t], 1)) / 2
    assert torch.allclose(x.grad, expected_grad, atol=1e-6)


def test_kl_reverse_and_forward_exact():
    rev = (
        0.5 * math.log(0.5 / 0.8)
        + 0.5 * math.log(0.5 / 0.2)
        + 0.25 * math.log(0.25 / 0.4)
        + 0.75 * math.log(0.75 / 0.6)
    ) / 2
    fwd = (
        0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5) + 0.4 * math.log(0.4 / 0.25) + 0.6 * math.log(0.6 / 0.75)
    ) / 2
    assert kl_loss(LOGITS, WEAK, "reverse").item() == pytest.approx(rev, abs=1e-6)
    assert kl_loss(LOGITS, WEAK, "forward").item() == pytest.approx(fwd, abs=1e-6)
    assert kl_loss(torch.tensor([[0.0, math.log(0.25)]]), torch.tensor([0.2]), "reverse").item() == pytest.approx(
        0.0, abs=1e-6
    )  # student = weak: zero


def test_entropy_exact_and_has_a_gradient():
    h = (L2 + -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))) / 2
    assert entropy(LOGITS).item() == pytest.approx(h, abs=1e-6)
    loss = EntropyLoss(0.5, 0.2)
    ce = soft_ce(LOGITS, WEAK).item()
    assert loss(LOGITS, WEAK, 0, 100).item() == pytest.approx(ce, abs=1e-6)  # α = 0 at step 0
    assert loss(LOGITS, WEAK, 10, 100).item() == pytest.approx(0.75 * ce + 0.25 * h, abs=1e-6)
    assert loss(LOGITS, WEAK, 50, 100).item() == pytest.approx(0.5 * ce + 0.5 * h, abs=1e-6)
    x = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)
    entropy(x).backward()
    # dH/dz1 for p = 0.75: -p(1-p) log(p/(1-p)) < 0, pushing towards confidence
    assert x.grad[0, 1].item() == pytest.approx(-0.75 * 0.25 * math.log(3), abs=1e-6)


def test_window_loss_exact():
    # radius 0.2: max probs [0.5, 0.75]; only the first is inside 0.5 + 0.2; divided by batch size 2
    assert window_loss(LOGITS, WEAK, 0.2).item() == pytest.approx(L2 / 2, abs=1e-6)
    both = (L2 + 0.4 * math.log(4) + 0.6 * L34) / 2
    assert window_loss(LOGITS, WEAK, 0.3).item() == pytest.approx(both, abs=1e-6)
    assert window_loss(LOGITS, WEAK, 0.0).item() == 0.0
    assert midweak_radius(np.array([0.2, 0.6, 0.9])) == pytest.approx(0.3)


def test_probe_knn_exact_and_filter_drops_most_disagreeing():
    feats = np.array([[0.0], [1.0], [10.0], [11.0]])
    p = probe_predict(feats, np.array([0.0, 1.0, 1.0, 1.0]), "knn", 1e-3, 2)
    assert p.tolist() == [0.5, 0.5, 1.0, 1.0]  # mean of self and nearest neighbour
    # disagreement [0, 0.8, 0, 0.1]: drop 25 % = the one at index 1
    assert keep_agreeing(np.array([0.1, 0.9, 0.5, 0.5]), np.array([0.1, 0.1, 0.5, 0.4]), 0.25).tolist() == [0, 2, 3]


def test_probe_logreg_on_soft_labels():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, 5))
    # a strong penalty leaves the (unpenalised) intercept: the weighted mean of the soft labels
    p = probe_predict(feats, np.full(200, 0.7), "logreg", 1e3, 20)
    assert np.allclose(p, 0.7, atol=1e-3)
    # a weak penalty recovers a noisy linear rule from soft labels
    truth = (feats[:, 0] > 0).astype(float)
    noisy = np.where(rng.random(200) < 0.2, 1 - truth, truth) * 0.6 + 0.2
    assert ((probe_predict(feats, noisy, "logreg", 1e-3, 20) > 0.5) == truth).mean() > 0.9


class Recorder:
    """A StudentContext stand-in: records every call; a 'model' predicts a constant."""

    def __init__(self, intermediate=("L2", "L3")):
        from w2s_bench.registry import load_ladder

        ladder = load_ladder("pocket")
        self.strong = ladder.rung("L6")
        self.intermediate = tuple(ladder.rung(n) for n in intermediate)
        self.largest_student, self.seed = True, 0
        self.unlabeled_texts = ("u1", "u2")
        self.calls = []

    def train(self, train, val, loss=None, rung=None, desc="", init=None):
        name = (rung or self.strong).name
        self.calls.append(
            ("train", name, tuple(np.round(train.targets, 3)), tuple(np.round(val.targets, 3)), len(train.texts), init)
        )
        value = {"L2": 0.2, "L3": 0.3, "L6": 0.6}[name] + 0.01 * len(self.calls)

        class Fixed:
            def predict(self, texts):
                return np.full(len(texts), value)

        return Fixed()

    def lm_finetune(self, texts, epochs=1, lr=None):
        self.calls.append(("lm", tuple(texts), epochs))
        return {"w": "adapted"}

    def pretrained_features(self, texts):
        return np.array([[float(i)] for i in range(len(texts))])


LABELS = WeakLabels(
    train=Labeled(("a", "b", "c", "d"), np.array([0.9, 0.1, 0.8, 0.4])), val=Labeled(("v",), np.array([0.7]))
)


def test_bootstrap_trains_each_rung_on_the_previous_labels():
    ctx = Recorder()
    Bootstrap(ctx).train_student(LABELS)
    assert [c[1] for c in ctx.calls] == ["L2", "L3", "L6"]
    assert ctx.calls[0][2:4] == ((0.9, 0.1, 0.8, 0.4), (0.7,))  # L2 on the weak labels
    assert ctx.calls[1][2:4] == ((0.21,) * 4, (0.21,))  # L3 on L2's labels (train and val)
    assert ctx.calls[2][2:4] == ((0.32,) * 4, (0.32,))  # strong on L3's labels
    with pytest.raises(ValueError, match="bootstrap needs at least one intermediate rung"):
        Bootstrap(Recorder(intermediate=())).train_student(LABELS)


def test_s2s_relabels_with_the_student_and_keeps_weak_val():
    ctx = Recorder()
    S2S(ctx, S2S.Config(rounds=2)).train_student(LABELS)
    assert [c[2] for c in ctx.calls] == [(0.9, 0.1, 0.8, 0.4), (0.61,) * 4, (0.62,) * 4]
    assert all(c[3] == (0.7,) for c in ctx.calls)
    ctx = Recorder()
    S2S(ctx, S2S.Config(rounds=1, hard=True)).train_student(LABELS)
    assert ctx.calls[1][2] == (1.0,) * 4


def test_generative_fine_tunes_on_unlabeled_text_then_trains_from_it():
    ctx = Recorder()
    Generative(ctx).train_student(LABELS)
    assert ctx.calls[0] == ("lm", ("u1", "u2"), 1)
    assert ctx.calls[1][1] == "L6" and ctx.calls[1][5] == {"w": "adapted"}


def test_probe_methods_train_on_probe_labels_or_the_kept_examples():
    ctx = Recorder()
    ProbeRelabel(ctx, ProbeRelabel.Config(probe="knn", k=4)).train_student(LABELS)
    assert ctx.calls[0][2] == (0.55,) * 4  # every example's 4 neighbours: all of them
    ctx = Recorder()
    ProbeFilter(ctx, ProbeFilter.Config(probe="knn", k=4, drop_frac=0.25)).train_student(LABELS)
    assert ctx.calls[0][2] == (0.9, 0.8, 0.4) and ctx.calls[0][4] == 3  # 0.1 disagrees most


def test_every_method_is_registered_with_a_frozen_config():
    assert sorted(METHODS) == sorted(
        [
            "naive",
            "aux_conf",
            "bootstrap",
            "generative",
            "product",
            "kl",
            "entropy",
            "window",
            "s2s",
            "probe_relabel",
            "probe_filter",
        ]
    )
    for name in METHODS:
        cls = get_method(name)
        assert cls.name == name
        with pytest.raises(ValidationError):
            cls.Config(not_a_field=1)


@pytest.fixture(scope="module")
def pairwise_cell(tmp_path_factory):
    from w2s_bench.stages import Cache
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    task = load_task("piqa_pref")
    return Cache(tmp_path_factory.mktemp("pairwise")), task, limit_splits(load_splits(task), 8)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs_on_a_pairwise_task(pairwise_cell, name):
    """Losses act on the preference probability σ(r_a - r_b): every method runs on pairs."""
    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import run_cell

    cache, task, splits = pairwise_cell
    ladder = load_ladder("pocket")
    one = ladder.rung("L1").model_copy(update={"epochs": 1, "batch_size": 8})
    rungs = [one, one.model_copy(update={"name": "L1b"}), one.model_copy(update={"name": "L1c"})]
    ladder = ladder.model_copy(update={"rungs": rungs})  # 1-layer rungs: bootstrap has a middle one
    from w2s_bench.registry import method_refs

    p = run_cell(cache, task, splits, ladder, rungs[0], rungs[2], 0, method_refs(sorted(METHODS))[name])
    assert p.student.shape == (8,) and np.all((p.student >= 0) & (p.student <= 1))
