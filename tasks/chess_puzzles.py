"""Frozen chess puzzles: engine self-play -> positions with one clearly best move.

    python -m w2s_bench.tasks.chess_puzzles --count N --seed 0 \
        --out tasks/data/chess_puzzles.v2.jsonl.gz [--jobs 2] [--cache /tmp/chess_cache]

(build_command() gives each committed file's.) --jobs and --cache change the speed, not the
file: games are independent, and the cache keeps each finished game's puzzles so that a stopped
or larger build resumes. The puzzles of a smaller count are a prefix of a larger count's.

Needs Debian's `stockfish` (found via $W2S_STOCKFISH, `stockfish` on PATH, or /usr/games/stockfish)
and PyPI `chess`. Only the *builder* needs them; `load_puzzles` reads the committed file.

Positions. Game g (0, 1, 2, ...) is played with its own `random.Random(f"{seed}:{g}")`:
  1. a randomised opening of 4..10 uniformly random legal plies from the start position;
  2. then the engine plays itself. Each ply is a MultiPV=5 search of PLAY_NODES nodes; the
     mover plays the engine's best move with probability 1 - MISTAKE_RATE, otherwise one of the
     other four listed moves (uniformly). These occasional lesser choices of a shallow search
     are the realistic mistakes that give the opponent a tactic.
  The game ends when it is over, at MAX_PLIES, or once one side has been ahead by DECIDED_CP or
  more for DECIDED_PLIES consecutive plies (nothing to find there any more).

Selection. Every self-play position (after the random opening) with >= 2 legal moves whose
shallow search already hints at an only move (best >= +SCREEN_BEST_CP or mate for the mover, and
best - second >= SCREEN_GAP_CP) is re-analysed: fresh `ucinewgame` (clears the hash), MultiPV=2,
`nodes` nodes (default NODES = 100,000), Threads=1, Hash=HASH_MB. It is kept as a puzzle when,
scores from the mover's point of view,

    best   is a mate for the mover, or >= +WIN_CP   (+300 cp: winning)
    second is <= +DRAW_CP (+100 cp), or a mate against the mover (not winning any more)

that is, one move wins and every other move (the engine's second choice bounds them all) does
not. This is the "only move" criterion of the Lichess puzzle generator (ornicar/lichess-puzzler,
generator.py `is_valid_attack`: the best move must beat the second by > 0.42 in win chances
2/(1+exp(-0.004 cp))-1); +300 vs +100 cp is a gap of 0.44 there, and a mate counts as +1, so a
mate is an only move exactly when the second move does not win (<= +100 cp). Positions where both
moves win (already decided regardless of the move), positions with one legal move (e.g. in check
with a single escape) and positions within MIN_GAP_PLIES of the game's previous puzzle (the same
tactic one move on) are skipped; a game yields at most MAX_PER_GAME puzzles.

Determinism. Threads=1, fixed node counts, a fixed hash size cleared before every search, and
seeded randomness: the same engine build, seed and count give a byte-identical file (gzip with
mtime=0, written to a temp file and renamed). The first line is metadata (engine `id name`,
nodes, threads, hash, seed, builder version); each further line is one puzzle.
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from w2s_bench.assets import sha256_file

BUILDER_VERSION = 1
# the committed files: name -> (sha256, --count it was built with). The 1000 puzzles of
# chess_puzzles.jsonl.gz (task `chess`) are the first 1000 of chess_puzzles.v2.jsonl.gz (`chess.v2`).
FROZEN = {
    "chess_puzzles.jsonl.gz": ("e7ea091e38fbef2456fb96e6964465a1c09fbda429f6dce47274bd47f301f77a", 1000),
    "chess_puzzles.v2.jsonl.gz": ("a3adfda0eb92519965924456a242e2cbd68715a11082cb3ef31613ff29481a57", 3000),
}
PUZZLE_FILE = Path(__file__).parent / "data" / "chess_puzzles.v2.jsonl.gz"
PUZZLE_SHA256 = FROZEN[PUZZLE_FILE.name][0]


def build_command(path: str | Path = PUZZLE_FILE) -> str:
    """The command that rebuilds a committed puzzle file."""
    name = Path(path).name
    count = FROZEN.get(name, (None, "N"))[1]
    return f"python -m w2s_bench.tasks.chess_puzzles --count {count} --seed 0 --out tasks/data/{name}"


# analysis of candidate positions (the labels)
NODES = 100_000
THREADS = 1
HASH_MB = 16
WIN_CP = 300  # best move: a mate for the mover or at least this
DRAW_CP = 100  # second move: at most this (or being mated)

# self-play
OPENING_PLIES = (4, 10)
PLAY_NODES = 4_000
PLAY_MULTIPV = 5
MISTAKE_RATE = 0.15
MAX_PLIES = 200
DECIDED_CP, DECIDED_PLIES = 1_000, 6
SCREEN_BEST_CP, SCREEN_GAP_CP = 150, 150
MAX_PER_GAME, MIN_GAP_PLIES = 4, 4
MATE_CP = 100_000  # a mate in n ranks as MATE_CP - n when comparing scores


def find_stockfish() -> str:
    """The stockfish binary: $W2S_STOCKFISH, `stockfish` on PATH, or Debian's /usr/games path."""
    for cand in (os.environ.get("W2S_STOCKFISH"), shutil.which("stockfish"), "/usr/games/stockfish"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError(
        "stockfish not found: install it (`apt-get install -y stockfish`, binary at "
        "/usr/games/stockfish) or point $W2S_STOCKFISH at the binary"
    )


# ---- engine ---------------------------------------------------------------------------------


class Engine:
    """Stockfish with Threads=1 and a fixed hash; every search starts from a cleared hash."""

    def __init__(self, path: str | None = None):
        import chess.engine

        self._limit = chess.engine.Limit
        self.engine = chess.engine.SimpleEngine.popen_uci(path or find_stockfish())
        self.engine.configure({"Threads": THREADS, "Hash": HASH_MB})
        self.name = self.engine.id.get("name", "unknown")

    def analyse(self, board, nodes: int, multipv: int) -> list[tuple]:
        """[(move, score from the mover's view), ...] best first, from a fresh `ucinewgame`."""
        # a new `game` key makes python-chess send `ucinewgame`, which clears Stockfish's hash
        infos = self.engine.analyse(board, self._limit(nodes=nodes), multipv=multipv, game=object())
        return [(info["pv"][0], info["score"].pov(board.turn)) for info in infos if info.get("pv")]

    def close(self):
        self.engine.quit()


def score_dict(score) -> dict:
    """{"cp": int, "mate": None} or {"cp": None, "mate": int} (mate > 0: the mover mates)."""
    mate = score.mate()
    return {"cp": None, "mate": mate} if mate is not None else {"cp": score.score(), "mate": None}


def rank(cp: int | None, mate: int | None) -> int:
    """One number to compare scores: centipawns, or +-(MATE_CP - n) for a mate in n."""
    if mate is None:
        return cp
    return MATE_CP - mate if mate > 0 else -MATE_CP - mate


def is_only_move(best: dict, second: dict) -> bool:
    """The selection criterion (module docstring) on two score_dicts from the mover's view."""
    best_wins = (best["mate"] is not None and best["mate"] > 0) or (best["cp"] is not None and best["cp"] >= WIN_CP)
    second_wins = rank(second["cp"], second["mate"]) > DRAW_CP
    return best_wins and not second_wins


# ---- games and puzzles ----------------------------------------------------------------------


def play_game(engine: Engine, seed: int, game: int, nodes: int) -> list[dict]:
    """Self-play game `game` of generator `seed`; returns the puzzles found along it."""
    import chess

    rng = random.Random(f"{seed}:{game}")
    board = chess.Board()
    for _ in range(rng.randint(*OPENING_PLIES)):
        moves = sorted(board.legal_moves, key=lambda m: m.uci())
        if not moves:
            break
        board.push(rng.choice(moves))
    puzzles, last_puzzle_ply, decided = [], -MIN_GAP_PLIES, 0
    while not board.is_game_over(claim_draw=True) and board.ply() < MAX_PLIES:
        lines = engine.analyse(board, PLAY_NODES, PLAY_MULTIPV)
        scores = [score_dict(s) for _, s in lines]
        best = rank(scores[0]["cp"], scores[0]["mate"])
        decided = decided + 1 if abs(best) >= DECIDED_CP else 0
        if decided >= DECIDED_PLIES:
            break
        if (
            len(lines) >= 2
            and len(puzzles) < MAX_PER_GAME
            and board.ply() - last_puzzle_ply >= MIN_GAP_PLIES
            and best >= SCREEN_BEST_CP
            and best - rank(scores[1]["cp"], scores[1]["mate"]) >= SCREEN_GAP_CP
        ):
            puzzle = make_puzzle(engine, board, nodes)
            if puzzle is not None:
                puzzle["id"] = f"s{seed}g{game}p{board.ply()}"
                puzzles.append(puzzle)
                last_puzzle_ply = board.ply()
        if len(lines) > 1 and rng.random() < MISTAKE_RATE:
            move = rng.choice(lines[1:])[0]
        else:
            move = lines[0][0]
        board.push(move)
    return puzzles


def make_puzzle(engine: Engine, board, nodes: int) -> dict | None:
    """The puzzle at `board` if it passes the only-move criterion at `nodes` nodes, else None."""
    import chess

    if board.legal_moves.count() < 2:
        return None
    lines = engine.analyse(board, nodes, 2)
    if len(lines) < 2:
        return None
    (best_move, best_score), (second_move, second_score) = lines[:2]
    best, second = score_dict(best_score), score_dict(second_score)
    if best_move == second_move or not is_only_move(best, second):
        return None
    replay, moves_san = chess.Board(), []
    for move in board.move_stack:
        moves_san.append(replay.san(move))
        replay.push(move)
    return {
        "id": None,  # set by the caller
        "fen": board.fen(),
        "moves_san": moves_san,
        "ply": board.ply(),
        "turn": "white" if board.turn else "black",
        "pieces": len(board.piece_map()),
        "solution_uci": best_move.uci(),
        "solution_san": board.san(best_move),
        "solution_cp": best["cp"],
        "solution_mate": best["mate"],
        "wrong_uci": second_move.uci(),
        "wrong_san": board.san(second_move),
        "wrong_cp": second["cp"],
        "wrong_mate": second["mate"],
        "nodes": nodes,
    }


# ---- build and load -------------------------------------------------------------------------


def build(
    count: int,
    seed: int = 0,
    out: str | Path = PUZZLE_FILE,
    nodes: int = NODES,
    engine_path: str | None = None,
    max_games: int | None = None,
    jobs: int = 1,
    cache: str | Path | None = None,
    log=None,
) -> dict:
    """Play games 0, 1, 2, ... until `count` puzzles (or `max_games` games); write `out`.

    Games are independent (own seed, hash cleared before every search), so `jobs` worker
    processes (one Threads=1 engine each) give the same file as one. With `cache`, each game's
    puzzles are kept there as JSON, so an interrupted or larger build resumes where one stopped
    (the cache is only valid for one engine build). Returns the metadata line.
    The file is gzip (mtime 0) of JSON lines: metadata, then puzzles in game order.
    """
    engine_path = engine_path or find_stockfish()
    probe = Engine(engine_path)
    engine_name = probe.name
    probe.close()
    games = range(max_games if max_games is not None else 10**6)
    puzzles, played, t0 = [], 0, time.time()
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(engine_path,)) as pool:
        for found in pool.imap(_worker_game, ((seed, g, nodes, cache) for g in games)):
            puzzles.extend(found)
            played += 1
            if log:
                log(f"game {played}: {len(puzzles)} puzzles, {time.time() - t0:.0f}s")
            if len(puzzles) >= count:
                break
        pool.terminate()
    puzzles = puzzles[:count]
    meta = {
        "meta": True,
        "builder": "w2s_bench.tasks.chess_puzzles",
        "builder_version": BUILDER_VERSION,
        "engine": engine_name,
        "threads": THREADS,
        "hash_mb": HASH_MB,
        "nodes": nodes,
        "play_nodes": PLAY_NODES,
        "seed": seed,
        "count": len(puzzles),
        "games": played,
        "win_cp": WIN_CP,
        "draw_cp": DRAW_CP,
    }
    lines = [json.dumps(meta, sort_keys=True)] + [json.dumps(p, sort_keys=True) for p in puzzles]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9, mtime=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return meta


_ENGINE: Engine | None = None  # one per worker process


def _worker_init(engine_path: str) -> None:
    global _ENGINE
    _ENGINE = Engine(engine_path)
    atexit.register(_ENGINE.close)


def _worker_game(args: tuple) -> list[dict]:
    seed, game, nodes, cache = args
    path = cache and Path(cache) / f"v{BUILDER_VERSION}-n{nodes}-s{seed}-g{game}.json"
    if path and path.exists():
        return json.loads(path.read_text())
    puzzles = play_game(_ENGINE, seed, game, nodes)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(puzzles))
        os.replace(tmp, path)
    return puzzles


class PuzzleHashError(ValueError):
    """The puzzle file differs from the one frozen by PUZZLE_SHA256."""


def read_puzzle_file(path: str | Path) -> tuple[dict, list[dict]]:
    """(metadata, puzzles) of a puzzle file, unchecked."""
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    meta = rows[0] if rows and rows[0].get("meta") else {}
    return meta, [r for r in rows if not r.get("meta")]


def load_puzzles(path: str | Path = PUZZLE_FILE, sha256: str = PUZZLE_SHA256) -> list[dict]:
    """The frozen puzzles (metadata line skipped), after checking the file's sha256."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no puzzle file; restore it from git "
            f"(`git checkout -- {path.name}`) or rebuild: {build_command(path)}"
        )
    got = sha256_file(path)
    if got != sha256:
        raise PuzzleHashError(
            f"{path}: sha256 {got[:12]}... but the benchmark freezes {sha256[:12]}...; the frozen "
            f"puzzle file must not change: restore it from git (`git checkout -- {path}`), or "
            f"rebuild it with `{build_command(path)}` (same stockfish version) and check the hash"
        )
    return read_puzzle_file(path)[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(PUZZLE_FILE))
    ap.add_argument("--nodes", type=int, default=NODES)
    ap.add_argument("--max-games", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (same output)")
    ap.add_argument("--cache", default=None, help="folder keeping each game's puzzles (resume)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    # SIGTERM unwinds like Ctrl-C: the pool terminates its workers (and their engines) instead
    # of leaving them orphaned, playing on; no output file is written
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    t0 = time.time()
    meta = build(
        args.count, args.seed, args.out, args.nodes, max_games=args.max_games, jobs=args.jobs, cache=args.cache, log=log
    )
    print(
        f"wrote {meta['count']} puzzles from {meta['games']} games to {args.out} "
        f"in {time.time() - t0:.0f}s; sha256 {sha256_file(args.out)}"
    )


if __name__ == "__main__":
    main()
