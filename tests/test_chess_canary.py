"""The memorizer canary on chess move texts (leaderboard/canary.py, `perturb_chess`): a text edit
keeps no position ("R" -> "r" swaps a rook's colour), so chess texts get their own label-preserving
edit, chosen by the task's format: the history dropped, the move number changed and, for about half,
the board mirrored. Checked here with python-chess on tiny hand-made and random positions: the
mirrored position's legal moves are the original's mirrored, the candidate is the same move, the
pair keeps its order; the chess rungs' parser reads every edited text; an exact-text table misses
every one; a memorizer is caught and an honest position-reading predictor is not."""

import random
from types import SimpleNamespace

import chess
import numpy as np
import pytest
from memorizer import key

from w2s_bench import chess_nets
from w2s_bench.leaderboard import canary as C
from w2s_bench.leaderboard import reproduce
from w2s_bench.registry import load_ladder
from w2s_bench.tasks import load_task


def _text(board: chess.Board, uci: str) -> str:
    """A chess task's text (tasks/chess.v3.toml's template) for a board with its game history."""
    san = chess.Board().variation_san(board.move_stack) if board.move_stack else ""
    moves = " ".join(t for t in san.split() if not t.endswith("."))
    return C.CHESS_TEMPLATE.format(answer=uci, fen=board.fen(), moves=moves)


def _played(*sans: str) -> chess.Board:
    board = chess.Board()
    for s in sans:
        board.push_san(s)
    return board


# (board, the pair's two candidate moves): mate, castling rights, en passant, promotion, black to move
CASES = [
    (_played("e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6"), ("h5f7", "h5h4")),
    (_played("e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5"), ("e1g1", "d2d3")),
    (_played("e4", "Nf6", "e5", "d5"), ("e5d6", "e5f6")),
    (chess.Board("8/P6k/8/8/8/8/6K1/8 w - - 0 50"), ("a7a8q", "a7a8n")),
    (_played("e4", "c5", "Nf3"), ("d7d6", "b8c6")),
]


def _pairs():
    return [tuple(_text(b, m) for m in moves) for b, moves in CASES]


def test_chess_tasks_get_the_chess_edit_by_format_not_by_name():
    for name in ("chess", "chess.v2", "chess.v3", "lichess_puzzles"):  # every task posing move texts
        assert C.edit_kind(load_task(name)) == C.CHESS
    for name in ("sst2", "rotten_tomatoes.v3", "lichess_puzzles_gen"):  # text, and generative transcripts
        assert C.edit_kind(load_task(name)) == C.TEXT
    fmt = SimpleNamespace(template=C.CHESS_TEMPLATE)
    assert C.edit_kind(SimpleNamespace(name="any_new_task", kind="pairwise", format=fmt)) == C.CHESS
    assert (
        C.edit_kind(SimpleNamespace(name="chess.v3", kind="pairwise", format=SimpleNamespace(template="{a}"))) == C.TEXT
    )
    assert C._CHESS_TEXT is chess_nets._MOVE_TEXT  # the pattern the chess rungs read
    with pytest.raises(ValueError, match="not a chess move text"):
        C.perturb([("a fine film", "dull")], 0, C.CHESS)


def _random_pairs(n: int, seed: int) -> list[tuple[tuple[str, str], int]]:
    """Random games' positions, each posed as (a capture of the most valuable piece, a quiet
    move) in a random order; label 1 when the first is the capture, a fifth of labels flipped (a
    predictor reading the position gets about 0.8, as a trained head would)."""
    rng, out = random.Random(seed), []
    values = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}
    while len(out) < n:
        board = chess.Board()
        for _ in range(rng.randrange(6, 40)):
            moves = list(board.legal_moves)
            if board.is_game_over() or not moves:
                break
            board.push(rng.choice(moves))
        if board.is_game_over():
            continue
        caps = [m for m in board.legal_moves if board.piece_type_at(m.to_square) in values]
        quiet = [m for m in board.legal_moves if not board.is_capture(m) and not board.gives_check(m)]
        if not caps or not quiet:
            continue
        best = max(caps, key=lambda m: (values[board.piece_type_at(m.to_square)], m.uci()))
        a, b, label = (best, rng.choice(quiet), 1) if rng.random() < 0.5 else (rng.choice(quiet), best, 0)
        out.append(((_text(board, a.uci()), _text(board, b.uci())), label if rng.random() < 0.8 else 1 - label))
    return out


def _same_move(t: str, u: str) -> bool:
    """Whether edited text `u` poses the same move of the same position as `t` (python-chess),
    mirrored or not; both read by the chess rungs' own parser."""
    (b0, m0), (b1, m1) = chess_nets.parse_move_text(t), chess_nets.parse_move_text(u)
    bare = chess.Board(b0.fen())
    mirrored = b1.turn != bare.turn
    ref, move = (bare.mirror(), C.mirror_move(m0)) if mirrored else (bare, m0)
    same = (b1.board_fen(), b1.turn, b1.castling_rights, b1.ep_square, b1.halfmove_clock) == (
        ref.board_fen(),
        ref.turn,
        ref.castling_rights,
        ref.ep_square,
        ref.halfmove_clock,
    )
    legal = set(b1.legal_moves) == {C.mirror_move(m) if mirrored else m for m in bare.legal_moves}
    # Maia3 (the weak rung) reads the board from the side to move's view: the very same input
    tokens = np.array_equal(chess_nets.maia3_tokens(b1), chess_nets.maia3_tokens(bare))
    index = chess_nets.maia3_move_index(b1, m1) == chess_nets.maia3_move_index(bare, m0)
    return same and legal and m1 == move and not b1.move_stack and tokens and index


def test_the_chess_edit_keeps_every_position_and_move_and_misses_an_exact_lookup():
    texts = _pairs() + [x for x, _ in _random_pairs(30, 1)]
    mirrored = []
    for seed in range(4):
        edited = C.perturb(texts, seed, C.CHESS)
        assert C.perturb(texts, seed, C.CHESS) == edited  # a pure function of the drawn seed
        for x, y in zip(texts, edited):
            assert len(y) == 2 and all(_same_move(t, u) for t, u in zip(x, y))  # the pair's order kept
            assert key(y) != key(x) and y[0] != x[0] and y[1] != x[1]  # an exact-text table misses
            assert chess_nets.parse_move_text(y[0])[0].fen() == chess_nets.parse_move_text(y[1])[0].fen()
            mirrored.append(chess_nets.parse_move_text(y[0])[0].turn != chess_nets.parse_move_text(x[0])[0].turn)
    assert 0.3 < np.mean(mirrored) < 0.7  # both edits drawn
    assert C.perturb(texts, 0, C.CHESS) != C.perturb(texts, 1, C.CHESS)  # the seed drawn at verify time decides


def _honest(texts) -> np.ndarray:
    """A predictor that reads the position (the captured piece's value of each candidate)."""

    def score(t):
        board, move = chess_nets.parse_move_text(t)
        piece = board.piece_type_at(move.to_square)
        return {None: 0, chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}[piece]

    return np.array([1 / (1 + np.exp(-(score(a) - score(b)))) for a, b in texts])


def test_a_chess_memorizer_is_caught_and_an_honest_chess_predictor_is_not():
    data = _random_pairs(200, 0)
    texts, gold = [x for x, _ in data], np.array([y for _, y in data])
    table = {key(x): y for x, y in data}  # the public test set's labels, keyed on the texts

    def memorizer(xs):
        p = _honest(xs)
        return np.array([(0.999 if table[key(x)] else 0.001) if key(x) in table else q for x, q in zip(xs, p)])

    edited = C.perturb(texts, random.Random(7).randrange(2**32), C.CHESS)
    stored = {"ceiling": _honest(texts), "student": memorizer(texts)}
    fresh = {"ceiling": _honest(edited), "student": memorizer(edited)}
    acc, why = C.canary(stored, fresh, gold, C.CHESS)
    assert acc["student"][0] == 1.0 and acc["student"][1] < 0.9 and acc["ceiling"][0] == acc["ceiling"][1]
    assert why and "the student's accuracy falls from 1.000 to" in why
    assert "(the move history dropped, the move number changed, the board mirrored for about half)" in why
    honest = {"ceiling": _honest(texts), "student": _honest(texts)}
    acc, why = C.canary(honest, {"ceiling": _honest(edited), "student": _honest(edited)}, gold, C.CHESS)
    assert why is None and acc["student"][0] == acc["student"][1] > 0.7


def test_the_re_run_edits_a_chess_task_with_the_chess_edit(monkeypatch, tmp_path):
    """`reproduce.rerun_cell` (verify --reproduce's canary cell) passes chess.v3's test texts
    through the chess edit: every one still a move text of the same position, none as it was."""
    from w2s_bench import registry, stages

    seen = {}

    def run_cell(cache, task, splits, *a, **k):
        seen["test"] = splits["test"]
        return "fresh"

    monkeypatch.setattr(stages, "run_cell", run_cell)
    monkeypatch.setattr(registry, "method_ref", lambda *a, **k: None)
    ladder = load_ladder("pocket_chess")
    result = SimpleNamespace(
        ladder=ladder.name, limit=12, method="naive", ceiling="standard", protocol=SimpleNamespace(weak_train_size=None)
    )
    weak, strong = (r.name for r in ladder.rungs)
    fresh, gold = reproduce.rerun_cell(result, ("chess.v3", weak, strong, 0), tmp_path, edit_seed=3)
    from w2s_bench.tasks import limit_splits, load_splits

    test = limit_splits(load_splits(load_task("chess.v3")), 12)["test"]
    assert fresh == "fresh" and gold == [r["label"] for r in test] and len(seen["test"]) == len(test)
    for r, e in zip(test, seen["test"]):
        assert e["label"] == r["label"] and isinstance(e["text"], list)
        assert all(u != t and _same_move(t, u) for t, u in zip(r["text"], e["text"]))
