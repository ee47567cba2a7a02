"""Frozen-backbone rungs (`kind = "frozen"`): the backbone's pooled features, computed once per
text, and the bank the trainer reads them from.

A frozen rung is a pretrained backbone that never trains: its pooled representation (mean over
non-pad tokens, or the last token) of every input is computed once, and only a linear head on the
standardized features is trained, by the same trainer and losses as every other rung
(w2s_bench.train). The stages compute each split's features in a content-addressed stage
(`frozen_features`) and put them into this process's bank; a method's sealed process gets the bank
of the splits it may see (student_train and val). A text the bank lacks is encoded on the spot, so
a trained head predicts on any text, only more slowly.

What a frozen rung cannot do: change its backbone (unsupervised LM fine-tuning, `init` weights):
`no_backbone_training` says so in one message.
"""

from __future__ import annotations

import numpy as np

from w2s_bench.specs import RungSpec, spec_hash


class FrozenRungError(ValueError):
    """Something that needs to train a backbone was asked of a frozen-backbone rung."""


def no_backbone_training(rung: RungSpec, what: str) -> FrozenRungError:
    return FrozenRungError(
        f"{what} needs to train the backbone of rung {rung.name}, but {rung.name} is a "
        f'frozen-backbone rung (kind = "frozen": fixed pooled features, only a linear head '
        f"trains), so {what} does not apply on this ladder; run it on a ladder whose rungs are "
        f"fine-tuned (e.g. --suite pocket.v2, ladder pocket)"
    )


def rung_key(rung: RungSpec) -> str:
    """Features depend only on the backbone, its cut, pooling and input length, not on the head's
    training hyper-parameters: rungs that share those share features."""
    key = {
        "source": rung.source,
        "num_layers": rung.num_layers,
        "pooling": rung.pooling,
        "max_length": rung.max_length,
        "dtype": rung.dtype,
    }
    if rung.chess is not None:  # a chess network's features (set only there: other keys unchanged)
        key["chess"] = rung.chess
    return spec_hash(key)


def flat(texts) -> list[str]:
    """Every text of the inputs: texts as they are, both texts of each (a, b) pair."""
    return [t for x in texts for t in (x if isinstance(x, (tuple, list)) else (x,))]


class FeatureBank:
    """rung key -> (text -> row, float32 matrix). Picklable: it travels to a method's process."""

    def __init__(self):
        self.tables: dict[str, tuple[dict[str, int], np.ndarray]] = {}

    def add(self, rung: RungSpec, texts: list[str], features: np.ndarray) -> None:
        self._add(rung_key(rung), list(texts), np.asarray(features, dtype=np.float32))

    def _add(self, key: str, texts: list[str], features: np.ndarray) -> None:
        if features.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {features.shape[0]} feature rows")
        index, old = self.tables.get(key, ({}, np.zeros((0, features.shape[1]), np.float32)))
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            if t not in index:
                first.setdefault(t, i)
        rows = list(first.values())
        self.tables[key] = (
            {**index, **{texts[i]: len(old) + k for k, i in enumerate(rows)}},
            np.concatenate([old, features[rows]]),
        )

    def update(self, other: FeatureBank) -> None:
        """Add every feature row of `other`."""
        for key, (index, matrix) in other.tables.items():
            self._add(key, list(index), matrix[list(index.values())])

    def subset(self, rungs, texts) -> FeatureBank:
        """A bank of only these rungs' features of only these texts (what a method may see)."""
        out, wanted = FeatureBank(), flat(texts)
        for rung in rungs:
            table = self.tables.get(rung_key(rung))
            if table is not None:
                have = [t for t in dict.fromkeys(wanted) if t in table[0]]
                out.add(rung, have, table[1][[table[0][t] for t in have]])
        return out

    def missing(self, rung: RungSpec, texts: list[str]) -> list[str]:
        """The distinct texts of `texts` that have no features of `rung` here."""
        index = self.tables.get(rung_key(rung), ({}, None))[0]
        return [t for t in dict.fromkeys(texts) if t not in index]

    def get(self, rung: RungSpec, texts: list[str]) -> np.ndarray | None:
        index, matrix = self.tables.get(rung_key(rung), ({}, None))
        if matrix is None or any(t not in index for t in texts):
            return None
        return matrix[[index[t] for t in texts]]


BANK = FeatureBank()  # this process's features
