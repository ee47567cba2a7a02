"""A memorizer: the attack the canary (leaderboard/canary.py) must catch. It ships the test labels
of a public corpus as a table (6-byte hashes of normalised test texts and their labels, in its
config: as good as a constant in its code) and predicts from it, falling back to a naive student on
texts it does not know. Its predictions reproduce exactly: only edited texts give it away.

`table_for(task, limit)` builds the table from the public data, as a submitter would."""

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from w2s_bench.api import Method, TrainedClassifier, soft_ce_loss


def key(text) -> bytes:
    """Case, spacing and punctuation removed: the table survives those edits, not word edits."""
    text = " ".join(text) if isinstance(text, (list, tuple)) else text
    return hashlib.sha256(re.sub(r"[^a-z0-9]+", "", text.lower()).encode()).digest()[:6]


def table_for(task: str, limit: int | None = None) -> str:
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    rows = limit_splits(load_splits(load_task(task)), limit)["test"]
    return base64.b64encode(b"".join(key(r["text"]) + bytes([r["label"]]) for r in rows)).decode()


def _decode(table: str) -> dict[bytes, int]:
    raw = base64.b64decode(table)
    return {raw[i : i + 6]: raw[i + 6] for i in range(0, len(raw), 7)}


class Lookup:
    def __init__(self, fallback: TrainedClassifier, table: str):
        self.fallback, self.table = fallback, table

    def predict(self, texts, desc=None):
        known = _decode(self.table)
        p = np.asarray(self.fallback.predict(texts, desc=desc), dtype=np.float64)
        for i, t in enumerate(texts):
            if key(t) in known:
                p[i] = 0.999 if known[key(t)] else 0.001
        return p

    def save(self, folder):
        self.fallback.save(Path(folder))
        (Path(folder) / "table.json").write_text(json.dumps(self.table))

    @classmethod
    def load(cls, folder, rung):
        return cls(TrainedClassifier.load(Path(folder), rung), json.loads((Path(folder) / "table.json").read_text()))


class Memorizer(Method):
    name = "memorizer"

    class Config(Method.Config):
        table: str = ""

    def train_student(self, weak_labels):
        return Lookup(self.ctx.train(weak_labels.train, weak_labels.val, loss=soft_ce_loss), self.config.table)
