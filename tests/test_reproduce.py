"""`verify --reproduce`: CI re-runs every cell of a new entry and compares its predictions, then
runs the memorizer canary on one cell. A fabricated entry (the student's test predictions replaced
by the ceiling's, every stored number recomputed with the project's scorer) passes verify's
recomputation but not the re-run, even when only one cell is fabricated; a memorizer's entry
reproduces exactly but fails the canary."""

import json
import random
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from w2s_bench.diagnostics import diagnose
from w2s_bench.leaderboard import entry as E
from w2s_bench.leaderboard.reproduce import compare, forge_passes, mismatches, pick_cells, reproduce_entries
from w2s_bench.results import Result
from w2s_bench.run import evaluate
from w2s_bench.scoring import recheck, score_cell

LADDER, PAIR = "pocket_frozen", ("mini1", "mini3")


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """A tiny real run (2 seeds, 24 examples per split, mini1 -> mini3 on sst2): frozen rungs, as
    on the default suite, so a re-run trains only heads (the re-run of a fine-tuned cell goes through
    the same `run_cell`; tests/test_pipeline.py runs that path)."""
    root = tmp_path_factory.mktemp("reproduce")
    evaluate(
        method="naive",
        suite="pocket.v2",
        tasks=["sst2"],
        ladder=LADDER,
        pairs=[PAIR],
        seeds=[0, 1],
        limit=24,
        out=root / "naive",
        cache_dir=root / "cache",
        quiet=True,
    )
    return root / "naive"


@pytest.fixture(scope="module", autouse=True)
def rerun_once():
    """Each cell re-run from an empty cache once for the module: a re-run is a pure function of
    the entry's method, config and protocol, the cell and the canary's edit seed (that it is, is
    what the honest entry's test checks, from the first re-runs), so the fabricated entries'
    tests, whose cells are the honest entry's, compare against the very same fresh predictions."""
    from w2s_bench import registry
    from w2s_bench.leaderboard import reproduce

    real, done = reproduce.rerun_cell, {}

    def once(result, cell, cache_root, edit_seed=None):
        key = (
            registry.METHODS.get(result.method),
            result.method,
            json.dumps(result.method_config, sort_keys=True),
            result.ladder,
            result.limit,
            result.ceiling,
            result.protocol.model_dump_json(),
            tuple(cell),
            edit_seed,
        )
        if key not in done:
            done[key] = real(result, cell, cache_root, edit_seed)
        return done[key]

    reproduce.rerun_cell = once
    yield done
    reproduce.rerun_cell = real


def _reproduce(folder, canary=False, seed=0):
    notes = []
    result = E.read_result(folder / "result.json")
    return reproduce_entries([(folder, result, [])], None, notes, canary=canary, rng=random.Random(seed)), notes


def test_an_honest_entry_reproduces_every_cell_and_passes_the_canary(honest):
    problems, notes = _reproduce(honest, canary=True)
    assert problems == []
    assert [n for n in notes if "reproduced in" in n and "student agreement 100.0%, max diff 0" in n].__len__() == 2
    assert any("2 of 2 re-run cells reproduce (every cell" in n for n in notes)
    assert any("canary on cell sst2 mini1->mini3 seed" in n for n in notes)


def fabricate(src, dst):
    """The fabrication attack: the student's test predictions replaced by the ceiling's, and every
    stored number recomputed from them with the project's own scorer."""
    shutil.copytree(src, dst)
    df = pd.read_parquet(dst / "predictions.parquet")
    df["student"] = df["ceiling"]
    df.to_parquet(dst / "predictions.parquet", index=False)
    data = json.loads((dst / "result.json").read_text())
    result = Result.model_validate(data)
    for cell in data["cells"]:
        rows = df[(df.task == cell["task"]) & (df.seed == cell["seed"])].sort_values("index")
        gold = np.array(_gold(cell["task"], result.limit))
        w, c, s = (rows[k].to_numpy() for k in ("weak", "ceiling", "student"))
        cell.update(score_cell(gold, w, c, s, result.protocol.noise_floor_z))
        fresh = diagnose(None, gold, w, c, s, {}, cell["seed"])
        for k in ("student_weak_agreement", "ceiling_weak_agreement"):  # (the probes: untouched)
            cell["diagnostics"][k] = dict(fresh[k])
    (dst / "result.json").write_text(json.dumps(data))
    return dst


def _gold(task, limit):
    from w2s_bench.tasks import limit_splits, load_splits, load_task

    return [r["label"] for r in limit_splits(load_splits(load_task(task)), limit)["test"]]


def test_a_fabricated_entry_recomputes_but_does_not_reproduce(honest, tmp_path):
    fake = fabricate(honest, tmp_path / "fake")
    result = E.read_result(fake / "result.json")
    assert recheck(result, E.read_predictions(fake / "predictions.parquet")) == []  # verify's recompute passes
    problems, _ = _reproduce(fake)
    assert len(problems) == 2  # every cell re-run: both fabricated cells found
    msg = problems[0]
    assert msg.startswith(f"{fake}: cell sst2 mini1->mini3 seed ") and "does not reproduce" in msg
    assert "student predictions agree on" in msg and "largest probability difference" in msg
    assert "weak predictions" not in msg and "ceiling predictions" not in msg


def test_one_fabricated_cell_is_found_with_certainty(honest, tmp_path):
    """Every cell is re-run, so forging any one (the attack on a sample computable from the
    entry: keep the sampled cell honest, fabricate the rest) fails."""
    fake = fabricate(honest, tmp_path / "fake")
    df = pd.read_parquet(fake / "predictions.parquet")
    honest_df = pd.read_parquet(honest / "predictions.parquet")
    df.loc[df.seed == 0, "student"] = honest_df.loc[honest_df.seed == 0, "student"].to_numpy()  # seed 0 honest
    df.to_parquet(fake / "predictions.parquet", index=False)
    for seed in (0, 1):  # whichever cell a sample would have drawn
        problems, _ = _reproduce(fake, seed=seed)
        assert len(problems) == 1 and "cell sst2 mini1->mini3 seed 1 does not reproduce" in problems[0]


def test_a_sample_is_drawn_at_verify_time_and_never_below_three_or_a_fifth():
    cells = [SimpleNamespace(task="t", weak_rung="a", strong_rung="b", seed=s) for s in range(40)]
    result = SimpleNamespace(cells=cells)
    assert len(pick_cells(result, None)) == 40  # the default: every cell
    assert len(pick_cells(result, 1)) == 8  # 20 % of 40
    assert len(pick_cells(SimpleNamespace(cells=cells[:5]), 1)) == 3
    draws = {tuple(pick_cells(result, 1)) for _ in range(5)}  # the OS's randomness: not the entry's
    assert len(draws) > 1
    assert forge_passes(5, 1, 3) == 0.4 and forge_passes(5, 3, 3) == 0.0 and forge_passes(40, 1, 8) == 0.8


def test_reproduce_refuses_to_run_without_bubblewrap(honest, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_ISOLATION", "audit-hook")
    problems, _ = _reproduce(honest)
    assert problems == [
        "--reproduce needs bubblewrap, the sandbox a method's re-run must have (here: "
        "audit-hook); install it (Debian: apt-get install bubblewrap) and run with "
        "W2S_BENCH_ISOLATION=bubblewrap"
    ]


def test_a_memorizer_reproduces_but_fails_the_canary(honest, tmp_path, monkeypatch):
    """tests/memorizer.py ships the test labels (from the public corpus) in its config: student
    accuracy 1.000, predictions that reproduce exactly; edited test texts give it away."""
    from memorizer import table_for

    from w2s_bench import registry

    (tmp_path / "mod").mkdir()  # (a folder holding no hidden path: the cache is elsewhere)
    (tmp_path / "mod" / "memo_sst2.py").write_text(  # the table as a constant of the submitted method
        "from memorizer import Memorizer\n\n\nclass Memo(Memorizer):\n    class Config(Memorizer.Config):\n"
        f"        table: str = {table_for('sst2', 24)!r}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "mod"))
    monkeypatch.setitem(registry.METHODS, "memorizer", "memo_sst2:Memo")
    evaluate(
        method="memorizer",
        suite="pocket.v2",
        tasks=["sst2"],
        ladder=LADDER,
        pairs=[PAIR],
        seeds=[0, 1],
        limit=24,
        out=tmp_path / "mem",
        cache_dir=honest.parent / "cache",  # the honest run's: its weak models and ceilings
        quiet=True,
    )
    result = E.read_result(tmp_path / "mem" / "result.json")
    assert all(c.student.accuracy == 1.0 for c in result.cells)
    problems, notes = _reproduce(tmp_path / "mem", canary=True)
    assert any("2 of 2 re-run cells reproduce" in n for n in notes)
    assert len(problems) == 1 and "canary on cell sst2 mini1->mini3 seed" in problems[0]
    assert "the student's accuracy falls from 1.000 to" in problems[0]
    assert "a table built from the public corpus) is not a weak-to-strong method" in problems[0]


def test_tolerance():
    same = {"weak": np.array([0.2, 0.7]), "ceiling": np.array([0.1, 0.9]), "student": np.array([0.4, 0.6])}
    assert mismatches(compare(same, same)) == []
    flipped = {**same, "student": np.array([0.4, 0.4])}
    assert mismatches(compare(same, flipped)) == [
        "student predictions agree on 50.0% of test examples (at least 99% needed), largest "
        "probability difference 0.2 (at most 0.001 allowed)"
    ]


def test_verify_reproduce_on_a_clone_of_main_says_there_is_nothing_new(repository_verify):
    rc, out = repository_verify  # `w2s-bench leaderboard verify --reproduce`, once a session (conftest.py)
    assert rc == 0 and "--reproduce: no new entry to re-run" in out


def test_gpu_suites_are_marked_not_reproduced(honest):
    from w2s_bench.leaderboard.board import ci_rerun

    result = E.read_result(honest / "result.json")
    assert ci_rerun(result) == "sampled cells"
    hub = result.model_copy(update={"ladder": "qwen2.5"})
    assert E.not_rerunnable(hub).startswith("0.5B, 1.5B, 3B, 7B come(s) from the Hugging Face hub")
    assert ci_rerun(hub) == "not reproduced by CI"
    notes = []
    assert reproduce_entries([(honest, hub, [])], None, notes) == []
    assert "not reproduced by CI" in notes[0]


def test_the_board_flags_a_student_that_beats_its_ceiling():
    from w2s_bench.leaderboard.board import beats_ceiling

    assert beats_ceiling(2.35, 0.1) and not beats_ceiling(1.05, 0.1) and not beats_ceiling(0.8, 0.05)
    assert not beats_ceiling(None, None) and beats_ceiling(1.2, float("nan"))


def test_check_method_fails_on_an_entry_beyond_its_ceiling(tmp_path, monkeypatch):
    import pandas as pd

    from w2s_bench.check import beats_ceiling_check
    from w2s_bench.leaderboard import board

    (tmp_path / "entries").mkdir()
    fake = SimpleNamespace(method="memorizer")
    monkeypatch.setattr(board, "load_entries", lambda root: [("entries/s/l/memorizer", fake)])
    monkeypatch.setattr(
        board,
        "board_frame",
        lambda entries: pd.DataFrame({"entry": ["entries/s/l/memorizer"], "flag": [board.BEATS_CEILING]}),
    )
    check = beats_ceiling_check("memorizer", tmp_path)
    assert not check.ok and check.detail.startswith("entries/s/l/memorizer: PGR above 1 beyond its CI")
    assert beats_ceiling_check("naive", tmp_path).detail == "no board entry yet"
