"""Label-leak audit: format-only baselines on the pocket tasks, and synthetic leaks it must catch."""

import random

import pytest

from w2s_bench.audit import answer_delimiters, answer_segment, audit_rows, audit_task, format_features
from w2s_bench.cli import main
from w2s_bench.registry import load_suite
from w2s_bench.tasks import load_task

POCKET = sorted(
    set(
        load_suite("pocket").tasks
        + load_suite("pocket.v2").tasks
        + load_suite("pocket.v3").tasks
        + load_suite("pocket_pairwise").tasks
        + load_suite("pocket_pairwise.v2").tasks
    )
)

# Measured leaks in frozen pocket tasks. Their specs are frozen (long runs depend on them), so they
# are not changed here; the fix is a new task NAME.v2 with a neutral format. strict=True: once a
# task is fixed (or the audit changes) the xfail itself fails and this table must be updated.
KNOWN_LEAKS = {
    "rotten_tomatoes": "format-only accuracy 0.573: positive reviews are longer in characters but not "
    "in words (mean word length 5.24 vs 5.15), and use more commas",
    "sciq": "format-only accuracy 0.550: no correct answer has an uppercase letter, 32 of 950 "
    "distractors do ('DNA', 'Mars', ...); correct answers are slightly longer",
    "sciq_support": "format-only accuracy 0.570: the same answers as sciq (uppercase distractors, answer length)",
}


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(t, marks=pytest.mark.xfail(strict=True, reason=KNOWN_LEAKS[t])) if t in KNOWN_LEAKS else t
        for t in POCKET
    ],
)
def test_pocket_task_within_three_points_of_chance(task):
    r = audit_task(load_task(task))
    assert r["chance"] == 0.5 and r["n_test"] == load_task(task).splits.sizes["test"]
    assert r["within"], (
        f"{task}: format-only accuracy {r['accuracy']:.3f} vs chance {r['chance']:.3f}; cues {r['top_features']}"
    )


# ---- synthetic tasks -----------------------------------------------------------------------

WORDS = "the a cell heat light water energy plant rock moon star acid gas wave".split()


def _sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _binary(n, seed, leak):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        length = rng.randint(5, 15) + (6 if leak and label else 0)
        rows.append({"text": _sentence(rng, length), "label": label, "group": str(i)})
    return rows


def test_leaky_binary_task_is_caught():
    r = audit_rows("leaky", _binary(2000, 0, leak=True), _binary(2000, 1, leak=True))
    assert r["accuracy"] > 0.75 and not r["within"]
    assert r["top_features"][0] in {"chars", "words", "tokens"}


def test_format_strata_remove_a_length_leak():
    """balance_format (a spec's `splits.format_strata`) keeps equal class counts in each stratum
    of a format-only score: the length leak is gone, the same rows come out every time."""
    from w2s_bench.tasks.builders import balance_format

    rows = _binary(4000, 0, leak=True)
    kept = balance_format(rows, 12, None, seed=0)
    assert kept == balance_format(rows, 12, None, seed=0)
    assert sum(r["label"] for r in kept) * 2 == len(kept) and len(kept) < len(rows)
    half = len(kept) // 2
    r = audit_rows("balanced", kept[:half], kept[half:])
    assert r["within"], r


def test_clean_binary_task_passes():
    r = audit_rows("clean", _binary(2000, 0, leak=False), _binary(2000, 1, leak=False))
    assert r["within"] and abs(r["accuracy"] - 0.5) <= 0.03


def _multiple_choice(n, seed, leak):
    """Q/A rows whose questions vary a lot in length; with `leak` the correct answer is 2 words
    longer, which only the answer segment's features see clearly."""
    rng = random.Random(seed)
    rows = []
    for i in range(n // 2):
        q = _sentence(rng, rng.randint(3, 40))
        for label in (1, 0):
            a = _sentence(rng, rng.randint(1, 3) + (2 if leak and label else 0))
            rows.append({"text": f"Q: {q} A: {a}", "label": label, "group": str(i)})
    return rows


def test_answer_segment_catches_a_longer_correct_answer():
    template = "Q: {question} A: {answer}"
    train, test = _multiple_choice(2000, 0, leak=True), _multiple_choice(2000, 1, leak=True)
    assert audit_rows("mc", train, test, template=template)["accuracy"] > 0.7
    assert audit_rows("mc", _multiple_choice(2000, 0, False), _multiple_choice(2000, 1, False), template=template)[
        "within"
    ]


def test_answer_delimiters_of_shipped_templates():
    assert answer_delimiters("Q: {question} A: {answer}") == (" A: ", "")
    d = answer_delimiters("Q: {question} A: {answer} Context: {support}")
    assert answer_segment("Q: why? A: heat Context: A: not this", d) == "heat"
    assert answer_delimiters("{ctx} {answer}") is None  # blank literal: whole text only
    assert answer_delimiters("{sentence}") is None
    assert format_features(["Q: x A: yy"], "Q: {question} A: {answer}").shape == (1, 30)


def _pairs(n, seed, longer_wins, always_first=False):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        good, bad = _sentence(rng, rng.randint(3, 12)), _sentence(rng, rng.randint(3, 12))
        if longer_wins and len(good) < len(bad):
            good, bad = bad, good
        first = True if always_first else rng.random() < 0.5
        rows.append({"text": [good, bad] if first else [bad, good], "label": int(first), "group": str(i)})
    return rows


def test_pairwise_longer_is_correct_is_caught():
    r = audit_rows("pairs", _pairs(2000, 0, True), _pairs(2000, 1, True))
    assert r["kind"] == "pairwise" and r["accuracy"] > 0.9 and not r["within"]
    clean = audit_rows("pairs", _pairs(2000, 0, False), _pairs(2000, 1, False))
    assert clean["within"]


def test_pairwise_answer_always_first_is_caught():
    r = audit_rows("pairs", _pairs(1000, 0, False, True), _pairs(1000, 1, False, True))
    assert r["chance"] == 1.0 and not r["within"]


# ---- command line --------------------------------------------------------------------------


def test_cli_audit_exit_codes(capsys):
    assert main(["audit", "--tasks", "sst2"]) == 0
    assert "| sst2" in capsys.readouterr().out
    assert main(["audit", "--tasks", "sst2,sciq"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  sciq:" in out and "sciq.v2" in out and "FAIL  sst2" not in out
