"""Format-only features of a text: its surface form, no content. Used by the label-leak audit
(w2s_bench.audit, which fits format-only classifiers on them) and by the split builder
(w2s_bench.tasks.builders, which balances classes within strata of a format score); both import
this module, it imports neither.

    length in characters, words and tokens; mean word length; counts of . , ! ? ; : quotes,
    brackets and digits; the uppercase share of letters; whether the text ends in punctuation.

With a template whose `{answer}` field follows a non-blank literal ("Q: {question} A: {answer}"),
the answer segment's features are appended; pairwise rows ([a, b]) get features(a) - features(b)
and log(len(a) / len(b)). The audit's docstring says why.
"""

from __future__ import annotations

import math
import re
import string

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_BRACKETS = "()[]{}"
FEATURES = [
    "chars",
    "words",
    "tokens",
    "mean_word_len",
    "period",
    "comma",
    "exclam",
    "question",
    "semicolon",
    "colon",
    "quotes",
    "brackets",
    "digits",
    "upper_ratio",
    "ends_punct",
]


def _one(text: str) -> list[float]:
    words = text.split()
    letters = sum(c.isalpha() for c in text)
    return [
        len(text),
        len(words),
        len(_TOKEN.findall(text)),
        sum(map(len, words)) / len(words) if words else 0.0,
        text.count("."),
        text.count(","),
        text.count("!"),
        text.count("?"),
        text.count(";"),
        text.count(":"),
        sum(text.count(q) for q in _QUOTES),
        sum(text.count(b) for b in _BRACKETS),
        sum(c.isdigit() for c in text),
        sum(c.isupper() for c in text) / letters if letters else 0.0,
        float(bool(text.rstrip()) and text.rstrip()[-1] in string.punctuation),
    ]


def answer_delimiters(template: str | None) -> tuple[str, str] | None:
    """(literal before `{answer}`, literal after it) of a template, or None when the template has
    no `{answer}` field or the literal before it is blank."""
    if not template:
        return None
    parts = list(string.Formatter().parse(template))
    for i, (literal, field, _, _) in enumerate(parts):
        if field == "answer":
            after = parts[i + 1][0] if i + 1 < len(parts) else ""
            return (literal, after) if literal.strip() else None
    return None


def answer_segment(text: str, delims: tuple[str, str]) -> str:
    before, after = delims
    if after.strip() and after in text:
        text = text.rsplit(after, 1)[0]
    return text.rsplit(before, 1)[1] if before in text else ""


def format_features(texts, template: str | None = None) -> np.ndarray:
    """One row of format-only features per example. `texts` holds strings (binary) or [a, b]
    pairs (pairwise: features(a) - features(b), then log length ratio). With a template that has
    an `{answer}` field, the answer segment's features are appended (see the module docstring)."""
    delims = answer_delimiters(template)

    def feats(t: str) -> list[float]:
        return _one(t) + (_one(answer_segment(t, delims)) if delims else [])

    rows = []
    for t in texts:
        if isinstance(t, str):
            rows.append(feats(t))
        else:
            a, b = t
            diff = np.subtract(feats(a), feats(b))
            rows.append([*diff, math.log((len(a) + 1) / (len(b) + 1))])
    return np.asarray(rows, dtype=float)


def feature_names(template: str | None = None, pairwise: bool = False) -> list[str]:
    names = FEATURES + ([f"answer_{f}" for f in FEATURES] if answer_delimiters(template) else [])
    return ([f"{n}(a-b)" for n in names] + ["log_len_ratio"]) if pairwise else names
