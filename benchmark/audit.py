"""Label-leak audit: can a model that sees only the *format* of an example beat chance?

`w2s-bench audit` fits two format-only classifiers per task on weak_train + student_train and
scores them on test. Their features carry no content, only surface form:

    length in characters, words and tokens; mean word length; counts of . , ! ? ; : quotes,
    brackets and digits; the uppercase share of letters; whether the text ends in punctuation.

Which text they are computed on:

* binary rows (`text` is a string): the whole text, plus -- when the task's template has an
  `{answer}` field preceded by a non-blank literal (multiple-choice tasks: "Q: {question} A:
  {answer}") -- the answer segment: the text after the last occurrence of that literal (" A: "),
  cut at the last occurrence of the literal that follows `{answer}` if there is one (" Context: "
  in sciq_support). This is what catches "the correct answer is the longer one". Templates whose
  literal before `{answer}` is blank (hellaswag's "{ctx} {answer}") get whole-text features only.
* pairwise rows (`text` is [a, b], label 1 = a is the chosen/correct one): features(a) -
  features(b) and log(len(a) / len(b)), so length differences and answer position are covered.

Tokens are counted with a regex (`\\w+` runs and single punctuation marks) rather than the pocket
rung's WordPiece tokenizer: it needs no model assets, works for any suite's tasks, and for a
format-only model a subword count adds little beyond characters + words, which are already there.

Classifiers: StandardScaler + LogisticRegression (linear cues) and a depth-3 decision tree
(threshold cues such as "shorter than 40 characters"); the audit reports the better of the two
test accuracies. Chance is the majority-class rate of test (0.5 for the class-balanced splits).
A task passes when |accuracy - chance| <= tolerance (3 points by default) *and* its test labels
are balanced to within the same tolerance (an all-"a is correct" pairwise set leaks through
position alone, which a format model cannot beat but which is a leak all the same).

Statistical note: the test splits hold 250-1000 examples, so one binomial standard error of a
chance-level accuracy is 1.6-3.2 points; the table prints it next to each accuracy.
"""
from __future__ import annotations

import math
import re
import string

import numpy as np

TOLERANCE = 0.03
_TOKEN = re.compile(r"\w+|[^\w\s]")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_BRACKETS = "()[]{}"
FEATURES = ["chars", "words", "tokens", "mean_word_len", "period", "comma", "exclam", "question",
            "semicolon", "colon", "quotes", "brackets", "digits", "upper_ratio", "ends_punct"]


def _one(text: str) -> list[float]:
    words = text.split()
    letters = sum(c.isalpha() for c in text)
    return [len(text), len(words), len(_TOKEN.findall(text)),
            sum(map(len, words)) / len(words) if words else 0.0,
            text.count("."), text.count(","), text.count("!"), text.count("?"),
            text.count(";"), text.count(":"),
            sum(text.count(q) for q in _QUOTES), sum(text.count(b) for b in _BRACKETS),
            sum(c.isdigit() for c in text),
            sum(c.isupper() for c in text) / letters if letters else 0.0,
            float(bool(text.rstrip()) and text.rstrip()[-1] in string.punctuation)]


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


def _le(a: float, b: float) -> bool:  # a <= b, where 0.53 - 0.5 counts as 0.03
    return round(a, 9) <= round(b, 9)


def audit_rows(name: str, train: list[dict], test: list[dict], template: str | None = None,
               tolerance: float = TOLERANCE) -> dict:
    """Fit the format-only classifiers on `train`, score them on `test`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    pairwise = not isinstance(train[0]["text"], str)
    X, Xt = (format_features([r["text"] for r in rows], template) for rows in (train, test))
    y, yt = (np.array([r["label"] for r in rows]) for rows in (train, test))
    models = {"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
              "tree": DecisionTreeClassifier(max_depth=3, random_state=0)}
    chance = float(max(yt.mean(), 1 - yt.mean()))
    if len(set(y)) < 2:  # one label only (e.g. "a is always correct"): predict it
        accs, best, top = {"constant": float((yt == y[0]).mean())}, "constant", ["label prior"]
    else:
        accs = {k: float((m.fit(X, y).predict(Xt) == yt).mean()) for k, m in models.items()}
        best = max(accs, key=accs.get)
        names = feature_names(template, pairwise)
        weights = (np.abs(models["logreg"][-1].coef_[0]) if best == "logreg"
                   else models["tree"].feature_importances_)
        top = [names[i] for i in np.argsort(-weights)[:3] if weights[i] > 0]
    acc = accs[best]
    return {"task": name, "kind": "pairwise" if pairwise else "binary", "n_train": len(train),
            "n_test": len(test), "accuracy": acc, "chance": chance,
            "se": math.sqrt(chance * (1 - chance) / len(test)), "model": best,
            "accuracies": accs, "top_features": top,
            "within": _le(abs(acc - chance), tolerance) and _le(chance - 0.5, tolerance)}


def audit_task(spec, tolerance: float = TOLERANCE) -> dict:
    """Audit one task spec: train on weak_train + student_train, evaluate on test. A spec whose
    split hashes are not frozen yet is audited unverified (audit before you freeze)."""
    from w2s_bench.tasks import frozen_split_hashes, load_splits
    splits = load_splits(spec, verify=bool(frozen_split_hashes(spec)[0]))  # the spec's or the lock's
    return audit_rows(spec.name, splits["weak_train"] + splits["student_train"], splits["test"],
                      template=getattr(getattr(spec, "format", None), "template", None),
                      tolerance=tolerance)


def table(results: list[dict]) -> str:
    from tabulate import tabulate
    rows = [[r["task"], r["kind"], f"{r['accuracy']:.3f} ± {r['se']:.3f}", f"{r['chance']:.3f}",
             r["model"], ", ".join(r["top_features"]), "yes" if r["within"] else "**NO**"]
            for r in results]
    return tabulate(rows, headers=["task", "kind", "accuracy ± SE", "chance", "best model",
                                   "top features", "within"], tablefmt="github", disable_numparse=True)
