"""The paper suite's hub specs and the split-hash lock file, offline: every spec parses strictly and
pins its source; the whole loading path runs on local folders laid out like the hub repositories
(parquet per config/split, README `configs:` where the repo has one, the `refs/convert/parquet`
layout with `data_dir`), in the datasets' real column schemas; `validate --record` writes the lock,
`load_splits` and `leaderboard verify` enforce it."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from w2s_bench import tasks as T
from w2s_bench.cli import main
from w2s_bench.leaderboard.entry import split_hash_problems
from w2s_bench.registry import load_suite
from w2s_bench.specs import SPLITS, HubSource, is_commit
from w2s_bench.tasks import SplitHashError, load_splits, load_task, read_lock, record
from w2s_bench.tasks.builders import build_examples, read_rows, split_hash

PAPER = load_suite("paper").tasks
SHA = "0123456789abcdef0123456789abcdef01234567"  # what the fake resolver says a branch points at


def test_paper_suite_lists_the_papers_datasets():
    assert len(PAPER) == 24 and len(set(PAPER)) == 24
    assert {"paper_openbookqa", "paper_amazon_polarity", "paper_cosmos_qa", "paper_anli_r2"} <= set(PAPER)
    assert load_suite("paper").ladder == "qwen2.5"


@pytest.mark.parametrize("name", PAPER)
def test_paper_spec_parses_and_pins_its_source(name):
    spec = load_task(name)  # strict schema
    src = spec.source
    assert isinstance(src, HubSource) and src.split
    assert not spec.split_sha256, "paper tasks freeze their split hashes in tasks/splits.lock.json"
    if not is_commit(src.revision):  # unpinned: the lock records the commit; the spec says so
        assert "UNPINNED" in T.task_path(name).read_text(), f"{name}: mark an unpinned revision"
    assert set(spec.splits.sizes) == set(SPLITS)


def test_unrecorded_hub_task_refuses_to_load_before_downloading():
    with pytest.raises(SplitHashError, match=r"validate --record"):
        load_splits(load_task("paper_boolq"))  # offline: the check comes before any download


# ---- local folders in the hub layout --------------------------------------------------------

README = "---\nconfigs:\n- config_name: {config}\n  data_files:\n{files}---\n"


def _readme(root: Path, config: str, splits: list[str]):
    files = "".join(f"  - split: {s}\n    path: {config}/{s}-*\n" for s in splits)
    (root / "README.md").write_text(README.format(config=config, files=files))


def _write(path: Path, rows: list[dict]):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """google/boolq, allenai/openbookqa, facebook/anli, fancyzhx/amazon_polarity and the
    hendrycks/ethics parquet export, small, in their layouts and column schemas."""
    root = tmp_path_factory.mktemp("hub")
    boolq = [
        {"question": f"is claim {i} true", "answer": bool(i % 3), "passage": f"passage {i // 2} text"}
        for i in range(120)
    ]
    _write(root / "boolq/data/train-00000-of-00001.parquet", boolq)  # data/<split>-*: no README
    _write(root / "boolq/data/validation-00000-of-00001.parquet", boolq[:10])

    obqa = [
        {
            "id": f"q{i}",
            "question_stem": f"Which thing number {i} is right?",
            "choices": {"text": [f"answer {i}-{k}" for k in range(4)], "label": list("ABCD")},
            "answerKey": "ABCD"[i % 4],
        }
        for i in range(80)
    ]
    _write(root / "openbookqa/main/train-00000-of-00001.parquet", obqa)
    _write(root / "openbookqa/main/test-00000-of-00001.parquet", obqa[:5])
    _readme(root / "openbookqa", "main", ["train", "test"])

    anli = [
        {"uid": f"u{i}", "premise": f"premise {i // 3}", "hypothesis": f"hypothesis {i}", "label": i % 3, "reason": ""}
        for i in range(180)
    ]
    for split in ("train_r1", "train_r2", "dev_r2"):
        _write(root / f"anli/plain_text/{split}-00000-of-00001.parquet", anli if split == "train_r2" else anli[:6])
    _readme(root / "anli", "plain_text", ["train_r1", "train_r2", "dev_r2"])

    amazon = [{"label": i % 2, "title": f"title {i}", "content": f"review text {i}"} for i in range(120)]
    _write(root / "amazon_polarity/amazon_polarity/test-00000-of-00001.parquet", amazon)
    _write(root / "amazon_polarity/amazon_polarity/train-00000-of-00001.parquet", amazon[:4])
    _readme(root / "amazon_polarity", "amazon_polarity", ["train", "test"])

    for config in ("deontology", "justice"):  # refs/convert/parquet: <config>/<split>/0000.parquet
        for split in ("train", "test"):
            rows = [
                {"label": i % 2, "scenario": f"{config} scenario {i // 2}", "excuse": f"excuse {i}"}
                for i in range(100 if split == "train" else 4)
            ]
            _write(root / f"ethics/{config}/{split}/0000.parquet", rows)
    return root


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets")


SMALL = {"weak_train": 20, "student_train": 20, "val": 10, "test": 20}


def local(name: str, folder: Path, **source) -> object:
    """The shipped spec, read from a local folder in the hub layout, with small splits."""
    spec = load_task(name)
    src = spec.source.model_copy(update={"id": str(folder), **source})
    return spec.model_copy(update={"source": src, "splits": spec.splits.model_copy(update={"sizes": SMALL})})


def _balanced_and_grouped(splits):
    seen = {}
    for name in SPLITS:
        rows = splits[name]
        assert len(rows) == SMALL[name]
        assert Counter(r["label"] for r in rows) == {0: len(rows) // 2, 1: len(rows) // 2}
        for g in {r["group"] for r in rows}:
            assert seen.setdefault(g, name) == name


def test_boolq_labels_and_texts(hub):
    spec = local("paper_boolq", hub / "boolq")
    rows = read_rows(spec)
    assert len(rows) == 120  # the train split only
    examples = build_examples(spec, rows)
    for row, ex in zip(rows, examples):
        assert ex["label"] == int(row["answer"]) and row["passage"] in ex["text"]
        assert ex["group"] == row["passage"]
    _balanced_and_grouped(load_splits(spec, verify=False))


def test_openbookqa_negatives_are_answer_text(hub):
    spec = local("paper_openbookqa", hub / "openbookqa")
    rows = {r["id"]: r for r in read_rows(spec)}
    examples = build_examples(spec, list(rows.values()))
    assert Counter(e["label"] for e in examples) == {1: 80, 0: 80}
    for ex in examples:
        row = rows[ex["group"]]
        answer = ex["text"].split(" A: ", 1)[1]
        texts = list(row["choices"]["text"])
        correct = texts["ABCD".index(row["answerKey"])]
        assert answer in texts and answer not in "ABCD"  # text, never a letter
        assert (answer == correct) == (ex["label"] == 1)
    _balanced_and_grouped(load_splits(spec, verify=False))


def test_anli_round2_entailment_is_positive(hub):
    spec = local("paper_anli_r2", hub / "anli")
    rows = read_rows(spec)
    assert len(rows) == 180  # train_r2 of the plain_text config, not the other rounds
    for row, ex in zip(rows, build_examples(spec, rows)):
        assert ex["label"] == int(row["label"] == 0)
        assert row["premise"] in ex["text"] and row["hypothesis"] in ex["text"]
    _balanced_and_grouped(load_splits(spec, verify=False))


def test_amazon_polarity_test_split(hub):
    spec = local("paper_amazon_polarity", hub / "amazon_polarity")
    rows = read_rows(spec)
    assert len(rows) == 120
    for row, ex in zip(rows, build_examples(spec, rows)):
        assert ex["label"] == row["label"] and ex["text"].startswith(f"Title: {row['title']}")


def test_parquet_export_layout_reads_one_config(hub):
    spec = local("paper_ethics_deontology", hub / "ethics")
    rows = read_rows(spec)
    assert len(rows) == 100 and all(r["scenario"].startswith("deontology") for r in rows)
    assert all(ex["label"] == r["label"] for r, ex in zip(rows, build_examples(spec, rows)))


# ---- the lock file --------------------------------------------------------------------------


def _fake_resolve(source):
    return source.revision if is_commit(source.revision) else SHA


def test_record_then_enforce(hub, tmp_path):
    (tmp_path / "lock").mkdir()
    lock_path = tmp_path / "lock" / "splits.lock.json"
    spec = local("paper_boolq", hub / "boolq")
    with pytest.raises(SplitHashError, match="validate --record"):
        load_splits(spec, lock_path=lock_path)
    assert record(spec, lock_path, resolve=_fake_resolve).startswith("recorded")
    lock = read_lock(lock_path)
    entry = lock["paper_boolq"]
    assert entry["source_revision"] == spec.source.revision  # pinned by sha: the spec's own
    assert set(entry["split_sha256"]) == set(SPLITS)
    assert lock_path.read_text() == json.dumps(lock, indent=1, sort_keys=True) + "\n"
    assert [p.name for p in lock_path.parent.iterdir()] == ["splits.lock.json"]  # no temporary file left
    again = load_splits(spec, lock_path=lock_path)  # a second load passes the lock
    assert {k: split_hash(v) for k, v in again.items()} == entry["split_sha256"]
    assert record(spec, lock_path, resolve=_fake_resolve).startswith("matches")

    tampered = {**lock, "paper_boolq": {**entry, "split_sha256": {**entry["split_sha256"], "val": "0" * 64}}}
    lock_path.write_text(json.dumps(tampered))
    with pytest.raises(SplitHashError, match=r"split 'val' has sha256 .*splits\.lock\.json freezes 000000000000.*\.v2"):
        load_splits(spec, lock_path=lock_path)
    with pytest.raises(SplitHashError, match="split 'val'"):  # record checks, never overwrites
        record(spec, lock_path, resolve=_fake_resolve)
    assert json.loads(lock_path.read_text()) == tampered

    changed = spec.model_copy(update={"format": spec.format.model_copy(update={"template": "{question}"})})
    with pytest.raises(SplitHashError, match="the spec now hashes to"):
        load_splits(changed, lock_path=lock_path)


def test_changed_source_data_fails_the_lock(tmp_path):
    folder = tmp_path / "boolq"
    rows = [{"question": f"q {i}", "answer": bool(i % 2), "passage": f"p {i}"} for i in range(100)]
    _write(folder / "data/train-00000-of-00001.parquet", rows)
    lock_path = tmp_path / "lock.json"
    spec = local("paper_boolq", folder)
    record(spec, lock_path, resolve=_fake_resolve)
    rows[7]["question"] = "q 7 edited upstream"
    rows = rows[:99]  # and one row removed
    _write(folder / "data/train-00000-of-00001.parquet", rows)
    with pytest.raises(SplitHashError, match=r"has sha256 .*The source data or the split code changed"):
        load_splits(spec, lock_path=lock_path)


def test_unpinned_revision_is_read_at_the_recorded_commit(hub, tmp_path):
    lock_path = tmp_path / "lock.json"
    spec = local("paper_ethics_justice", hub / "ethics", revision="refs/convert/parquet")
    assert record(spec, lock_path, resolve=_fake_resolve) == f"recorded in lock.json (source commit {SHA[:12]}…)"
    assert read_lock(lock_path)["paper_ethics_justice"]["source_revision"] == SHA
    assert T.pinned(spec, read_lock(lock_path)).source.revision == SHA
    splits = load_splits(spec, lock_path=lock_path)
    assert all(r["text"].startswith("Statement: justice") for rows in splits.values() for r in rows)


def test_leaderboard_refuses_split_hashes_the_lock_disagrees_with(hub, tmp_path):
    lock_path = tmp_path / "lock.json"
    spec = local("paper_boolq", hub / "boolq")
    assert split_hash_problems("paper_boolq", spec, {"test": "a" * 64}, lock={}) == [
        (
            "task paper_boolq: no frozen split hashes to check the entry's against (neither in the spec "
            "nor in tasks/splits.lock.json); run `HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 w2s-bench "
            "validate --record` on a host with the hub, commit tasks/splits.lock.json, then re-run the "
            "entry on the frozen splits"
        )
    ]
    record(spec, lock_path, resolve=_fake_resolve)
    lock = read_lock(lock_path)
    seen = dict(lock["paper_boolq"]["split_sha256"])
    assert split_hash_problems("paper_boolq", spec, seen, lock=lock) == []
    problems = split_hash_problems("paper_boolq", spec, {**seen, "test": "f" * 64}, lock=lock)
    assert len(problems) == 1
    assert problems[0].startswith(
        "task paper_boolq: split 'test' sha256 ffffffffffff… differs from the lock's (tasks/splits.lock.json)"
    )
    assert problems[0].endswith("re-run on the frozen splits")


def test_validate_record_cli(hub, tmp_path, monkeypatch, capsys):
    specs = {"paper_boolq": local("paper_boolq", hub / "boolq"), "paper_anli_r2": local("paper_anli_r2", hub / "anli")}
    lock_path = tmp_path / "splits.lock.json"
    monkeypatch.setattr(T, "LOCK_FILE", lock_path)
    monkeypatch.setattr(T, "task_names", lambda: sorted(specs))
    shipped = T.load_task
    monkeypatch.setattr(T, "load_task", lambda name: specs[name] if name in specs else shipped(name))
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "2 hub task(s) frozen neither in the spec nor in tasks/splits.lock.json" in out
    assert main(["validate", "--record"]) == 0
    out = capsys.readouterr().out
    assert out.count("recorded in splits.lock.json") == 2
    assert sorted(read_lock(lock_path)) == ["paper_anli_r2", "paper_boolq"]
    assert main(["validate"]) == 0
    assert "ok    task paper_boolq  weak_train 20, student_train 20, val 10, test 20" in capsys.readouterr().out
    lock = read_lock(lock_path)
    lock["paper_anli_r2"]["split_sha256"]["test"] = "0" * 64
    lock_path.write_text(json.dumps(lock))
    assert main(["validate"]) == 1
    assert "FAIL  task paper_anli_r2: task paper_anli_r2: split 'test' has sha256" in capsys.readouterr().out


def test_extractors_on_their_schemas():
    """The paper-only candidate extractors on rows in each dataset's column schema."""
    dream = {
        "id": 0,
        "dialogue_id": "d1",
        "dialogue": ["M: Hi.", "W: Hello."],
        "question": "Who speaks first?",
        "choice": ["The man.", "The woman.", "Nobody."],
        "answer": "The man.",
    }
    quail = {
        "id": "q",
        "context_id": "c1",
        "context": "A text.",
        "question": "What?",
        "answers": ["one", "two", "three", "four"],
        "correct_answer_id": 2,
    }
    cosmos = {
        "id": "x",
        "context": "Ctx.",
        "question": "Why?",
        "answer0": "a0",
        "answer1": "a1",
        "answer2": "a2",
        "answer3": "a3",
        "label": 3,
    }
    for name, row, right in (
        ("paper_dream", dream, "The man."),
        ("paper_quail", quail, "three"),
        ("paper_cosmos_qa", cosmos, "a3"),
    ):
        pos, neg = build_examples(load_task(name), [row])
        assert (pos["label"], neg["label"]) == (1, 0)
        assert pos["text"].endswith(f"A: {right}") and not neg["text"].endswith(f"A: {right}")
    assert build_examples(load_task("paper_dream"), [dream])[0]["text"].startswith("M: Hi.\nW: Hello.\nQ:")

    util = load_task("paper_ethics_utilitarianism")
    rows = [{"baseline": f"I ate cake {i}.", "less_pleasant": f"I ate stale cake {i}."} for i in range(40)]
    pairs = build_examples(util, rows)
    assert 10 < sum(p["label"] for p in pairs) < 30  # the pleasant one first about half the time
    for p, row in zip(pairs, rows):
        first = p["text"][0] if p["label"] == 1 else p["text"][1]
        assert first == f"Scenario: {row['baseline']}" and p["group"] == row["baseline"]
