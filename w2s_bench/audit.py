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

import numpy as np

# the features live upstream of both the audit and the split builder; re-exported for callers
from w2s_bench.textformat import FEATURES, answer_delimiters, answer_segment, feature_names, format_features  # noqa: F401

TOLERANCE = 0.03


def _le(a: float, b: float) -> bool:  # a <= b, where 0.53 - 0.5 counts as 0.03
    return round(a, 9) <= round(b, 9)


def audit_rows(
    name: str, train: list[dict], test: list[dict], template: str | None = None, tolerance: float = TOLERANCE
) -> dict:
    """Fit the format-only classifiers on `train`, score them on `test`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    pairwise = not isinstance(train[0]["text"], str)
    X, Xt = (format_features([r["text"] for r in rows], template) for rows in (train, test))
    y, yt = (np.array([r["label"] for r in rows]) for rows in (train, test))
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
    }
    chance = float(max(yt.mean(), 1 - yt.mean()))
    if len(set(y)) < 2:  # one label only (e.g. "a is always correct"): predict it
        accs, best, top = {"constant": float((yt == y[0]).mean())}, "constant", ["label prior"]
    else:
        accs = {k: float((m.fit(X, y).predict(Xt) == yt).mean()) for k, m in models.items()}
        best = max(accs, key=accs.get)
        names = feature_names(template, pairwise)
        weights = np.abs(models["logreg"][-1].coef_[0]) if best == "logreg" else models["tree"].feature_importances_
        top = [names[i] for i in np.argsort(-weights)[:3] if weights[i] > 0]
    acc = accs[best]
    return {
        "task": name,
        "kind": "pairwise" if pairwise else "binary",
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": acc,
        "chance": chance,
        "se": math.sqrt(chance * (1 - chance) / len(test)),
        "model": best,
        "accuracies": accs,
        "top_features": top,
        "within": _le(abs(acc - chance), tolerance) and _le(chance - 0.5, tolerance),
    }


def audit_task(spec, tolerance: float = TOLERANCE) -> dict:
    """Audit one task spec: train on weak_train + student_train, evaluate on test. A spec whose
    split hashes are not frozen yet is audited unverified (audit before you freeze)."""
    from w2s_bench.tasks import frozen_split_hashes, load_splits

    splits = load_splits(spec, verify=bool(frozen_split_hashes(spec)[0]))  # the spec's or the lock's
    return audit_rows(
        spec.name,
        splits["weak_train"] + splits["student_train"],
        splits["test"],
        template=getattr(getattr(spec, "format", None), "template", None),
        tolerance=tolerance,
    )


def table(results: list[dict]) -> str:
    from tabulate import tabulate

    rows = [
        [
            r["task"],
            r["kind"],
            f"{r['accuracy']:.3f} ± {r['se']:.3f}",
            f"{r['chance']:.3f}",
            r["model"],
            ", ".join(r["top_features"]),
            "yes" if r["within"] else "**NO**",
        ]
        for r in results
    ]
    return tabulate(
        rows,
        headers=["task", "kind", "accuracy ± SE", "chance", "best model", "top features", "within"],
        tablefmt="github",
        disable_numparse=True,
    )
