"""Where do the chess networks separate? For each candidate task, pairs (position with its game
history, the right move, one wrong move) and each network's own score of the two moves; a pair
is right when the right move scores higher (ties count half): a one-feature head's accuracy.

Sources (--task, repeatable):
  v2        the committed chess.v2 puzzles (tasks/chess_puzzles.py, Stockfish 15.1 self-play):
            the solution against the engine's second choice; full game history.
  mate1     BIG-bench checkmate_in_one (chess_mate_probe.positions) against Stockfish's best
            non-mating move, kept only where Maia3 at --hard-elo does NOT rank the mate first
            among the legal moves (a selection on the weak network: its accuracy there is biased
            low by construction; reported for the count).
  problem2  composed mate-in-2 problems from Debian pychess (usr/share/pychess/learn/puzzles/
            *.olv, stipulation "#2"; --pychess is the unpacked .deb): the key (Stockfish's best,
            a mate in 2) against Stockfish's second move, kept only where the second is no mate
            in 2; bare positions, no history.
  pgnmate   pychess's mate_in_{2,3,4}.pgn (positions from real games): the first move of the
            given mate against Stockfish's second move, kept where the second mates no faster.

Features (per network, the score of a move):
  maia{E}_logit   Maia3-5M move logit, both Elos E
  maia{E}_value   Maia3's expected score (win - loss) of the position after the move, mover's view
  lc0_prior       lc0 T1-256x10 policy prior (1 node)
  lc0_value       lc0's value head on the position after the move, mover's view
  lc0_q{N}        lc0's Q of the move after a search of N nodes (--lc0-nodes; a search, not a net)
  maia{E}_pooled_head  (--pooled) a logistic head (C 0.1) on the difference of Maia3's pooled body
                  activation (256 floats) of the positions after the two moves, 5-fold CV
  *_head          a logistic head (no intercept) on the difference of that network's logit and
                  value: 5-fold cross-validated accuracy (what a trained two-feature head gets)
A position after a move that ends the game is scored by the rules (mate +1, draw 0) for every
network's value, and the move's value is that.

  python -m benchmarks.chess_gap_probe --task v2 --n 3000 --save /tmp/gap/p
  python -m benchmarks.chess_gap_probe --rescore /tmp/gap/p.v2.jsonl   # the tables again

Each table is printed for all pairs and for the pairs whose right move is quiet (neither a
capture nor a check: a property of the puzzle, not of a network).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from pathlib import Path

import chess
import chess.engine
import numpy as np

from benchmarks.chess_mate_probe import positions as mate_positions
from w2s_bench.chess_nets import Lc0Process, load_maia3, maia3_move_index, maia3_value, terminal_value
from w2s_bench.tasks.chess_puzzles import find_stockfish, load_puzzles

# ---- pair sources: (board with history, right move, wrong move, group) ----------------------


def v2_pairs(n: int, seed: int):
    puzzles = load_puzzles()
    random.Random(seed).shuffle(puzzles)
    for p in puzzles[:n]:
        board = chess.Board()
        for san in p["moves_san"]:
            board.push_san(san)
        assert board.fen() == p["fen"]
        yield board, chess.Move.from_uci(p["solution_uci"]), chess.Move.from_uci(p["wrong_uci"]), p["id"].split("p")[0]


def _sf_second(sf, board, right, nodes):
    infos = sf.analyse(board, chess.engine.Limit(nodes=nodes), multipv=3, game=object())
    for info in infos:
        if info.get("pv") and info["pv"][0] != right:
            return info["pv"][0], info["score"].pov(board.turn)
    return None, None


def mate1_pairs(n: int, seed: int, sf, maia, hard_elo: int):
    for i, (board, mate) in enumerate(mate_positions(n, seed)):
        logits = maia(board, hard_elo).move_logits
        top = max(board.legal_moves, key=lambda m: logits[maia3_move_index(board, m)])
        if top == mate:
            continue
        wrong, _ = _sf_second(sf, board, mate, 20_000)
        yield board, mate, wrong, f"m{i}"


def _olv_problems(folder: Path):
    """(file, index, chess.Board) for every orthodox '#2' problem of pychess's .olv files."""
    pieces = {"K": "K", "Q": "Q", "R": "R", "B": "B", "S": "N", "P": "P"}
    for path in sorted(folder.glob("*.olv")):
        for k, doc in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n---")):
            if 'stipulation: "#2"' not in doc:
                continue
            board = chess.Board(None)
            ok = True
            for colour, name in ((chess.WHITE, "white"), (chess.BLACK, "black")):
                m = re.search(rf"^\s+{name}:\s*\[([^\]]*)\]", doc, re.M)
                if not m:
                    ok = False
                    break
                for tok in m.group(1).split(","):
                    tok = tok.strip()
                    if len(tok) != 3 or tok[0] not in pieces:
                        ok = False
                        break
                    sq = chess.parse_square(tok[1:])
                    board.set_piece_at(
                        sq, chess.Piece.from_symbol(pieces[tok[0]] if colour else pieces[tok[0]].lower())
                    )
            board.turn = chess.WHITE
            if ok and board.is_valid() and not board.is_game_over():
                yield path.stem, k, board


def problem2_pairs(n: int, seed: int, sf, folder: Path):
    problems = list(_olv_problems(folder))
    random.Random(seed).shuffle(problems)
    for stem, k, board in problems[:n]:
        info = sf.analyse(board, chess.engine.Limit(nodes=200_000), multipv=2, game=object())
        if len(info) < 2 or info[0]["score"].pov(chess.WHITE).mate() != 2:
            continue
        second = info[1]["score"].pov(chess.WHITE).mate()
        if second is not None and 0 < second <= 2:
            continue  # a cook: two keys
        yield board, info[0]["pv"][0], info[1]["pv"][0], f"{stem}{k}"


def pgnmate_pairs(n: int, seed: int, sf, folder: Path):
    import chess.pgn

    games = []
    for name in ("mate_in_2", "mate_in_3", "mate_in_4"):
        with open(folder / f"{name}.pgn", encoding="utf-8", errors="replace") as f:
            while (g := chess.pgn.read_game(f)) is not None:
                moves = list(g.mainline_moves())
                if moves:
                    games.append((f"{name}:{len(games)}", g.board(), moves[0]))
    random.Random(seed).shuffle(games)
    for gid, board, right in games[:n]:
        info = sf.analyse(board, chess.engine.Limit(nodes=200_000), multipv=2, game=object())
        mover = board.turn
        best = info[0]["score"].pov(mover).mate()
        if len(info) < 2 or best is None or best <= 0:
            continue
        wrong = next((i["pv"][0] for i in info if i["pv"][0] != right), None)
        if wrong is None:
            continue
        w = next(i for i in info if i["pv"][0] == wrong)["score"].pov(mover).mate()
        if w is not None and 0 < w <= best:
            continue
        yield board, right, wrong, gid


# ---- features ---------------------------------------------------------------------------------


def features(board, right, wrong, maia, lc0, elos, lc0_nodes, pooled=False) -> dict:
    row = {}
    for elo in elos:
        logits = maia(board, elo).move_logits
        for tag, move in (("r", right), ("w", wrong)):
            row[f"maia{elo}_logit_{tag}"] = float(logits[maia3_move_index(board, move)])
    root = lc0.search(board, 1)
    for tag, move in (("r", right), ("w", wrong)):
        row[f"lc0_prior_{tag}"] = root.moves[move.uci()].prior
        board.push(move)
        try:
            term = terminal_value(board)
            for elo in elos:
                out = maia(board, elo)
                row[f"maia{elo}_value_{tag}"] = term if term is not None else -maia3_value(out)
                if pooled:
                    row[f"maia{elo}_pooled_{tag}"] = out.pooled.tolist()
            row[f"lc0_value_{tag}"] = term if term is not None else -lc0.search(board, 1).value
        finally:
            board.pop()
    for nodes in lc0_nodes:
        s = lc0.search(board, nodes)
        for tag, move in (("r", right), ("w", wrong)):
            row[f"lc0_q{nodes}_{tag}"] = s.moves[move.uci()].q
    return row


# ---- scoring ----------------------------------------------------------------------------------


def correct(rows, key) -> np.ndarray:
    d = np.array([r[f"{key}_r"] - r[f"{key}_w"] for r in rows])
    return np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0))


def head_correct(rows, keys, seed=0, folds=5, c=1.0) -> np.ndarray:
    """5-fold cross-validated accuracy of a logistic head (no intercept) on the feature
    differences right - wrong, trained on both orders of each pair (a vector feature: all its
    components)."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([np.hstack([np.subtract(r[f"{k}_r"], r[f"{k}_w"]) for k in keys]) for r in rows])
    scale = x.std(0) + 1e-9
    x = x / scale
    fold = np.random.default_rng(seed).permutation(len(x)) % folds
    out = np.zeros(len(x))
    for f in range(folds):
        tr, te = fold != f, fold == f
        xt = np.concatenate([x[tr], -x[tr]])
        yt = np.concatenate([np.ones(tr.sum()), np.zeros(tr.sum())])
        clf = LogisticRegression(fit_intercept=False, C=c, max_iter=2000).fit(xt, yt)
        d = x[te] @ clf.coef_[0]
        out[te] = np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0))
    return out


def se(c: np.ndarray) -> float:
    return float(c.std(ddof=0) / math.sqrt(len(c)))


def table(rows, elos, lc0_nodes) -> list[str]:
    cols = {}
    for elo in elos:
        cols[f"maia{elo}_logit"] = correct(rows, f"maia{elo}_logit")
        cols[f"maia{elo}_value"] = correct(rows, f"maia{elo}_value")
        cols[f"maia{elo}_head"] = head_correct(rows, [f"maia{elo}_logit", f"maia{elo}_value"])
        if rows and f"maia{elo}_pooled_r" in rows[0]:
            # the body activation of the position after the move (256 floats): a trained head
            cols[f"maia{elo}_pooled_head"] = head_correct(rows, [f"maia{elo}_pooled"], c=0.1)
    cols["lc0_prior"] = correct(rows, "lc0_prior")
    cols["lc0_value"] = correct(rows, "lc0_value")
    cols["lc0_head"] = head_correct(rows, ["lc0_prior_log", "lc0_value"]) if rows else None
    for nodes in lc0_nodes:
        cols[f"lc0_q{nodes}"] = correct(rows, f"lc0_q{nodes}")
    out = [f"n = {len(rows)}", "", "| feature | accuracy ± SE | gap to lc0 (same kind) ± SE |", "|---|---|---|"]
    for k, c in cols.items():
        strong = {"logit": "lc0_prior", "value": "lc0_value", "head": "lc0_head"}.get(k.split("_")[-1])
        strong = "lc0_head" if k.endswith("pooled_head") else strong
        gap = ""
        if k.startswith("maia") and strong:
            g = cols[strong] - c
            gap = f"{g.mean():+.3f} ± {se(g):.3f}"
        out.append(f"| {k} | {c.mean():.3f} ± {se(c):.3f} | {gap} |")
    return out


def is_quiet(row) -> bool:
    """The pair's right move is neither a capture nor a check (a property of the puzzle)."""
    board, move = chess.Board(row["fen"]), chess.Move.from_uci(row["right"])
    return not board.is_capture(move) and not board.gives_check(move)


def print_tables(title, rows, elos, lc0_nodes) -> None:
    print(f"\n## {title}\n")
    print("\n".join(table(rows, elos, lc0_nodes)), flush=True)
    quiet = [r for r in rows if r.get("quiet", is_quiet(r))]
    if quiet and len(quiet) < len(rows):
        print("\n### only the pairs whose right move is quiet (neither a capture nor a check)\n")
        print("\n".join(table(quiet, elos, lc0_nodes)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", action="append", choices=["v2", "mate1", "problem2", "pgnmate"])
    ap.add_argument("--n", type=int, default=3000, help="positions drawn per task (before filters)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--elo", type=int, nargs="+", default=[1100, 1500, 1900])
    ap.add_argument("--hard-elo", type=int, default=1100)
    ap.add_argument("--lc0-nodes", type=int, nargs="*", default=[])
    ap.add_argument("--pychess", type=Path, default=Path("/tmp/pychess/x/usr/share/pychess/learn/puzzles"))
    ap.add_argument("--pooled", action="store_true", help="also Maia3's pooled body activation after the move")
    ap.add_argument("--save", type=Path, help="write every pair's features (JSON lines) here")
    ap.add_argument("--rescore", type=Path, nargs="*", help="print the tables of --save files; compute nothing")
    args = ap.parse_args()
    if args.rescore:
        for path in args.rescore:
            rows = [json.loads(line) for line in open(path)]
            elos = sorted(
                {int(k[4:].split("_")[0]) for k in rows[0] if k.startswith("maia") and k.endswith("_logit_r")}
            )
            nodes = sorted({int(k[5:].split("_")[0]) for k in rows[0] if k.startswith("lc0_q") and k.endswith("_r")})
            print_tables(path.name, rows, elos, nodes)
        return
    maia, lc0 = load_maia3(1), Lc0Process()
    sf = chess.engine.SimpleEngine.popen_uci(find_stockfish())
    sf.configure({"Threads": 1, "Hash": 16})
    for task in args.task or ["v2"]:
        t0 = time.time()
        if task == "v2":
            pairs = v2_pairs(args.n, args.seed)
        elif task == "mate1":
            pairs = mate1_pairs(args.n, args.seed, sf, maia, args.hard_elo)
        elif task == "problem2":
            pairs = problem2_pairs(args.n, args.seed, sf, args.pychess)
        else:
            pairs = pgnmate_pairs(args.n, args.seed, sf, args.pychess)
        rows = []
        for board, right, wrong, group in pairs:
            row = features(board, right, wrong, maia, lc0, args.elo, args.lc0_nodes, args.pooled)
            for tag in ("r", "w"):
                row[f"lc0_prior_log_{tag}"] = math.log(max(row[f"lc0_prior_{tag}"], 1e-4))
            row.update(group=group, fen=board.fen(), right=right.uci(), wrong=wrong.uci())
            rows.append(row)
        print_tables(
            f"{task} (seed {args.seed}, {args.n} drawn; {time.time() - t0:.0f} s)", rows, args.elo, args.lc0_nodes
        )
        if args.save:
            with open(args.save.with_suffix(f".{task}.jsonl"), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
    lc0.close()
    sf.quit()


if __name__ == "__main__":
    main()
