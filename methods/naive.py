"""naive: fine-tune the strong model with cross-entropy against the weak soft labels (on a
generative task: the strong causal LM on the weak model's predicted texts)."""
from w2s_bench.api import Method, soft_ce_loss


class Naive(Method):
    name = "naive"
    generative = True

    def train_student(self, weak_labels):
        return self.ctx.train(weak_labels.train, weak_labels.val, loss=soft_ce_loss)
