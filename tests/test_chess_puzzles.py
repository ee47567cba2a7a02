"""The frozen chess-puzzle file and its builder (stockfish self-play, only-move criterion).

The builder tests need Debian's stockfish; CI installs it, so a missing engine FAILS them (with
the fix in the message) rather than skipping them silently."""

import gzip
import json

import chess
import pytest

from w2s_bench.tasks import chess_puzzles as cp


@pytest.fixture(scope="module")
def stockfish():
    try:
        return cp.find_stockfish()
    except FileNotFoundError as e:
        pytest.fail(f"{e} -- the chess builder tests need it (CI's .ci/run installs it)")


@pytest.fixture(scope="module")
def tiny_build(stockfish, tmp_path_factory):
    """The same small build three ways: one process; two workers filling a per-game cache; and
    again from that cache. Low node count, a handful of games."""
    d = tmp_path_factory.mktemp("chess")
    outs = [d / "a.jsonl.gz", d / "b.jsonl.gz", d / "c.jsonl.gz"]
    for out, jobs, cache in zip(outs, (1, 2, 2), (None, d / "cache", d / "cache")):
        cp.build(count=5, seed=7, out=out, nodes=20_000, engine_path=stockfish, max_games=6, jobs=jobs, cache=cache)
    return outs


def check_puzzle(p):
    board = chess.Board()
    for san in p["moves_san"]:
        board.push_san(san)
    assert board.fen() == p["fen"], f"{p['id']}: moves_san does not lead to fen"
    assert board.ply() == p["ply"] and ("white" if board.turn else "black") == p["turn"]
    assert board.legal_moves.count() >= 2
    sol, wrong = chess.Move.from_uci(p["solution_uci"]), chess.Move.from_uci(p["wrong_uci"])
    assert sol in board.legal_moves and wrong in board.legal_moves and sol != wrong
    assert board.san(sol) == p["solution_san"] and board.san(wrong) == p["wrong_san"]
    best = {"cp": p["solution_cp"], "mate": p["solution_mate"]}
    second = {"cp": p["wrong_cp"], "mate": p["wrong_mate"]}
    for s in (best, second):
        assert (s["cp"] is None) != (s["mate"] is None)
    assert cp.is_only_move(best, second), p
    # spelled out, independent of is_only_move: best wins, second does not
    assert (p["solution_mate"] or 0) > 0 or (p["solution_cp"] or -1) >= cp.WIN_CP
    assert (p["wrong_mate"] or 0) < 0 or (p["wrong_cp"] is not None and p["wrong_cp"] <= cp.DRAW_CP)


def test_only_move_criterion():
    win, mate2, mated = {"cp": 350, "mate": None}, {"cp": None, "mate": 2}, {"cp": None, "mate": -3}
    assert cp.is_only_move(win, {"cp": 100, "mate": None})
    assert cp.is_only_move(win, mated)
    assert cp.is_only_move(mate2, {"cp": -40, "mate": None})
    assert not cp.is_only_move(win, {"cp": 101, "mate": None})  # second wins too
    assert not cp.is_only_move(mate2, {"cp": None, "mate": 5})  # two mates
    assert not cp.is_only_move({"cp": 299, "mate": None}, {"cp": -500, "mate": None})  # not winning
    assert not cp.is_only_move({"cp": None, "mate": -2}, mated)


def test_builder_is_deterministic(tiny_build):
    a, b, c = (p.read_bytes() for p in tiny_build)
    assert a == b, "same seed and count must give a byte-identical file, whatever --jobs"
    assert a == c, "a build resumed from the per-game cache must give the same file"
    assert gzip.decompress(a)  # valid gzip


def test_builder_output_is_valid(tiny_build, stockfish):
    meta, puzzles = cp.read_puzzle_file(tiny_build[0])
    assert meta["engine"].startswith("Stockfish") and meta["threads"] == 1
    assert meta["nodes"] == 20_000 and meta["seed"] == 7 and meta["count"] == len(puzzles)
    assert meta["builder_version"] == cp.BUILDER_VERSION
    assert 1 <= len(puzzles) <= 5
    assert len({p["id"] for p in puzzles}) == len(puzzles)
    for p in puzzles:
        assert p["nodes"] == 20_000
        check_puzzle(p)


@pytest.mark.parametrize("name", sorted(cp.FROZEN))
def test_committed_file_matches_frozen_hash_and_loads(name):
    path = cp.PUZZLE_FILE.parent / name
    sha256, count = cp.FROZEN[name]
    assert cp.sha256_file(path) == sha256
    meta, _ = cp.read_puzzle_file(path)
    puzzles = cp.load_puzzles(path, sha256)
    assert len(puzzles) == meta["count"] == count
    assert f"--count {count} " in cp.build_command(path)
    assert not any(p.get("meta") for p in puzzles)
    assert meta["engine"].startswith("Stockfish") and meta["threads"] == 1
    assert len({p["id"] for p in puzzles}) == len(puzzles)
    assert len({p["fen"] for p in puzzles}) == len(puzzles)
    for p in puzzles[:200]:
        check_puzzle(p)


def test_chess_v1_puzzles_are_the_first_of_v2():
    """`chess` (1000 puzzles) and `chess.v2` (3000) come from one build: v1 is v2's prefix."""
    _, v1 = cp.read_puzzle_file(cp.PUZZLE_FILE.parent / "chess_puzzles.jsonl.gz")
    _, v2 = cp.read_puzzle_file(cp.PUZZLE_FILE.parent / "chess_puzzles.v2.jsonl.gz")
    assert len(v1) == 1000 and v2[:1000] == v1


def test_tampered_file_raises_clear_error(tmp_path):
    meta, puzzles = cp.read_puzzle_file(cp.PUZZLE_FILE)
    puzzles[0]["solution_uci"], puzzles[0]["wrong_uci"] = puzzles[0]["wrong_uci"], puzzles[0]["solution_uci"]
    bad = tmp_path / "chess_puzzles.jsonl.gz"
    lines = [json.dumps(r, sort_keys=True) for r in [meta] + puzzles]
    bad.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    with pytest.raises(cp.PuzzleHashError, match="restore it from git.*rebuild"):
        cp.load_puzzles(bad)
    with pytest.raises(FileNotFoundError, match="rebuild"):
        cp.load_puzzles(tmp_path / "missing.jsonl.gz")


def _children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    from pathlib import Path

    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_stops_the_workers_and_writes_nothing(stockfish, tmp_path):
    """`kill PID` on a --jobs build takes its worker processes down with it (they used to be
    orphaned and play on) and leaves no output file."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "p.jsonl.gz"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "w2s_bench.tasks.chess_puzzles",
            "--count",
            "1000",
            "--jobs",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    try:
        deadline = time.time() + 60
        while len(workers := _children(proc.pid)) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(workers) >= 2, "the builder never started its workers"
        time.sleep(1.0)  # let them start their engines
        engines = set().union(*(_children(w) for w in workers))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
        deadline = time.time() + 30
        while any(_alive(p) for p in workers | engines) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "workers outlived the builder"
        assert not any(_alive(e) for e in engines), "engines outlived the builder"
        assert not out.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
