"""Tests run offline on the real (small) assets; the stage cache is per test."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True, scope="module")
def fresh_feature_bank():
    """Each test module starts with an empty in-process feature bank (w2s_bench.features.BANK), as
    a fresh `w2s-bench` process does: the bank keeps the first features it gets for a text, and
    features of the same text encoded in another batch (another --limit) differ in the last bits,
    so one module's frozen-rung runs would otherwise change the next module's predictions."""
    from w2s_bench import features

    features.BANK.tables.clear()
    yield


@pytest.fixture(scope="session")
def repository_verify():
    """`w2s-bench leaderboard verify --reproduce` on this checkout's board, run once for the whole
    session (it rechecks every entry from its predictions, the slowest read-only check; the tests
    that use it only read its outcome): (exit code, printed output)."""
    import contextlib
    import io

    from w2s_bench.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["leaderboard", "verify", "--reproduce"])
    return rc, out.getvalue()
