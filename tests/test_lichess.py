"""Paper-tier chess from EleutherAI/lichess-puzzles, on a local parquet folder in the hub
dataset's schema (id, ctx: SAN transcript with every half-move numbered, target: the best next
move in SAN with a leading space): the pairwise spec (solution vs a derived wrong move, UCI) and
the generative spec (transcript -> move as text) end to end with tiny causal LMs."""

import copy

import chess
import numpy as np
import pandas as pd
import pytest
import torch

from w2s_bench.audit import format_features
from w2s_bench.models import load_tokenizer
from w2s_bench.registry import load_ladder, method_ref
from w2s_bench.specs import HubSource, LadderSpec, LoraSpec, RungSpec
from w2s_bench.tasks import limit_splits, load_splits, load_task
from w2s_bench.tasks.builders import lichess_position, lichess_wrong_move

# hand-written games (SAN); each is cut at several plies below: transcript -> the move played
GAMES = [
    "e4 e5 Bc4 Nc6 Qh5 Nf6 Qxf7#",  # scholar's mate
    "e4 e5 Nf3 d6 Bc4 Bg4 Nc3 g6 Nxe5 Bxd1 Bxf7+ Ke7 Nd5#",  # Legall's mate
    "f3 e5 g4 Qh4#",  # fool's mate
    "e4 c5 Nf3 d6 d4 cxd4 Nxd4 Nf6 Nc3 a6 Be3 e5 Nb3 Be6 f3 Be7 Qd2 O-O O-O-O Nbd7 g4 b5",
    "d4 d5 c4 e6 Nc3 Nf6 Bg5 Nbd7 cxd5 exd5 Nxd5 Nxd5 Bxd8 Bb4+ Qd2 Bxd2+ Kxd2 Kxd8",
    "e4 e5 Nf3 Nc6 Bb5 a6 Ba4 Nf6 O-O Be7 Re1 b5 Bb3 d6 c3 O-O h3 Nb8 d4 Nbd7",
]


def transcript(moves: list[str]) -> str:
    """The dataset's ctx: every half-move numbered, ending with the number of the move to find."""
    parts = []
    for i, san in enumerate(moves):
        parts += [f"{i // 2 + 1}." if i % 2 == 0 else f"{i // 2 + 1}...", san]
    n = len(moves)
    return " ".join(parts + [f"{n // 2 + 1}." if n % 2 == 0 else f"{n // 2 + 1}..."])


def rows() -> list[dict]:
    out = []
    for g, game in enumerate(GAMES):
        moves = game.split()
        for cut in range(max(1, len(moves) - 6), len(moves)):
            out.append({"id": f"t{g}{cut:02d}", "ctx": transcript(moves[:cut]), "target": " " + moves[cut]})
    return out


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lichess")
    (folder / "data").mkdir()
    pd.DataFrame(rows()).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder


def local(name: str, folder, sizes) -> object:
    spec = load_task(name)
    assert spec.source.id == "EleutherAI/lichess-puzzles" and len(spec.source.revision) == 40
    return spec.model_copy(
        update={
            "source": spec.source.model_copy(update={"id": str(folder), "revision": "main"}),
            "splits": spec.splits.model_copy(update={"sizes": sizes}),
        }
    )


def test_transcripts_replay_and_the_scholars_mate_row_reads_right():
    row = rows()[5]
    assert row["ctx"] == "1. e4 1... e5 2. Bc4 2... Nc6 3. Qh5 3... Nf6 4." and row["target"] == " Qxf7#"
    board, moves = lichess_position(row["ctx"])
    assert moves == ("e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6") and board.turn == chess.WHITE
    best = board.parse_san(row["target"].strip())
    # the only other queen capture that gives check, like the solution: Qxe5+
    assert lichess_wrong_move(board, best, row["id"]) == "h5e5"


def test_wrong_move_keeps_a_promotion_a_promotion():
    board = chess.Board("8/4P3/8/8/8/8/k7/4K3 w - - 0 1")
    wrong = lichess_wrong_move(board, chess.Move.from_uci("e7e8q"), "p")
    assert wrong in {"e7e8r", "e7e8b", "e7e8n"}


def test_wrong_move_is_never_a_second_mate():
    board = chess.Board("6k1/5ppp/8/8/8/8/8/R3R1K1 w - - 0 1")  # Ra8# and Re8# both mate
    wrong = chess.Move.from_uci(lichess_wrong_move(board, chess.Move.from_uci("a1a8"), "m"))
    assert board.piece_type_at(wrong.from_square) == chess.ROOK and wrong.uci() != "e1e8"
    board.push(wrong)
    assert not board.is_checkmate()


def test_pairwise_spec_on_local_files(hub_folder):
    spec = local("lichess_puzzles", hub_folder, {"weak_train": 8, "student_train": 8, "val": 4, "test": 4})
    splits = load_splits(spec, verify=False)
    by_id = {r["id"]: r for r in rows()}
    groups = [{r["group"] for r in s} for s in splits.values()]
    assert all(not (a & b) for i, a in enumerate(groups) for b in groups[i + 1 :])
    for split in splits.values():
        assert sum(r["label"] for r in split) * 2 == len(split)  # the solution first half the time
        for r in split:
            good, bad = r["text"] if r["label"] == 1 else r["text"][::-1]
            row = by_id[r["group"]]
            board, _ = lichess_position(row["ctx"])
            solution = board.parse_san(row["target"].strip()).uci()
            wrong = bad.split(" | ")[0].removeprefix("Move: ")
            assert good.startswith(f"Move: {solution} | Position: {board.fen()} | Moves: ")
            assert wrong != solution and chess.Move.from_uci(wrong) in board.legal_moves
            assert good.split(" | ", 1)[1] == bad.split(" | ", 1)[1]  # same position and moves
    # UCI moves of one length: a format-only model sees identical features for both candidates
    pairs = [r["text"] for s in splits.values() for r in s]
    assert np.abs(format_features(pairs, spec.format.template)).max() == 0


def test_generative_spec_on_local_files(hub_folder):
    spec = local("lichess_puzzles_gen", hub_folder, {"weak_train": 8, "student_train": 8, "val": 4, "test": 4})
    splits = load_splits(spec, verify=False)
    by_id = {r["id"]: r for r in rows()}
    assert {k: len(v) for k, v in splits.items()} == spec.splits.sizes
    for split in splits.values():
        for r in split:
            assert r["text"] == by_id[r["group"]]["ctx"] and r["label"] == by_id[r["group"]]["target"]


def test_exact_match_scoring_on_a_hand_case():
    from w2s_bench.diagnostics import diagnose
    from w2s_bench.results import Cell
    from w2s_bench.scoring import score_cell, summarize

    gold = np.array([" Qxf7#", " Nxe5", " Qh4#", " Be3"], dtype=object)
    weak = np.array(["Qxf7#", " Nf3", "", " Bd3"], dtype=object)  # surrounding whitespace ignored
    ceiling = gold.copy()
    student = np.array([" Qxf7#", " Nxe5", " x", " y"], dtype=object)
    s = score_cell(gold, weak, ceiling, student, z=1.0)
    assert (s["weak"]["accuracy"], s["ceiling"]["accuracy"], s["student"]["accuracy"]) == (0.25, 1.0, 0.5)
    assert s["pgr_accuracy"] == pytest.approx((0.5 - 0.25) / (1.0 - 0.25))
    assert s["weak"]["auroc"] is None and s["pgr_auroc"] is None and s["noise_floor_auroc"] is None
    d = diagnose(gold, gold, weak, ceiling, student, {}, seed=0)
    assert d["student_weak_agreement"] == {"overall": 0.25, "weak_right": 1.0, "weak_wrong": 0.0}
    cell = Cell(task="lichess_puzzles_gen", weak_rung="a", strong_rung="b", seed=0, **s, diagnostics=d)
    _, _, suite = summarize([cell.model_dump()])
    assert suite.iloc[0]["pgr_acc"] == pytest.approx(1 / 3) and suite.iloc[0]["pgr_auroc"] is None


@pytest.fixture(scope="module")
def tiny_lms(tmp_path_factory):
    """A weak and a strong tiny causal LM built from a config (GPT-2 architecture, any tokenizer)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny-lm")
    torch.manual_seed(0)
    tok = copy.deepcopy(load_tokenizer(load_ladder("pocket").rung("L1")))
    tok.pad_token = None
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2)).save_pretrained(
        folder
    )
    tok.save_pretrained(folder)
    base = RungSpec(
        name="tiny-lm",
        source=HubSource(type="hub", id=str(folder), revision="main"),
        pooling="last",
        max_length=40,
        lr=1e-3,
        batch_size=4,
        epochs=1,
    )
    return LadderSpec(
        name="tiny-lm",
        description="test",
        rungs=[
            base.model_copy(update={"name": "weak", "num_layers": 1}),
            base.model_copy(update={"name": "strong", "lora": LoraSpec(r=4, alpha=8)}),
        ],
    )


def test_generative_cell_end_to_end(hub_folder, tiny_lms, tmp_path):
    from w2s_bench.generate import GenerativeLM
    from w2s_bench.scoring import score_cell
    from w2s_bench.stages import Cache, run_cell

    spec = local("lichess_puzzles_gen", hub_folder, {"weak_train": 8, "student_train": 8, "val": 4, "test": 4})
    splits = limit_splits(load_splits(spec, verify=False), 6)
    cache = Cache(tmp_path / "cache")
    weak, strong = tiny_lms.rungs
    p = run_cell(cache, spec, splits, tiny_lms, weak, strong, 0, method_ref("naive"))
    assert dict(cache.computed) == {
        s: 1 for s in ("weak", "weak_labels", "ceiling", "ceiling_pred", "student", "student_pred")
    }
    for who in (p.weak, p.ceiling, p.student):
        assert len(who) == len(splits["test"]) and all(isinstance(x, str) and len(x.split()) <= 1 for x in who)
    gold = np.array([r["label"] for r in splits["test"]], dtype=object)
    s = score_cell(gold, p.weak, p.ceiling, p.student, z=1.0)
    assert 0 <= s["student"]["accuracy"] <= 1 and s["student"]["auroc"] is None
    # the student trained on the weak model's predicted moves; the stage reloads and re-decodes
    # the same texts, and padding in a batch does not change a decode
    student = GenerativeLM.load(next((cache.root / "student").iterdir()), strong)
    texts = [r["text"] for r in splits["test"]]
    together = student.predict(texts)
    assert together == list(p.student) and together == [student.predict([t])[0] for t in texts]


def test_other_methods_are_refused_at_once(hub_folder, tiny_lms, tmp_path):
    from w2s_bench.run import evaluate
    from w2s_bench.stages import Cache, MethodError, run_cell

    spec = local("lichess_puzzles_gen", hub_folder, {"weak_train": 8, "student_train": 8, "val": 4, "test": 4})
    cache = Cache(tmp_path / "cache")
    weak, strong = tiny_lms.rungs
    with pytest.raises(MethodError, match="method 'aux_conf' does not support generative tasks"):
        run_cell(cache, spec, {}, tiny_lms, weak, strong, 0, method_ref("aux_conf"))
    assert not cache.computed
    with pytest.raises(MethodError, match="method 'kl' does not support generative tasks"):
        evaluate(method="kl", tasks=["lichess_puzzles_gen"], cache_dir=tmp_path / "c2", quiet=True)


def test_text_predictions_survive_parquet_and_recompute(tmp_path):
    """A generative cell's predictions (texts in *_text columns, probabilities NaN, as run.py
    writes them) next to a binary cell's, read back by the leaderboard and re-scored."""
    from types import SimpleNamespace

    from w2s_bench.diagnostics import diagnose
    from w2s_bench.leaderboard.entry import read_predictions
    from w2s_bench.results import Cell
    from w2s_bench.scoring import recheck, score_cell
    from w2s_bench.specs import ProtocolSpec

    gold = np.array([" Qxf7#", " Nxe5", " Qh4#", " Be3"], dtype=object)
    p = {
        "weak": np.array([" Qxf7#", " Nf3", "", " Bd3"], dtype=object),
        "ceiling": gold.copy(),
        "student": np.array([" Qxf7#", " Nxe5", " x", " Be3"], dtype=object),
    }
    cell = Cell(
        task="lichess_puzzles_gen",
        weak_rung="a",
        strong_rung="b",
        seed=0,
        **score_cell(gold, p["weak"], p["ceiling"], p["student"], 1.0),
        diagnostics=diagnose(gold, gold, p["weak"], p["ceiling"], p["student"], {}, 0),
    )
    key = {"weak_rung": "a", "strong_rung": "b", "seed": 0}
    gen = pd.DataFrame(
        {
            "task": "lichess_puzzles_gen",
            **key,
            "index": np.arange(4),
            **{k: np.nan for k in p},
            **{f"{k}_text": v for k, v in p.items()},
        }
    )
    binary = pd.DataFrame(
        {"task": "sst2", **key, "index": np.arange(2), "weak": [0.2, 0.9], "ceiling": [0.1, 0.8], "student": [0.3, 0.7]}
    )
    pd.concat([binary, gen], ignore_index=True).to_parquet(tmp_path / "p.parquet", index=False)
    preds = read_predictions(tmp_path / "p.parquet")
    result = SimpleNamespace(cells=[cell], limit=None, protocol=ProtocolSpec())
    problems = recheck(
        result, preds[preds.task == "lichess_puzzles_gen"], gold_cache={("lichess_puzzles_gen", None): gold}
    )
    assert problems == []
    tampered = preds[preds.task == "lichess_puzzles_gen"].copy()
    tampered.loc[tampered["index"] == 2, "student_text"] = " Qh4#"
    problems = recheck(result, tampered, gold_cache={("lichess_puzzles_gen", None): gold})
    assert any("student.accuracy" in m for m in problems)
