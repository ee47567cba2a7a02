"""The method API: all that a method in `methods/` may import.

A method is a class with a frozen `Config` and `train_student(weak_labels) -> predictor`. It is
built with a `StudentContext`: the strong rung, a trainer that accepts a custom loss, the ladder's
intermediate rungs, the task's unlabeled text and the seed. Nothing here carries gold labels:
`WeakLabels` holds the inputs of `student_train` and `val` with the weak model's soft labels,
and the context holds rung specs and texts only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


from w2s_bench.specs import Frozen, RungSpec
from w2s_bench.train import Labeled, TrainedClassifier, fit, soft_ce, soft_ce_loss

__all__ = ["Labeled", "WeakLabels", "StudentContext", "Method", "TrainedClassifier", "soft_ce",
           "soft_ce_loss"]


@dataclass(frozen=True)
class WeakLabels:
    """`student_train` and `val` inputs with the weak model's soft labels p(label = 1)."""
    train: Labeled
    val: Labeled


@dataclass(frozen=True)
class StudentContext:
    strong: RungSpec
    intermediate: tuple[RungSpec, ...]  # the ladder's rungs strictly between weak and strong
    largest_student: bool  # the strong rung is the ladder's largest
    unlabeled_texts: tuple[str, ...]  # student_train + val inputs, no labels
    seed: int

    def train(self, train: Labeled, val: Labeled, loss=soft_ce_loss, rung: RungSpec | None = None,
              desc: str = "student") -> TrainedClassifier:
        """Fine-tune `rung` (default: the strong rung) on soft targets with `loss`, selecting the
        checkpoint on `val` as the protocol asks."""
        return fit(rung or self.strong, train, val, seed=self.seed, loss=loss, desc=desc)


class Method:
    """Base class: subclasses set `name`, a `Config` and implement `train_student`."""
    name: ClassVar[str]

    class Config(Frozen):
        pass

    def __init__(self, ctx: StudentContext, config: "Method.Config | None" = None):
        self.ctx = ctx
        self.config = config or self.Config()

    def train_student(self, weak_labels: WeakLabels):
        """Return a predictor: `.predict(texts) -> np.ndarray` of p(label = 1) and
        `.save(folder)`, with a classmethod `.load(folder, rung)` (TrainedClassifier is one)."""
        raise NotImplementedError
