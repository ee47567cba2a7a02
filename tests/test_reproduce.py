"""`verify --reproduce`: CI re-runs sampled cells of a new entry and compares its predictions.
A fabricated entry (the student's test predictions replaced by the ceiling's, every stored number
recomputed with the project's scorer) passes verify's recomputation but not the re-run."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from w2s_bench.cli import main
from w2s_bench.diagnostics import diagnose
from w2s_bench.leaderboard import entry as E
from w2s_bench.leaderboard.reproduce import compare, mismatches, reproduce_entries, sample_cells
from w2s_bench.results import Result
from w2s_bench.run import evaluate
from w2s_bench.scoring import recheck, score_cell


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """A tiny real run (2 seeds, 24 examples per split, L1 -> L2 on sst2)."""
    root = tmp_path_factory.mktemp("reproduce")
    evaluate(method="naive", suite="pocket.v2", tasks=["sst2"], pairs=[("L1", "L2")], seeds=[0, 1], limit=24,
             out=root / "naive", cache_dir=root / "cache", quiet=True)
    return root / "naive"


def _reproduce(folder):
    notes = []
    result = E.read_result(folder / "result.json")
    return reproduce_entries([(folder, result, [])], 1, notes), notes


def test_an_honest_entry_reproduces(honest):
    problems, notes = _reproduce(honest)
    assert problems == []
    assert "reproduced in" in notes[0] and "student agreement 100.0%, max diff 0" in notes[0]


def fabricate(src, dst):
    """The attack of issue 17: the student's test predictions replaced by the ceiling's, and every
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
    assert len(problems) == 1
    msg = problems[0]
    assert msg.startswith(f"{fake}: cell sst2 L1->L2 seed ") and "does not reproduce" in msg
    assert "student predictions agree on" in msg and "largest probability difference" in msg
    assert "weak predictions" not in msg and "ceiling predictions" not in msg


def test_the_sample_is_fixed_by_the_entry_content(honest, tmp_path):
    result = E.read_result(honest / "result.json")
    first = sample_cells(honest, result, 1)
    assert first == sample_cells(honest, result, 1) and len(sample_cells(honest, result, 5)) == 2
    other = tmp_path / "other"
    shutil.copytree(honest, other)
    picks = set()
    for i in range(8):  # a changed entry draws again
        (other / "result.json").write_text((honest / "result.json").read_text() + " " * i)
        picks.add(sample_cells(other, result, 1)[0])
    assert len(picks) == 2


def test_tolerance():
    same = {"weak": np.array([0.2, 0.7]), "ceiling": np.array([0.1, 0.9]), "student": np.array([0.4, 0.6])}
    assert mismatches(compare(same, same)) == []
    flipped = {**same, "student": np.array([0.4, 0.4])}
    assert mismatches(compare(same, flipped)) == [
        "student predictions agree on 50.0% of test examples (at least 99% needed), largest "
        "probability difference 0.2 (at most 0.001 allowed)"]


def test_verify_reproduce_on_a_clone_of_main_says_there_is_nothing_new(capsys):
    assert main(["leaderboard", "verify", "--reproduce"]) == 0
    assert "--reproduce: no new entry to re-run" in capsys.readouterr().out


def test_gpu_suites_are_marked_not_reproduced(honest):
    from w2s_bench.leaderboard.board import ci_rerun
    result = E.read_result(honest / "result.json")
    assert ci_rerun(result) == "sampled cells"
    hub = result.model_copy(update={"ladder": "qwen2.5"})
    assert E.not_rerunnable(hub).startswith("0.5B, 1.5B, 3B, 7B come(s) from the Hugging Face hub")
    assert ci_rerun(hub) == "not reproduced by CI"
    notes = []
    assert reproduce_entries([(honest, hub, [])], 1, notes) == []
    assert "not reproduced by CI" in notes[0]
