"""Measure whether the chess ladder (weak Maia3-5M, strong lc0 T1-256x10) separates on BIG-bench
checkmate_in_one: for N positions, the mating move against one other legal move (random, seeded;
or Stockfish's best non-mating move), and each network's own score of each move:
Maia3's move logit (elo given), lc0's policy-head prior (UCI VerboseMoveStats, 1 node, one
persistent lc0 process, chess_nets.Lc0Process). A pair is right when the mate scores higher: that is a one-feature
linear head's accuracy (its best sign), the floor of what a trained head on that feature gets.

  python benchmarks/chess_mate_probe.py --n 600 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import chess
import chess.engine
import numpy as np

from w2s_bench.assets import asset_path
from w2s_bench.chess_nets import Lc0Process, load_maia3, maia3_move_index


def positions(n: int, seed: int):
    path = asset_path("bigbench==1.0.0", "bigbench/benchmark_tasks/checkmate_in_one/task.json")
    ex = json.load(open(path))["examples"]
    random.Random(seed).shuffle(ex)
    for e in ex[:n]:
        board = chess.Board()
        for tok in e["input"].split():
            if not tok[0].isdigit():
                board.push_san(tok)
        mates = [m for m in board.legal_moves if board.is_checkmate() is False and _mates(board, m)]
        if len(mates) != 1 or board.san(mates[0]) != e["target"]:
            continue
        yield board, mates[0]


def _mates(board, move):
    board.push(move)
    try:
        return board.is_checkmate()
    finally:
        board.pop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--elo", type=int, nargs="+", default=[1100, 1500, 1900])
    ap.add_argument("--sf-depth", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    maia, lc0 = load_maia3(1), Lc0Process()
    sf = chess.engine.SimpleEngine.popen_uci("/usr/games/stockfish")
    sf.configure({"Threads": 1})
    rows, t0 = [], time.time()
    tm = tl = 0.0
    for board, mate in positions(args.n, args.seed):
        others = [m for m in board.legal_moves if m != mate]
        rnd = rng.choice(others)
        info = sf.analyse(board, chess.engine.Limit(depth=args.sf_depth), multipv=2)
        sf2 = [i["pv"][0] for i in info if i["pv"][0] != mate][0]
        t = time.time()
        logits = {e: maia(board, e).move_logits for e in args.elo}
        tm += time.time() - t
        t = time.time()
        pri = {m: s.prior for m, s in lc0.search(board.fen(), 1).moves.items()}  # a bare FEN, as measured
        tl += time.time() - t
        row = {}
        for name, neg in (("random", rnd), ("sf2", sf2)):
            for e in args.elo:
                lg = logits[e]
                row[f"maia{e}_{name}"] = lg[maia3_move_index(board, mate)] > lg[maia3_move_index(board, neg)]
            row[f"lc0_{name}"] = pri.get(mate.uci(), 0) > pri.get(neg.uci(), 0)
        row["lc0_top_is_mate"] = max(pri, key=pri.get) == mate.uci()
        rows.append(row)
    lc0.close()
    sf.quit()
    n = len(rows)
    print(
        f"{n} positions (of {args.n} drawn; seed {args.seed}); {time.time() - t0:.0f} s; "
        f"maia3 {n * len(args.elo) / tm:.0f} pos/s, lc0 {n / tl:.0f} pos/s"
    )
    print("| feature (one-feature head) | vs random legal move | vs Stockfish best non-mate |")
    print("|---|---|---|")
    names = [f"maia{e}" for e in args.elo] + ["lc0"]
    for k in names:
        cells = []
        for neg in ("random", "sf2"):
            a = np.mean([r[f"{k}_{neg}"] for r in rows])
            cells.append(f"{a:.3f} ± {1.96 * math.sqrt(a * (1 - a) / n):.3f}")
        print(f"| {k} move score | {cells[0]} | {cells[1]} |")
    print(f"lc0 policy top move is the mate: {np.mean([r['lc0_top_is_mate'] for r in rows]):.3f}")


if __name__ == "__main__":
    main()
