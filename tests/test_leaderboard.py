"""The leaderboard: build, verify (each tamper case rejected with its own message), add, plot, the
committed schema. Entries are synthetic but valid by construction: real frozen test labels of the
pocket tasks, made-up prediction probabilities, scored by the same code as `evaluate`."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from w2s_bench.cli import main
from w2s_bench.leaderboard import entry as E
from w2s_bench.leaderboard.build import build, render
from w2s_bench.leaderboard.verify import verify
from w2s_bench.registry import load_suite

REPO = Path(__file__).resolve().parents[1]


SUITE = load_suite("pocket")
POCKET = SUITE.tasks
PAIR, PAIR_LAST = ("->".join(SUITE.pairs[i]) for i in (0, -1))


def _probs(rng, gold, accuracy):
    right = rng.random(len(gold)) < accuracy
    label = np.where(right, gold, 1 - gold)
    return 0.5 + (2 * label - 1) * rng.uniform(0.01, 0.49, len(gold))  # float64 in (0, 1)


def make_results(out: Path, method: str, seeds=(0, 1, 2), student_acc=0.72, limit=None) -> Path:
    """A results directory as `evaluate` writes it, with made-up predictions."""
    from w2s_bench.diagnostics import diagnose
    from w2s_bench.registry import load_ladder, method_ref
    from w2s_bench.results import Cell, Environment, Result, TaskInfo, write_results
    from w2s_bench.scoring import score_cell, summarize
    from w2s_bench.specs import spec_hash
    from w2s_bench.tasks import limit_splits, load_splits, load_task
    from w2s_bench.tasks.builders import split_hash

    suite, ladder = load_suite("pocket"), load_ladder("pocket")
    ref = method_ref(method)
    cells, frames, info = [], [], {}
    for name in POCKET:
        task = load_task(name)
        splits = limit_splits(load_splits(task), limit)
        info[name] = TaskInfo(spec_sha256=spec_hash(task), split_sha256={k: split_hash(v) for k, v in splits.items()})
        gold = np.array([r["label"] for r in splits["test"]], dtype=np.int64)
        for (weak, strong), seed in ((pair, seed) for pair in suite.pairs for seed in seeds):
            rng = np.random.default_rng([seed, len(method), int(student_acc * 100), len(gold)])
            w, c, s = (_probs(rng, gold, a) for a in (0.62, 0.85, student_acc))
            cells.append(
                Cell(
                    task=name,
                    weak_rung=weak,
                    strong_rung=strong,
                    seed=seed,
                    **score_cell(gold, w, c, s, suite.protocol.noise_floor_z),
                    diagnostics=diagnose(None, gold, w, c, s, {}, seed),
                )
            )
            frames.append(
                pd.DataFrame(
                    {
                        "task": name,
                        "weak_rung": weak,
                        "strong_rung": strong,
                        "seed": seed,
                        "index": np.arange(len(gold)),
                        "weak": w,
                        "ceiling": c,
                        "student": s,
                    }
                )
            )
    per_pair, _, srow = summarize([c.model_dump() for c in cells])
    summary = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in srow.iloc[0].to_dict().items()}
    result = Result(
        suite="pocket",
        ladder="pocket",
        ladder_sha256=spec_hash(ladder),
        method=method,
        method_config=ref.config,
        method_config_sha256=ref.config_sha256,
        method_code_sha256=ref.code_sha256,
        protocol=suite.protocol,
        seeds=list(seeds),
        pairs=suite.pairs,
        limit=limit,
        tasks=info,
        cells=cells,
        summary=summary,
        environment=Environment(
            git_commit=None,
            git_dirty=None,
            packages={},
            python="3",
            device="cpu (test)",
            dtype="float32",
            threads=1,
            isolation="bubblewrap",
        ),
        wall_time_s=123.0,
        created_utc="2026-01-01T00:00:00+00:00",
    )
    return write_results(out, result, per_pair, pd.concat(frames, ignore_index=True))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "naive": make_results(root / "naive", "naive", student_acc=0.70),
        "aux_conf": make_results(root / "aux_conf", "aux_conf", student_acc=0.78),
    }


@pytest.fixture(scope="module")
def board(runs, tmp_path_factory):
    """A built board with two entries, added through the CLI."""
    root = tmp_path_factory.mktemp("board") / "leaderboard"
    root.mkdir()
    assert main(["leaderboard", "schema", "--root", str(root)]) == 0
    for run in runs.values():
        assert main(["leaderboard", "add", str(run), "--root", str(root)]) == 0
    assert main(["leaderboard", "build", "--root", str(root)]) == 0
    return root


@pytest.fixture
def copy(board, tmp_path):
    dst = tmp_path / "leaderboard"
    shutil.copytree(board, dst)
    return dst


def _problems(root, **kw):
    problems, _ = verify(root, git=False, **kw)
    return problems


def _one(problems, text):
    hits = [p for p in problems if text in p]
    assert hits, f"{text!r} not in {problems}"
    return hits[0]


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=1) + "\n")


NAIVE = Path("entries/pocket/pocket/naive")


def test_valid_board_verifies_and_renders(board, runs, capsys):
    assert _problems(board) == []
    assert main(["leaderboard", "verify", "--root", str(board)]) == 0
    assert "leaderboard verified" in capsys.readouterr().out
    md = (board / "LEADERBOARD.md").read_text()
    assert "## Suite `pocket`, ladder `pocket`" in md
    rows = [line for line in md.splitlines() if line.startswith("|") and "`naive`" in line or "`aux_conf`" in line]
    assert rows[0].startswith("|      1 | `aux_conf`") and rows[1].startswith("|      2 | `naive`")  # ranked
    for png in ("pocket_pocket_accuracy.png", "pocket_pocket_pgr.png"):
        assert f"(plots/{png})" in md
        assert (board / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    csv = pd.read_csv(board / "leaderboard.csv")
    assert len(csv) == 2 * (len(POCKET) + 1) and set(csv["rank"]) == {1, 2}
    mean = csv[(csv.method == "naive") & (csv.task == "(mean)")].iloc[0]
    stored = json.loads((board / NAIVE / "result.json").read_text())["summary"]
    assert mean.pgr_acc == pytest.approx(stored["pgr_acc"], abs=1e-6)
    import pyarrow.parquet as papq

    added = board / NAIVE / "predictions.parquet"
    assert pd.read_parquet(added).equals(pd.read_parquet(runs["naive"] / "predictions.parquet"))
    assert papq.ParquetFile(added).metadata.row_group(0).column(5).compression == "ZSTD"
    assert (board / NAIVE / "result.json").read_bytes() == (runs["naive"] / "result.json").read_bytes()


def test_hand_edited_number(copy):
    def edit(d):
        d["cells"][0]["student"]["accuracy"] += 0.01

    _edit(copy / NAIVE / "result.json", edit)
    msg = _one(_problems(copy), "stored student.accuracy")
    assert f"cell {POCKET[0]} {PAIR} seed 0" in msg and "recomputed from predictions" in msg
    assert str(copy / NAIVE / "predictions.parquet") in msg


def test_hand_edited_pgr_also_breaks_the_summary_and_the_page(copy):
    def edit(d):
        d["cells"][0]["pgr_accuracy"] = 0.99

    _edit(copy / NAIVE / "result.json", edit)
    problems = _problems(copy)
    _one(problems, "stored pgr_accuracy = 0.99")
    _one(problems, "summary pgr_acc =")
    _one(problems, "LEADERBOARD.md: not what `w2s-bench leaderboard build` produces")


def test_unregistered_method(copy):
    def edit(d):
        d["method"] = "my_method"

    _edit(copy / NAIVE / "result.json", edit)
    (copy / "entries/pocket/pocket/naive").rename(copy / "entries/pocket/pocket/my_method")
    build(copy)  # so that only the method check fails
    problems = _problems(copy)
    assert problems == [_one(problems, "method 'my_method' is not registered in this repository")]


def test_wrong_method_config_hash(copy):
    def edit(d):
        d["method_config_sha256"] = "0" * 64

    _edit(copy / NAIVE / "result.json", edit)
    build(copy)
    problems = _problems(copy)
    assert problems == [_one(problems, "method 'naive' is registered with config sha256")]
    assert "records 000000000000" in problems[0]


def test_code_changed_since_the_entry(copy):
    _edit(copy / NAIVE / "result.json", lambda d: d.update(method_code_sha256="e" * 64))
    build(copy)
    problems = _problems(copy)
    msg = _one(problems, "method 'naive': its code here (")
    assert "naive.py" in msg and "is not the code the entry ran (sha256 eeeeeeeeeeee" in msg
    assert len(problems) == 1


def test_a_new_result_needs_the_code_hash_and_isolation(copy):
    _edit(copy / NAIVE / "result.json", lambda d: d.pop("method_code_sha256"))
    _one(_problems(copy), "schema_version 3 requires method_code_sha256 and environment.isolation")


def test_wrong_split_hash(copy):
    def edit(d):
        d["tasks"][POCKET[1]]["split_sha256"]["test"] = "f" * 64

    _edit(copy / NAIVE / "result.json", edit)
    msg = _one(_problems(copy), f"task {POCKET[1]}: split 'test' sha256 ffffffffffff")
    assert "differs from the frozen spec's" in msg


def test_truncated_predictions_file(copy):
    path = copy / NAIVE / "predictions.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    msg = _one(_problems(copy), "cannot be read as parquet")
    assert msg.startswith(str(path)) and "truncated" in msg


def test_predictions_with_rows_removed(copy):
    path = copy / NAIVE / "predictions.parquet"
    df = pd.read_parquet(path)
    df.drop(index=df.index[-5:]).to_parquet(path, index=False)
    n = int((df.task == POCKET[-1]).sum() / 3 / len(SUITE.pairs))
    msg = _one(_problems(copy), f"prediction rows, the frozen test split has {n}")
    assert f"cell {POCKET[-1]} {PAIR_LAST} seed 2: {n - 5}" in msg


def test_schema_break(copy):
    _edit(copy / NAIVE / "result.json", lambda d: d.pop("seeds"))
    problems = _problems(copy)
    msg = _one(problems, "breaks the result schema (result.schema.json)")
    assert "seeds" in msg
    assert any("not compared" in n for n in verify(copy, git=False)[1])


def test_fewer_than_three_seeds_and_smoke_runs(tmp_path, board):
    root = tmp_path / "leaderboard"
    shutil.copytree(board, root)
    shutil.rmtree(root / NAIVE)
    make_results(root / NAIVE, "naive", seeds=(0, 1))
    (root / NAIVE / "table.csv").unlink()
    build(root)
    problems = _problems(root)
    assert problems == [
        _one(problems, "seeds [0, 1]: a leaderboard entry of suite pocket needs at least 3 distinct seeds")
    ]
    shutil.rmtree(root / NAIVE)
    make_results(root / NAIVE, "naive", limit=50)
    build(root)
    problems = _problems(root)
    assert "table.csv: not part of an entry" in _one(problems, "table.csv")
    _one(problems, "a smoke run (--limit 50) is not a leaderboard run")


def test_size_cap(copy, monkeypatch):
    monkeypatch.setattr(E, "MAX_FILE_BYTES", 10_000)
    msg = _one(_problems(copy), "-byte cap per file")
    assert "predictions.parquet" in msg and "over the 10,000-byte cap" in msg


def test_stale_page_and_schema(copy):
    md = copy / "LEADERBOARD.md"
    md.write_text(md.read_text().replace("`naive`", "`naive` (best)"))
    (copy / E.SCHEMA_FILE).write_text("{}\n")
    problems = _problems(copy)
    _one(problems, "LEADERBOARD.md: not what `w2s-bench leaderboard build` produces; run it")
    _one(problems, "result.schema.json: not the schema generated from w2s_bench.results.Result")
    assert len(problems) == 2


def test_the_site_is_built_and_verified(copy):
    from w2s_bench.leaderboard import site

    folder = copy / site.SITE_DIR
    names = {p.name for p in folder.iterdir()}
    assert {"index.html", "style.css", "sort.js", site.suite_page("pocket", "pocket")} <= names
    assert {site.task_page("pocket", "pocket", t) for t in POCKET} <= names
    suite = (folder / site.suite_page("pocket", "pocket")).read_text()
    assert suite.index("<code>aux_conf</code>") < suite.index("<code>naive</code>")  # ranked
    assert 'href="../entries/pocket/pocket/naive/result.json"' in suite
    page = folder / site.task_page("pocket", "pocket", POCKET[0])
    page.write_text(page.read_text().replace("naive", "naive (best)"))
    (folder / "extra.html").write_text("<p>hi</p>")
    (copy / "plots" / f"pocket_pocket_{POCKET[0]}_task.png").unlink()
    problems = _problems(copy)
    _one(problems, f"{page}: not what `w2s-bench leaderboard build` produces")
    _one(problems, "extra.html: not a page `w2s-bench leaderboard build` writes")
    _one(problems, f"pocket_pocket_{POCKET[0]}_task.png: an image the site shows is missing")
    assert len(problems) == 3
    build(copy)
    assert _problems(copy) == []


def test_a_suite_needs_its_tier_statement(copy, tmp_path, monkeypatch):
    from w2s_bench.leaderboard import site

    tiers = tmp_path / "tiers.toml"
    tiers.write_text('[suites."pocket.v3"]\ntier = "t"\ncan_show = "c"\ncannot_show = "n"\n')
    monkeypatch.setattr(site, "TIERS", tiers)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(E.LeaderboardError, match="no entry for suite 'pocket'; add"):
        build(copy)
    assert before == {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}  # nothing written
    _one(_problems(copy), "no entry for suite 'pocket'")


def test_entry_at_the_wrong_path(copy):
    (copy / "entries/pocket/pocket/naive").rename(copy / "entries/pocket/pocket/naive2")
    _one(_problems(copy), "a result of pocket/pocket/naive must sit at entries/pocket/pocket/naive/")


def test_add_refuses_an_existing_entry_and_a_broken_run(board, runs, tmp_path, capsys):
    assert main(["leaderboard", "add", str(runs["naive"]), "--root", str(board)]) == 2
    assert "exists; entries are immutable" in capsys.readouterr().err
    bad = tmp_path / "bad"
    shutil.copytree(runs["naive"], bad)
    _edit(bad / "result.json", lambda d: d.update(method_config_sha256="1" * 64))
    assert main(["leaderboard", "add", str(bad), "--root", str(tmp_path / "lb")]) == 2
    assert "is not a valid entry" in capsys.readouterr().err and not (tmp_path / "lb/entries").exists()


def test_cli_verify_exit_code_and_message(copy, capsys):
    _edit(copy / NAIVE / "result.json", lambda d: d["cells"][1]["weak"].update(auroc=0.5))
    assert main(["leaderboard", "verify", "--root", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  " in out and "stored weak.auroc = 0.5" in out and "problem(s)" in out


def _git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.fixture
def repo(board, tmp_path):
    """A git repository whose main branch holds the board; HEAD on a pull-request branch."""
    shutil.copytree(board, tmp_path / "leaderboard")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "board")
    _git(tmp_path, "checkout", "-q", "-b", "pr")
    return tmp_path


def test_modified_entry_against_merge_base(repo):
    root = repo / "leaderboard"
    _edit(root / NAIVE / "result.json", lambda d: d.update(created_utc="2027-01-01T00:00:00+00:00"))
    _git(repo, "commit", "-q", "-am", "touch an entry")
    problems, _ = verify(root, base="main")
    msg = _one(problems, "existing entry modified against the merge-base")
    assert msg.startswith("leaderboard/entries/pocket/pocket/naive/result.json") and "with main" in msg
    assert len(problems) == 1


def test_removed_entry_against_merge_base(repo):
    root = repo / "leaderboard"
    shutil.rmtree(root / "entries/pocket/pocket/aux_conf")
    build(root)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "drop an entry")
    problems, _ = verify(root)  # default base: main
    assert len(problems) == 2
    assert all("existing entry removed against the merge-base" in p for p in problems)
    assert {p.split(":")[0] for p in problems} == {
        f"leaderboard/entries/pocket/pocket/aux_conf/{f}" for f in E.ENTRY_FILES
    }


def test_git_check_on_main_and_outside_git(repo, board, tmp_path):
    _git(repo, "checkout", "-q", "main")
    root = repo / "leaderboard"
    problems, notes = verify(root)
    assert problems == [] and "a clone of main" in notes[0]
    (root / NAIVE / "result.json").unlink()  # uncommitted removal is still caught on main
    assert any("existing entry removed" in p for p in verify(root)[0])
    _one(verify(root, base="nope")[0], "--base nope: no such commit or branch here")
    _, notes = verify(board)
    assert any("not in a git repository" in n for n in notes)


def test_empty_board(tmp_path):
    root = tmp_path / "leaderboard"
    root.mkdir()
    E.write_schema(root)
    build(root)
    assert "No entries yet." in (root / "LEADERBOARD.md").read_text()
    assert _problems(root) == []


def test_committed_schema_is_generated_from_the_result_model():
    assert (REPO / "leaderboard" / E.SCHEMA_FILE).read_text() == E.schema_text()


def test_repository_board_is_current(repository_verify):
    """The committed LEADERBOARD.md / csv / plots match the committed entries, every entry verifies
    and none was changed against the base branch (`w2s-bench leaderboard verify --reproduce`, run
    once for the session: conftest.py)."""
    rc, out = repository_verify
    assert rc == 0, [line for line in out.splitlines() if line.startswith("FAIL")]
    notes = [line.removeprefix("note: ") for line in out.splitlines() if line.startswith("note: ")]
    assert any(n.endswith("naive: no code hash recorded (entry predates code hashing)") for n in notes)
    md, _, _ = render(REPO / "leaderboard")
    assert md == (REPO / "leaderboard" / "LEADERBOARD.md").read_text()
