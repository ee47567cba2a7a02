"""The memorizer canary: a re-run on test texts edited in ways that keep their labels.

Every offline task's data is public, so a method can ship a table built from the public corpus
(a hash of each test text and its label fits in a few kilobytes) and predict from it: its
predictions reproduce exactly, and no sandbox sees a table that is part of the method's code.
What a table cannot do is recognise a text it has never seen. `verify --reproduce` therefore
re-runs one cell per new entry, drawn at CI time, with every test text passed through `perturb`:
a word-level edit (one stopword dropped, else one word doubled), a change of case, an extra space
and a changed final punctuation mark, drawn from a seed taken from the operating system at CI
time (never derivable from the entry). Chess move texts (a task whose format is the chess move
text that w2s_bench/chess_nets.py reads: "Move: <uci> | Position: <fen> | Moves: <san ...>") keep
no position under a text edit (a changed case swaps a piece's colour), so they get `perturb_chess`
instead: the move history dropped (an empty history is read as the bare position), the move number
changed and, for about half of the examples, the whole board mirrored (colours swapped, ranks
mirrored, the move mirrored with it); chess is the same game under that symmetry, so the label
stays. The ceiling and an honest student move by about the same
amount; a student that reads its answers from a table keyed on the texts falls to whatever it does
without one. A cell is rejected when the student's accuracy drop exceeds the ceiling's by more
than MAX_EXCESS_DROP (measured on every pocket.v3 method over 5 seeds:
benchmarks/results/canary.md).

What it does not stop: a table keyed on what the edits leave alone (the set of content words, say)
or a fuzzy nearest-neighbour lookup into a shipped copy of the corpus. Those need the corpus's
content words in the method's files; `check-method` lists every file of a method with its size,
and a binary file needs a declared reason.
"""

from __future__ import annotations

import random
import re

import chess
import numpy as np

from w2s_bench import chess_nets

STOPWORDS = frozenset("the a an of to and is it this that in for with as on at by".split())
NEGATIONS = frozenset("not no never nor n't cannot without".split())
MAX_EXCESS_DROP = 0.05  # benchmarks/results/canary.md: the honest methods' largest excess, with room


def _edit_words(words: list[str], rng: random.Random) -> list[str]:
    bare = [w.lower().strip(".,!?;:\"'()") for w in words]
    stop = [i for i, b in enumerate(bare) if b in STOPWORDS]
    if stop and len(words) > 1:
        i = rng.choice(stop)
        return words[:i] + words[i + 1 :]
    safe = [i for i, b in enumerate(bare) if b and b not in NEGATIONS and not b.endswith("n't")]
    if not safe:
        return words
    i = rng.choice(safe)
    return words[: i + 1] + words[i:]


def perturb_one(text: str, rng: random.Random) -> str:
    words = _edit_words(text.split(), rng)
    if not words:
        return text
    case = rng.randrange(3)
    if case == 1:
        words = [w.lower() for w in words]
    elif case == 2:
        words[0] = words[0][:1].swapcase() + words[0][1:]
    gap = rng.randrange(len(words))
    out = " ".join(words[: gap + 1]) + ("  " if gap + 1 < len(words) else "") + " ".join(words[gap + 1 :])
    end = re.search(r"[.!?]+$", out)
    return (out[: end.start()] + rng.choice(["", " .", "!"])) if end else out + rng.choice([" .", "."])


# the chess move text (tasks/chess*.toml, lichess_puzzles.toml; w2s_bench/chess_nets.py parses it)
CHESS_TEMPLATE = "Move: {answer} | Position: {fen} | Moves: {moves}"
_CHESS_TEXT = chess_nets._MOVE_TEXT  # what the chess rungs read from a text
TEXT, CHESS = "text", "chess"
EDITS = {
    TEXT: "a stopword dropped or a word doubled, case, spacing, punctuation",
    CHESS: "the move history dropped, the move number changed, the board mirrored for about half",
}


def edit_kind(task) -> str:
    """Which edits keep a task's labels: CHESS for a pairwise task whose texts are chess move
    texts (its format's template), else TEXT. By format, never by task name."""
    fmt = getattr(task, "format", None)
    if task.kind == "pairwise" and getattr(fmt, "template", None) == CHESS_TEMPLATE:
        return CHESS
    return TEXT


def mirror_move(move: chess.Move) -> chess.Move:
    return chess.Move(chess.square_mirror(move.from_square), chess.square_mirror(move.to_square), move.promotion)


def _chess_edit(text: str, mirror: bool, later: int) -> str:
    m = _CHESS_TEXT.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a chess move text (Move: <uci> | Position: <fen> | Moves: <san ...>): {text[:80]!r}")
    uci, fen, _ = m.groups()
    board, move = chess.Board(fen), chess.Move.from_uci(uci)
    if move not in board.legal_moves:
        raise ValueError(f"{uci} is not a legal move in {fen}")
    if mirror:
        board, move = board.mirror(), mirror_move(move)
        assert move in board.legal_moves  # the symmetry of the rules (tests/test_chess_canary.py)
    board.fullmove_number += later  # read by no rule (the fifty-move rule reads the halfmove clock)
    return CHESS_TEMPLATE.format(answer=move.uci(), fen=board.fen(), moves="")


def perturb_chess(x, rng: random.Random):
    """A chess move text, or a pair of them on one position, edited keeping the label: the move
    history dropped (the bare position; repetitions are all the history tells), the move number
    made 1 to 40 later and, with probability 1/2 (drawn once for a pair), the board mirrored:
    colours swapped, ranks mirrored, side to move, castling rights, en passant square and the
    candidate move with it. The rules are symmetric under that map, so each candidate is the same
    move of the same position, and the pair's order (its label) is kept."""
    mirror, later = rng.random() < 0.5, rng.randint(1, 40)
    if isinstance(x, (list, tuple)):
        return tuple(_chess_edit(t, mirror, later) for t in x)
    return _chess_edit(x, mirror, later)


def perturb(texts, seed: int, kind: str = TEXT) -> list:
    """Each text (or each part of a text pair) edited by `perturb_one` (TEXT), or each chess text
    or pair by `perturb_chess` (CHESS; `edit_kind` picks), from one seed."""
    rng = random.Random(seed)
    if kind == CHESS:
        return [perturb_chess(x, rng) for x in texts]
    if kind != TEXT:
        raise ValueError(f"canary edits are {TEXT!r} or {CHESS!r}, not {kind!r}")
    return [
        tuple(perturb_one(t, rng) for t in x) if isinstance(x, (list, tuple)) else perturb_one(x, rng) for x in texts
    ]


def accuracy(p, gold) -> float:
    return float(np.mean((np.asarray(p) > 0.5) == (np.asarray(gold) == 1)))


def canary(stored: dict, fresh: dict, gold, kind: str = TEXT) -> tuple[dict, str | None]:
    """({model: (accuracy on the texts, on the edited texts)}, why the student fails or None).
    `stored`: the entry's test predictions; `fresh`: the re-run's on the edited texts."""
    acc = {who: (accuracy(stored[who], gold), accuracy(fresh[who], gold)) for who in ("ceiling", "student")}
    drop = {who: a - b for who, (a, b) in acc.items()}
    excess = drop["student"] - drop["ceiling"]
    if excess <= MAX_EXCESS_DROP:
        return acc, None
    return acc, (
        f"on test texts edited without changing their labels ({EDITS[kind]}) the student's accuracy falls from "
        f"{acc['student'][0]:.3f} to {acc['student'][1]:.3f} while the ceiling's moves "
        f"{-drop['ceiling']:+.3f}: {excess:.3f} beyond it (at most {MAX_EXCESS_DROP} allowed). "
        f"A method that recognises the test texts themselves (a table built from the "
        f"public corpus) is not a weak-to-strong method; the board does not take it"
    )
