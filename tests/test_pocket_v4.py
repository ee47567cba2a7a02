"""pocket.v4's pieces: source distributions as assets (fetched from a local index), the new row
formats and cleaners, the depth family read in one forward pass, the headline pair."""

import hashlib
import http.server
import io
import json
import tarfile
import threading

import numpy as np
import pytest

from w2s_bench import assets
from w2s_bench.assets import AssetError, asset_dir, asset_path
from w2s_bench.tasks.builders import ROWS, _read_file, near_duplicate_key

MEMBERS = {
    "pkg/data/task.json": json.dumps(
        {
            "examples": [
                {"input": "good", "target_scores": {"positive": 1, "negative": 0}},
                {"input": "bad", "target_scores": {"positive": 0, "negative": 1}},
                {"input": "tie", "target_scores": {"positive": 1, "negative": 1}},
            ]
        }
    ).encode(),
    "pkg/other.txt": b"not pinned",
}


def _sdist(folder, members=MEMBERS, name="fakepkg-1.0"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = folder / f"{name}.tar.gz"
    archive.write_bytes(buf.getvalue())
    return archive


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A package index (the simple API) on 127.0.0.1 serving fakepkg-1.0.tar.gz."""
    served = tmp_path / "served"
    (served / "simple" / "fakepkg").mkdir(parents=True)
    archive = _sdist(served)
    (served / "simple" / "fakepkg" / "index.html").write_text(
        f'<a href="../../fakepkg-1.0.tar.gz#sha256={assets.sha256_file(archive)}">fakepkg-1.0.tar.gz</a>'
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(served), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setitem(
        assets.SDISTS,
        "fakepkg==1.0",
        {
            "sha256": assets.sha256_file(archive),
            "members": {"pkg/data/task.json": hashlib.sha256(MEMBERS["pkg/data/task.json"]).hexdigest()},
        },
    )
    yield archive
    server.shutdown()


def test_sdist_members_are_streamed_out_checked_and_the_archive_dropped(index, tmp_path):
    path = asset_path("fakepkg==1.0", "pkg/data/task.json")
    assert path.read_bytes() == MEMBERS["pkg/data/task.json"]
    root = asset_dir("fakepkg==1.0")
    assert not (root / "pkg" / "other.txt").exists()  # only the pinned members
    assert not list((tmp_path / "home" / "wheels").glob("*.tar.gz"))  # the archive is not kept
    rows = _read_file(path, "bigbench_json", None)
    assert [(r["input"], r["target"]) for r in rows] == [("good", "positive"), ("bad", "negative"), ("tie", "")]


def test_sdist_with_a_tampered_member_is_refused_and_nothing_unpacked(index, tmp_path, monkeypatch):
    monkeypatch.setitem(assets.SDISTS["fakepkg==1.0"], "members", {"pkg/data/task.json": "0" * 64})
    with pytest.raises(AssetError, match="member pkg/data/task.json of fakepkg==1.0 has sha256"):
        asset_dir("fakepkg==1.0")
    assert not (tmp_path / "home" / "assets" / "fakepkg-1.0").exists()


def test_sdist_the_index_does_not_list_is_a_clear_error(index, monkeypatch):
    monkeypatch.setitem(assets.SDISTS, "fakepkg==2.0", dict(assets.SDISTS["fakepkg==1.0"]))
    with pytest.raises(AssetError, match="lists no fakepkg-2.0.tar.gz") as e:
        asset_dir("fakepkg==2.0")
    assert "W2S_BENCH_WHEELS" in str(e.value)


def test_sdist_already_on_disk_is_read_there_and_kept(tmp_path, monkeypatch):
    local = tmp_path / "local"
    local.mkdir()
    archive = _sdist(local)
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_BENCH_WHEELS", str(local))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # never asked
    monkeypatch.setitem(
        assets.SDISTS,
        "fakepkg==1.0",
        {
            "sha256": assets.sha256_file(archive),
            "members": {"pkg/data/task.json": hashlib.sha256(MEMBERS["pkg/data/task.json"]).hexdigest()},
        },
    )
    assert asset_path("fakepkg==1.0", "pkg/data/task.json").exists() and archive.exists()


def test_orange_tab_reader(tmp_path):
    p = tmp_path / "x.tab"
    p.write_text('Category\tText\nd\tstring\nclass\t\nsci.space\tthe "moon" is far\ncomp.graphics\tpixels\n')
    assert _read_file(p, "orange_tab", None) == [
        {"Category": "sci.space", "Text": 'the "moon" is far'},
        {"Category": "comp.graphics", "Text": "pixels"},
    ]


def test_row_cleaners():
    assert near_duplicate_key("RT @bob: Great day!! https://t.co/x 2016") == "rt great day"
    tweet = ROWS["election_tweets"]({"Is retweet": "False", "Content": "We can do it. https://t.co/a -H"})
    assert tweet["text"] == "We can do it." and tweet["dup"] == "we can do it"
    assert ROWS["election_tweets"]({"Is retweet": "True", "Content": "x"}) is None
    assert (
        ROWS["election_tweets"]({"Is retweet": "False", "Content": "Thank you @user—Hillary"})["text"]
        == "Thank you @user"
    )
    post = ROWS["newsgroups"]({"Category": "sci.space", "Text": "re moon landing was real in article x"})
    assert post["topic"] == "sci" and post["thread"] == "moon landing was real in article"
    v = ROWS["vitaminc"]({"input": "Westlife: sold 23 million .\nClaim: Westlife sold more ."})
    assert (v["title"], v["claim"]) == ("Westlife", "Westlife sold more .")


def test_depth_family_is_one_pass_and_equals_each_cut(monkeypatch):
    """The hidden state after layer k of the full model is the k-layer cut's output."""
    from w2s_bench import models
    from w2s_bench import train as T
    from w2s_bench.registry import load_ladder

    ladder = load_ladder("pocket_frozen")
    rungs = [ladder.rung(n) for n in ("mini1", "mini3", "mini6")]
    texts = ["a fine film", "dull and long, and then some more dull", "bad"]
    alone = {r.name: T.encode_frozen(r, texts) for r in rungs}
    loads = []
    real = models.pooled_backbone
    monkeypatch.setattr(models, "pooled_backbone", lambda r: loads.append(r.name) or real(r))
    family = T.encode_frozen_family(rungs, texts)
    assert loads == ["mini6"]  # one model, the deepest cut
    for r in rungs:
        assert np.array_equal(family[r.name], alone[r.name]), r.name


def test_frozen_features_encode_a_family_once_per_split(tmp_path, monkeypatch):
    from w2s_bench import features as F
    from w2s_bench import train as T
    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import Cache, frozen_features

    monkeypatch.setattr(F, "BANK", F.FeatureBank())
    ladder = load_ladder("pocket_frozen")
    mini1, mini3 = ladder.rung("mini1"), ladder.rung("mini3")
    splits = {
        s: [{"text": f"{s} text {i}", "label": i % 2, "group": str(i)} for i in range(4)] for s in ("weak_train", "val")
    }
    calls = []
    real = T.encode_frozen_family
    monkeypatch.setattr(
        T,
        "encode_frozen_family",
        lambda rungs, texts, desc=None: calls.append([r.name for r in rungs]) or real(rungs, texts, desc),
    )
    cache = Cache(tmp_path)
    frozen_features(cache, [(mini1, ("weak_train", "val")), (mini3, ("val",))], splits, {"task": "t"})
    assert calls == [["mini1"], ["mini1", "mini3"]]  # weak_train: mini1 alone; val: one pass for both
    frozen_features(cache, [(mini1, ("weak_train", "val")), (mini3, ("val",))], splits, {"task": "t"})
    assert len(calls) == 2  # cached
    assert F.BANK.get(mini3, [r["text"] for r in splits["val"]]).shape == (4, 384)


def test_headline_pair_ranks_and_must_be_a_pair():
    from w2s_bench.registry import load_suite
    from w2s_bench.scoring import summarize
    from w2s_bench.specs import SuiteSpec

    cells = [
        {
            "task": "t",
            "weak_rung": "a",
            "strong_rung": s,
            "seed": seed,
            "pgr_accuracy": p,
            "pgr_auroc": p,
            **{w: {"accuracy": 0.7, "auroc": 0.7} for w in ("weak", "ceiling", "student")},
        }
        for seed in (0, 1)
        for s, p in (("b", 0.1), ("c", 0.5), ("d", 0.9))
    ]
    assert summarize(cells)[2].iloc[0].pgr_acc == pytest.approx(0.5)  # median over pairs
    per_pair, per_task, suite = summarize(cells, ("a", "d"))
    assert suite.iloc[0].pgr_acc == pytest.approx(0.9) and len(per_pair) == 3
    assert load_suite("pocket.v4").protocol.headline == ("mpnet1", "mpnet8")
    with pytest.raises(ValueError, match="headline"):
        SuiteSpec(
            name="x", description="x", tasks=["t"], ladder="l", pairs=[("a", "b")], protocol={"headline": ("a", "c")}
        )


def test_weak_subset_is_a_balanced_prefix():
    from w2s_bench.tasks import weak_subset

    rows = [{"label": y, "i": i} for i, y in enumerate([1, 1, 1, 0, 1, 0, 0, 0])]
    assert [r["i"] for r in weak_subset(rows, 4)] == [0, 1, 3, 5]
    assert weak_subset(rows, None) is rows


def test_pocket_v4_smoke_run_end_to_end(tmp_path, monkeypatch):
    """The suite runs (a --limit smoke run on one task and pair): a data-limited weak model, the
    headline pair in the summary, the trend in the report; the first cell encodes every rung the
    run's pairs read, one forward pass of the deepest cut per split."""
    from w2s_bench import train as T
    from w2s_bench.report import write_report
    from w2s_bench.run import evaluate

    passes = []
    real = T.encode_frozen_family
    monkeypatch.setattr(
        T,
        "encode_frozen_family",
        lambda rungs, texts, desc=None: (
            passes.append((desc.split()[-1], {r.name for r in rungs})) or real(rungs, texts, desc)
        ),
    )
    out = evaluate(
        method="naive",
        suite="pocket.v4",
        tasks=["multiemo_sentences"],
        limit=40,
        seeds=[0],
        pairs=[("mpnet1", "mpnet3"), ("mpnet1", "mpnet8")],
        cache_dir=tmp_path / "cache",
        out=tmp_path / "res",
        quiet=True,
    )
    every = {"mpnet1", "mpnet3", "mpnet5", "mpnet8"}  # mpnet5: bootstrap's step between 1 and 8
    assert sorted(passes) == sorted(
        [("weak_train", {"mpnet1"}), ("student_train", every), ("val", every), ("test", every - {"mpnet5"})]
    )
    result = out["result"]
    assert result.protocol.weak_train_size == 400 and result.protocol.headline == ("mpnet1", "mpnet8")
    assert {(c.weak_rung, c.strong_rung) for c in result.cells} == {("mpnet1", "mpnet3"), ("mpnet1", "mpnet8")}
    headline = [c for c in result.cells if c.strong_rung == "mpnet8"][0]
    assert result.summary["pgr_acc"] == headline.pgr_accuracy
    report = write_report(tmp_path / "res").read_text()
    assert "## PGR against the strong rung" in report and (tmp_path / "res" / "trend.png").exists()
