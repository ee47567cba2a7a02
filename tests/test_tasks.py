"""Frozen task specs on the real assets: strict schema, deterministic grouped balanced splits,
hash checks with a clear error."""

from collections import Counter

import pytest

from w2s_bench.registry import load_suite
from w2s_bench.specs import SPLITS, SpecError, TaskSpec, load_toml
from w2s_bench.tasks import SPEC_DIR, SplitHashError, load_splits, load_task, task_names
from w2s_bench.tasks.builders import split_hash

POCKET = load_suite("pocket").tasks


@pytest.fixture(scope="module")
def pocket_splits():
    return {name: load_splits(load_task(name)) for name in POCKET}


def test_pocket_has_at_least_four_binary_tasks():
    assert len(POCKET) >= 4
    assert all(load_task(t).kind == "binary" for t in POCKET)


def test_every_shipped_spec_loads_strictly():
    from w2s_bench.specs import HubSource

    for name in task_names():
        spec = load_task(name)
        if isinstance(spec.source, HubSource):
            continue  # paper tier: hashes are frozen on a host with the hub (load refuses until then)
        assert set(spec.split_sha256) == set(SPLITS), f"{name} is not frozen"


@pytest.mark.parametrize("task", POCKET)
def test_splits_sized_balanced_grouped(task, pocket_splits):
    spec, splits = load_task(task), pocket_splits[task]
    seen = {}
    for name in SPLITS:
        rows = splits[name]
        assert len(rows) == spec.splits.sizes[name]
        assert Counter(r["label"] for r in rows) == {0: len(rows) // 2, 1: len(rows) // 2}
        for g in {r["group"] for r in rows}:
            assert seen.setdefault(g, name) == name, f"group {g!r} is in {seen[g]} and {name}"


def test_splits_deterministic(pocket_splits):
    task = POCKET[0]
    again = load_splits(load_task(task))
    assert {k: split_hash(v) for k, v in again.items()} == {k: split_hash(v) for k, v in pocket_splits[task].items()}


def test_hash_mismatch_is_a_clear_error():
    spec = load_task(POCKET[0])
    tampered = spec.model_copy(update={"split_sha256": {**spec.split_sha256, "test": "0" * 64}})
    with pytest.raises(SplitHashError, match=r"split 'test' has sha256 .*\.v2"):
        load_splits(tampered)


def test_unknown_key_rejected(tmp_path):
    text = 'surprise = "not in the schema"\n' + (SPEC_DIR / f"{POCKET[0]}.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(SpecError, match=r"bad\.toml: invalid TaskSpec: surprise: Extra inputs"):
        load_toml(bad, TaskSpec)


def test_malformed_toml_names_the_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match="broken.toml: not valid TOML"):
        load_toml(bad, TaskSpec)


def test_unknown_task_lists_known_ones():
    with pytest.raises(SpecError, match="unknown task 'nope'; known tasks: .*rotten_tomatoes"):
        load_task("nope")


def test_hub_source_loads_a_local_folder_in_the_hub_layout(tmp_path):
    """The hub path (datasets.load_dataset(id, config, revision, split)) on a local parquet
    folder laid out like a hub dataset repository."""
    import pandas as pd

    (tmp_path / "data").mkdir()
    n = 40
    pd.DataFrame(
        {
            "sentence": [f"review number {i}" for i in range(n)],
            "label": [i % 2 for i in range(n)],
            "idx": list(range(n)),
        }
    ).to_parquet(tmp_path / "data" / "validation-00000-of-00001.parquet")
    spec = TaskSpec.model_validate(
        {
            "name": "hub_sst2",
            "version": 1,
            "kind": "binary",
            "description": "test",
            "source": {"type": "hub", "id": str(tmp_path), "revision": "main", "split": "validation"},
            "format": {
                "builder": "label_column",
                "template": "{sentence}",
                "label_column": "label",
                "label_map": {"1": 1, "0": 0},
                "group_key": "idx",
            },
            "splits": {"seed": 0, "sizes": {"weak_train": 10, "student_train": 10, "val": 10, "test": 10}},
        }
    )
    splits = load_splits(spec, verify=False)
    assert sorted(r["text"] for s in splits.values() for r in s) == sorted(f"review number {i}" for i in range(n))


def test_pairwise_rm_proxy_is_balanced_grouped_and_frozen():
    spec = load_task("piqa_pref")
    splits = load_splits(spec)  # checks the frozen hashes
    for rows in splits.values():
        assert all(isinstance(r["text"], list) and len(r["text"]) == 2 for r in rows)
        assert sum(r["label"] for r in rows) * 2 == len(rows)  # correct one first half the time
    groups = [{r["group"] for r in rows} for rows in splits.values()]
    assert all(not (a & b) for i, a in enumerate(groups) for b in groups[i + 1 :])
    r = splits["test"][0]
    a, b = r["text"]
    assert a.split(" Solution: ")[0] == b.split(" Solution: ")[0]  # same goal, two solutions


def test_hh_rlhf_pairwise_on_a_local_parquet_in_the_hub_schema(tmp_path):
    """Paper tier: Anthropic/hh-rlhf posed pairwise (shared prompt split off), loaded through the
    hub path from a local folder in the same layout and schema (chosen, rejected)."""
    import pandas as pd

    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import _texts

    (tmp_path / "data").mkdir()
    rows = []
    for i in range(40):
        prompt = f"\n\nHuman: question {i}?\n\nAssistant: first answer.\n\nHuman: and then?\n\nAssistant:"
        rows.append({"chosen": prompt + f" a helpful reply {i}", "rejected": prompt + f" a rude reply {i}"})
    pd.DataFrame(rows).to_parquet(tmp_path / "data" / "test-00000-of-00001.parquet")
    shipped = load_task("hh_rlhf")
    assert shipped.source.id == "Anthropic/hh-rlhf" and len(shipped.source.revision) == 40
    spec = shipped.model_copy(
        update={
            "source": shipped.source.model_copy(update={"id": str(tmp_path), "revision": "main"}),
            "splits": shipped.splits.model_copy(
                update={"sizes": {"weak_train": 10, "student_train": 10, "val": 10, "test": 10}}
            ),
        }
    )
    splits = load_splits(spec, verify=False)
    ex = [r for rows in splits.values() for r in rows]
    assert len(ex) == 40 and sum(r["label"] for r in ex) == 20
    for r in ex:
        chosen = r["text"][0] if r["label"] == 1 else r["text"][1]
        rejected = r["text"][1] if r["label"] == 1 else r["text"][0]
        assert chosen.endswith("a helpful reply " + r["group"].split("question ")[1].split("?")[0])
        assert "rude" in rejected and chosen.startswith("\n\nHuman: question")
        assert chosen.rsplit("Assistant:", 1)[0] == rejected.rsplit("Assistant:", 1)[0]  # one prompt
    assert all(isinstance(x, tuple) for x in _texts(splits["test"]))  # pairs for the trainer
    assert load_ladder("pocket")  # the pairs go to the same rungs as binary inputs


def test_kind_and_builder_must_agree():
    from w2s_bench.specs import TaskSpec

    raw = load_task("piqa_pref").model_dump()
    raw["kind"] = "binary"
    with pytest.raises(Exception, match="kind 'binary' needs format.builder"):
        TaskSpec.model_validate(raw)
