"""The method API: all that a method in `methods/` may import.

A method is a class with a frozen `Config` and `train_student(weak_labels) -> predictor`. It is
built with a `StudentContext`: the strong rung, a trainer that accepts a custom loss, the ladder's
intermediate rungs, the task's unlabeled text, frozen pretrained features, unsupervised LM
fine-tuning and the seed. Nothing here carries gold labels: `WeakLabels` holds the inputs of
`student_train` and `val` with the weak model's soft labels, and the context holds rung specs and
texts only. `train_student` runs in a separate process that never held a gold label
(w2s_bench/isolate.py).

Inputs are texts (binary tasks) or (text_a, text_b) pairs (pairwise tasks; p(label = 1) is the
preference for a). On a generative task (e.g. predict the chess move as text) the weak labels are
`Targets`: prompts with the weak model's predicted texts; only methods with `generative = True`
(naive) accept them, and `ctx.train` then fine-tunes the strong causal LM on those texts.
A loss `loss(logits, targets, step, total_steps)` acts on 2-way logits and soft targets
p(label = 1), so it serves binary and pairwise tasks alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from w2s_bench import features as _features
from w2s_bench.features import FeatureBank
from w2s_bench.features import flat as flat_texts  # texts of binary inputs, both texts of every pair
from w2s_bench.generate import GenerativeLM, Targets
from w2s_bench.specs import Frozen, RungSpec
from w2s_bench.train import Labeled, TrainedClassifier, fit, soft_ce, soft_ce_loss

__all__ = [
    "Labeled",
    "Targets",
    "WeakLabels",
    "StudentContext",
    "Method",
    "TrainedClassifier",
    "GenerativeLM",
    "soft_ce",
    "soft_ce_loss",
    "flat_texts",
]


@dataclass(frozen=True)
class WeakLabels:
    """`student_train` and `val` inputs with the weak model's soft labels p(label = 1), or, on a
    generative task, `Targets`: the prompts with the weak model's predicted texts."""

    train: Labeled | Targets
    val: Labeled | Targets


@dataclass(frozen=True)
class StudentContext:
    strong: RungSpec
    intermediate: tuple[RungSpec, ...]  # the ladder's rungs strictly between weak and strong
    largest_student: bool  # the strong rung is the ladder's largest
    unlabeled_texts: tuple  # student_train + val inputs (texts or pairs), no labels
    seed: int
    # frozen-backbone rungs' pooled features of those inputs (computed by the harness; see
    # w2s_bench.features), put into this process's bank before anything trains
    features: FeatureBank | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.features is not None:
            _features.BANK.update(self.features)

    def __setstate__(self, state):  # unpickled in a method's process: install its features there too
        self.__dict__.update(state)
        self.__post_init__()

    def train(
        self,
        train: Labeled,
        val: Labeled,
        loss=soft_ce_loss,
        rung: RungSpec | None = None,
        desc: str = "student",
        init: dict | None = None,
    ) -> TrainedClassifier:
        """Fine-tune `rung` (default: the strong rung) on soft targets with `loss`, selecting the
        checkpoint on `val` as the protocol asks; `init`: backbone weights to start from.
        `Targets` (a generative task): fine-tune the causal LM on the target texts instead
        (loss on the target tokens, selection on val exact match); no custom loss or init."""
        if isinstance(train, Targets):
            if loss is not soft_ce_loss or init is not None:
                raise ValueError(
                    "a generative task trains on target texts with the LM loss: a custom loss or init does not apply"
                )
            from w2s_bench.generate import fit_generative

            return fit_generative(rung or self.strong, train, val, seed=self.seed, desc=desc)
        return fit(rung or self.strong, train, val, seed=self.seed, loss=loss, desc=desc, init=init)

    def pretrained_features(self, texts, rung: RungSpec | None = None) -> np.ndarray:
        """Frozen pretrained features of `rung` (default: strong): the pooled representation its
        head would read, one row per input (a pair: features of a minus features of b)."""
        from w2s_bench.models import build_classifier

        rung = rung or self.strong
        return TrainedClassifier(build_classifier(rung, seed=0), rung).features(texts)

    def lm_finetune(self, texts, epochs: int = 1, lr: float | None = None, rung: RungSpec | None = None) -> dict:
        """Unsupervised LM fine-tuning (masked LM for encoders, causal LM for decoders) of `rung`
        on `texts`; returns backbone weights to pass as `train(..., init=...)`."""
        from w2s_bench.lm import lm_finetune

        return lm_finetune(rung or self.strong, flat_texts(texts), seed=self.seed, epochs=epochs, lr=lr)


class Method:
    """Base class: subclasses set `name`, a `Config` and implement `train_student`."""

    name: ClassVar[str]
    generative: ClassVar[bool] = False  # True: train_student also accepts Targets (generative tasks)
    # True: it trains the strong rung's backbone itself (e.g. LM fine-tuning), which a
    # frozen-backbone rung (kind = "frozen") cannot: the harness refuses such a pair at once
    trains_backbone: ClassVar[bool] = False

    class Config(Frozen):
        pass

    def __init__(self, ctx: StudentContext, config: Method.Config | None = None):
        self.ctx = ctx
        self.config = config or self.Config()

    def train_student(self, weak_labels: WeakLabels):
        """Return a predictor: `.predict(texts) -> np.ndarray` of p(label = 1) and
        `.save(folder)`, with a classmethod `.load(folder, rung)` (TrainedClassifier is one)."""
        raise NotImplementedError
