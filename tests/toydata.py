"""The tiny labelled movie-review set several tests train toy rungs on."""

import numpy as np

from w2s_bench.train import Labeled

SNIPPETS = (
    "a fine film",
    "dull and long",
    "a wonderful, moving story",
    "bad",
    "great fun",
    "the worst thing this year, truly awful in every way",
    "loved it",
    "boring",
)
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def toy(repeat: int) -> tuple[tuple, Labeled]:
    """(texts, labelled data): the eight snippets `repeat` times."""
    texts = SNIPPETS * repeat
    return texts, Labeled(texts, np.array(LABELS * repeat, dtype=float))
