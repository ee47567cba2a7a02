"""Chess networks as frozen rungs (ladder pocket_chess): the chess tasks' move texts parsed back
into a position with its history, lc0's move statistics in python-chess's frame, the rung spec's
chess table, its features reached through the frozen-rung path (encode_frozen, the bank,
build_classifier), and, with the real 84 MB asset (slow; skipped when it cannot be fetched), known
answers of move_features against the networks' own outputs."""

import chess
import numpy as np
import pytest

from w2s_bench import chess_nets, models, train
from w2s_bench.assets import AssetError, asset_dir
from w2s_bench.chess_nets import Lc0Move, Lc0Search, in_board_frame, move_features, parse_move_text
from w2s_bench.features import BANK, rung_key
from w2s_bench.registry import load_ladder, load_suite
from w2s_bench.specs import RungSpec, spec_hash

SCHOLAR = ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6"]  # white to move: Qxf7# (h5f7)


def _text(uci: str, moves: list[str], fen: str | None = None) -> str:
    board = chess.Board()
    for san in moves:
        board.push_san(san)
    return f"Move: {uci} | Position: {fen or board.fen()} | Moves: {' '.join(moves)}"


def test_move_text_of_a_chess_v2_pair_gives_the_position_with_its_history():
    from w2s_bench.tasks import load_splits, load_task

    row = load_splits(load_task("chess.v2"))["test"][0]
    for text in row["text"]:
        board, move = parse_move_text(text)
        fen = text.split(" | Position: ")[1].split(" | ")[0]
        assert board.fen() == fen and move in board.legal_moves
        assert len(board.move_stack) == len(text.split(" | Moves: ")[1].split())
        assert board.root() == chess.Board()  # the history starts at the start position


def test_move_text_without_a_replayable_history_is_the_bare_fen_and_bad_texts_are_refused():
    fen = "6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1"
    board, move = parse_move_text(f"Move: d1d8 | Position: {fen} | Moves: e4 e5")  # does not reach it
    assert board.fen() == fen and not board.move_stack and move.uci() == "d1d8"
    board, _ = parse_move_text(f"Move: d1d8 | Position: {fen} | Moves: ")
    assert board.fen() == fen
    with pytest.raises(ValueError, match="not a legal move"):
        parse_move_text(f"Move: d1e2 | Position: {fen} | Moves: ")
    with pytest.raises(ValueError, match="not a chess move text"):
        parse_move_text("A review: great film")


def test_lc0_castling_in_king_takes_rook_form_is_named_as_python_chess_does():
    board = chess.Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    stats = {"e1h1": Lc0Move(0.5, 0, 0.0, None), "e1a1": Lc0Move(0.3, 0, 0.0, None), "a1a8": Lc0Move(0.2, 0, 0.0, None)}
    got = in_board_frame(Lc0Search(stats, 0.1, 0.2, 0.1, "e1h1"), board)
    assert list(got.moves) == ["e1g1", "e1c1", "a1a8"] and got.bestmove == "e1g1"
    assert all(board.parse_uci(m) in board.legal_moves for m in got.moves)


def test_parse_verbose_stats_reads_priors_visits_and_values():
    lines = [
        "info string c4f7  (736 ) N:       0 (+ 0) (P: 45.13%) (WL:  -.-----) (D: -.---) (M:  -.-) "
        "(Q:  0.00000) (U: 0.68215) (S:  1.45558) (V:  -.----) ",
        "info string h5f7  (1135) N:       3 (+ 0) (P: 43.38%) (WL:  1.00000) (D: 0.000) (M:  0.0) "
        "(Q:  1.00000) (U: 0.32788) (S:  1.36238) (V:  1.0000) (T) ",
        "info string node  (  43) N:       4 (+ 2) (P: 43.38%) (WL:  0.99076) (D: 0.005) (M: 22.3) "
        "(Q:  0.99076) (V:  0.9632) ",
        "bestmove h5f7",
    ]
    got = chess_nets.parse_verbose_stats(lines)
    assert list(got.moves) == ["c4f7", "h5f7"] and got.bestmove == "h5f7"
    assert got.moves["h5f7"] == Lc0Move(0.4338, 3, 1.0, 1.0) and got.moves["c4f7"].value is None
    assert (got.wl, got.draw, got.value) == (0.99076, 0.005, 0.9632)
    with pytest.raises(RuntimeError, match="no root"):
        chess_nets.parse_verbose_stats(lines[:2] + lines[3:])


def test_pocket_chess_ladder_and_suite_load_and_a_chess_table_needs_a_chess_net_frozen_rung():
    ladder = load_ladder("pocket_chess")
    weak, strong = ladder.rungs
    assert (weak.chess.elo, weak.chess.features) == (600, ["move_logit"])
    assert strong.chess.features == ["log_prior", "value_after"] and strong.chess.elo is None
    suite = load_suite("pocket_chess")
    assert suite.pairs == [("maia600", "lc0")] and suite.tasks == ["chess.v3"]
    from w2s_bench.tasks import load_task

    v2, v3 = load_task("chess.v2"), load_task("chess.v3")
    assert v3.splits.sizes["test"] >= 1000 and v3.source == v2.source and v3.format == v2.format
    base = weak.model_dump()
    with pytest.raises(ValueError, match="chess table"):
        RungSpec(**{**base, "chess": None})
    with pytest.raises(ValueError, match="chess table"):
        RungSpec(**{**base, "source": {**base["source"], "format": "hf_model"}})
    with pytest.raises(ValueError, match="frozen"):
        RungSpec(**{**base, "kind": "finetune"})


def test_feature_keys_of_text_rungs_are_unchanged_and_chess_rungs_differ_by_their_table():
    mini1 = load_ladder("pocket_frozen").rungs[0]
    old = spec_hash(
        {
            "source": mini1.source,
            "num_layers": mini1.num_layers,
            "pooling": mini1.pooling,
            "max_length": mini1.max_length,
            "dtype": mini1.dtype,
        }
    )
    assert rung_key(mini1) == old  # the cached features of every text rung keep their keys
    weak = load_ladder("pocket_chess").rungs[0]
    other = RungSpec(**{**weak.model_dump(), "chess": {"features": ["move_logit"], "elo": 1900}})
    assert rung_key(other) != rung_key(weak) and train.family_key(other) != train.family_key(weak)


def test_chess_rung_features_go_through_encode_frozen_the_bank_and_a_head_of_their_width(monkeypatch):
    calls = []

    def fake(net, features, texts, elo=None):
        calls.append((net, features, len(texts), elo))
        return np.arange(len(texts) * len(features), dtype=np.float32).reshape(len(texts), len(features))

    monkeypatch.setattr(chess_nets, "move_features", fake)
    weak, strong = load_ladder("pocket_chess").rungs
    texts = [_text("h5f7", SCHOLAR), _text("c4f7", SCHOLAR)]
    assert train.encode_frozen(strong, texts).shape == (2, 2)
    assert calls[-1] == ("lc0", ("log_prior", "value_after"), 2, None)
    monkeypatch.setattr(BANK, "tables", {})
    got = train.features_of(weak, texts)
    assert calls[-1] == ("maia3", ("move_logit",), 2, 600) and got.tolist() == [[0.0], [1.0]]
    assert BANK.get(weak, texts) is not None  # kept: a second read computes nothing
    n = len(calls)
    train.features_of(weak, texts)
    assert len(calls) == n
    head = models.build_classifier(strong, 0)
    assert isinstance(head, models.FrozenClassifier) and head.head.in_features == 2
    bad = RungSpec(**{**weak.model_dump(), "source": {**weak.model_dump()["source"], "path": "models/other.onnx"}})
    with pytest.raises(ValueError, match="a chess network is"):
        chess_nets.rung_features(bad, texts)


def test_move_features_refuses_features_a_network_has_not_and_maia_without_an_elo():
    with pytest.raises(ValueError, match="maia3 features are"):
        move_features("maia3", ("log_prior",), [], 600)
    with pytest.raises(ValueError, match="lc0 features are"):
        move_features("lc0", ("move_logit",), [])
    with pytest.raises(ValueError, match="needs an elo"):
        move_features("maia3", ("move_logit",), [])


# ---- the real networks (the 84 MB tarball; slow) -------------------------------------------


@pytest.fixture(scope="module")
def chess_asset():
    pytest.importorskip("onnxruntime", reason="Maia3 needs ONNX Runtime: pip install onnxruntime")
    try:
        return asset_dir(chess_nets.ASSET)
    except AssetError as e:
        pytest.skip(f"the asset {chess_nets.ASSET} cannot be fetched here: {str(e).splitlines()[0]}")


@pytest.mark.slow
def test_move_features_known_answers(chess_asset):
    texts = [_text("h5f7", SCHOLAR), _text("c4f7", SCHOLAR), _text("h5h6", SCHOLAR)]
    lc0 = move_features("lc0", ("log_prior", "value_after"), texts)
    # lc0 0.32.1 + T1 on this game (position startpos moves ...), VerboseMoveStats: h5f7 P 82.10 %
    assert lc0[0, 0] == pytest.approx(np.log(0.821), abs=1e-3)
    assert lc0[0, 1] == 1.0  # Qxf7 mates: the rules' value
    assert lc0[1, 0] < lc0[0, 0] and -1 <= lc0[1, 1] < 1 and lc0[2, 1] < lc0[1, 1]  # Qh6?? loses the queen
    maia = move_features("maia3", ("move_logit", "value_after"), texts, elo=600)
    board, _ = parse_move_text(texts[0])
    logits = chess_nets.load_maia3()(board, 600).move_logits
    assert maia[:, 0].tolist() == pytest.approx(
        [float(logits[chess_nets.maia3_move_index(board, m)]) for m in ("h5f7", "c4f7", "h5h6")]
    )
    assert maia[0, 0] > maia[1, 0] and maia[0, 1] == 1.0 and -1 <= maia[2, 1] < 1
