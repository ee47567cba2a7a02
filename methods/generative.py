"""generative: unsupervised fine-tuning on the task's text, then naive weak-label training.

The strong rung is first fine-tuned as a language model on the task's unlabeled inputs
(student_train + val; masked-LM loss for encoder rungs, causal-LM loss for decoder rungs), then
trained on the weak labels with cross-entropy starting from those weights (Burns et al. 2023,
§5.2.2). The same LM step can be applied to the ceiling: `w2s-bench evaluate --ceiling generative`
(the paper did so for reward modeling); results record which ceiling they used.
"""
from w2s_bench.api import Method


class Generative(Method):
    name = "generative"
    trains_backbone = True  # its LM step: not on a frozen-backbone rung

    class Config(Method.Config):
        lm_epochs: int = 1
        lm_lr: float | None = None  # None: the rung's learning rate

    def train_student(self, weak_labels):
        c = self.config
        init = self.ctx.lm_finetune(self.ctx.unlabeled_texts, epochs=c.lm_epochs, lr=c.lm_lr)
        return self.ctx.train(weak_labels.train, weak_labels.val, init=init)
