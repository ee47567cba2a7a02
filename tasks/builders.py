"""Sources -> examples -> frozen splits. Knows nothing of models or methods.

An example is a dict {"text": str, "label": 0|1, "group": str}; for a pairwise task "text" is a
list [text_a, text_b] and label 1 means a is the correct (chosen) one; for a generative task "text"
is the prompt and "label" the target text (e.g. the solution move), and splits are not balanced. Splits are made by group (every
example of one question / one movie lands in one split) with the spec's seed, and each split is
class-balanced by undersampling to exactly size/2 examples per class.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from w2s_bench.assets import asset_path
from w2s_bench.specs import SPLITS, FileSource, HubSource, SdistSource, SpecError, TaskSpec, WheelSource

# ---- reading sources ------------------------------------------------------------------------


def _read_file(path, fmt: str, encoding: str | None) -> list[dict]:
    """Rows of one registry file of format `fmt` (WheelSource.format), in file order."""
    import pandas as pd

    if fmt == "arrow":
        import datasets

        return datasets.load_from_disk(str(path)).to_list()
    if fmt in ("csv.bz2", "csv"):
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding or "utf-8").to_dict("records")
    if fmt == "orange_tab":  # Orange's .tab: a header row, then a row of types and one of flags
        import csv

        return pd.read_csv(
            path,
            sep="\t",
            skiprows=[1, 2],
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            encoding=encoding or "utf-8",
        ).to_dict("records")
    if fmt == "bigbench_json":  # BIG-bench task.json: examples {input, target_scores}
        rows = []
        for i, ex in enumerate(json.loads(open(path, encoding=encoding or "utf-8").read())["examples"]):
            scores = ex.get("target_scores") or {}
            top = [k for k, v in scores.items() if v == max(scores.values())] if scores else []
            rows.append({"input": ex["input"], "target": top[0] if len(top) == 1 else "", "index": i})
        return rows
    raise SpecError(f"a source of format {fmt!r} holds no rows")


def read_rows(spec: TaskSpec) -> list[dict]:
    """The source's rows as plain dicts, in source order (after the spec's row cleaner, if any)."""
    return clean_rows(spec, _source_rows(spec))


def _source_rows(spec: TaskSpec) -> list[dict]:
    src = spec.source
    if isinstance(src, (WheelSource, SdistSource)):
        if src.format == "hf_model":
            raise SpecError(f"task {spec.name}: a source of format 'hf_model' holds no rows")
        encoding = getattr(src, "encoding", None)
        rows = []
        for p in [src.path, *(getattr(src, "more_paths", None) or ())]:
            rows += _read_file(asset_path(src.package, p), src.format, encoding)
        return rows
    if isinstance(src, FileSource):
        from pathlib import Path

        from w2s_bench.tasks.chess_puzzles import load_puzzles

        return load_puzzles(Path(__file__).parent / src.path, src.sha256)
    if isinstance(src, HubSource):
        import datasets

        if not src.split:
            raise SpecError(f"task {spec.name}: a hub source needs `split`")
        ds = datasets.load_dataset(src.id, src.config, revision=src.revision, split=src.split, data_dir=src.data_dir)
        return ds.to_list()
    raise SpecError(f"task {spec.name}: unknown source {src!r}")


# ---- row cleaners: one registered function per dataset that needs one -----------------------
# A cleaner maps a source row to a row (fields added or rewritten) or None (the row is dropped);
# a task names it in `format.rows`.

ROWS: dict = {}


def row_cleaner(name: str):
    def register(fn):
        ROWS[name] = fn
        return fn

    return register


def clean_rows(spec: TaskSpec, rows: list[dict]) -> list[dict]:
    name = spec.format.rows
    if name is None:
        return rows
    if name not in ROWS:
        raise SpecError(
            f"task {spec.name}: format.rows = {name!r} is not a registered row cleaner; "
            f"known: {', '.join(sorted(ROWS))}"
        )
    return [r for r in (ROWS[name](dict(row)) for row in rows) if r is not None]


_URL = re.compile(r"https?://\S+")
_HANDLE = re.compile(r"@\w+")


def near_duplicate_key(text: str) -> str:
    """A key that near-duplicate texts share: lowercased, URLs, @handles, digits and punctuation
    removed, whitespace collapsed. Grouping by it keeps such texts in one split."""
    text = _HANDLE.sub(" ", _URL.sub(" ", text.lower()))
    return " ".join(re.sub(r"[^a-z]+", " ", text).split())


@row_cleaner("near_duplicates")
def _near_duplicates(row):
    """Texts with no grouping id (MultiEmo sentences carry no review id; tweets are retweeted and
    copied): grouped by near-duplicate key (`dup`) of the row's text column."""
    column = next(c for c in ("input", "text", "Text", "Content") if c in row)
    return {**row, "dup": near_duplicate_key(row[column])}


_SIGNATURE = re.compile(r"\s*[-\u2014\u2013]+\s*(H|Hillary|DJT|Donald J\. Trump)\s*$")


@row_cleaner("election_tweets")
def _election_tweets(row):
    """Orange's election tweets: retweets dropped (their text names another author); signatures
    ("-H", "—Hillary"), URLs and @handles removed (each names or hints at the author); grouped
    by near-duplicate key."""
    if row.get("Is retweet") == "True":
        return None
    text = _SIGNATURE.sub("", row["Content"].strip())
    text = " ".join(_HANDLE.sub("@user", _URL.sub("", text)).replace("&amp;", "&").split())
    if not text:
        return None
    return {**row, "text": text, "dup": near_duplicate_key(text)}


@row_cleaner("newsgroups")
def _newsgroups(row):
    """Orange's 20 Newsgroups (lowercased, punctuation removed): the super-group (`comp`, `sci`,
    ...) as `topic`; a thread key from the post's first words without a leading "re" (the
    subject line), so replies quoting a post stay in its split."""
    words = row["Text"].split()
    if words[:1] == ["re"]:
        words = words[1:]
    return {**row, "topic": row["Category"].split(".")[0], "thread": " ".join(words[:6])}


@row_cleaner("vitaminc")
def _vitaminc(row):
    """BIG-bench VitaminC: "Title: evidence\nClaim: claim"; grouped by the page title (the
    contrastive revisions of one page stay in one split)."""
    evidence, _, claim = row["input"].rpartition("\nClaim:")
    title = evidence.split(":", 1)[0]
    return {**row, "title": title, "evidence": evidence.strip(), "claim": claim.strip()}


# ---- multiple-choice formats: one registration per dataset format --------------------------
# A format maps a source row to (candidate texts, index of the correct one) and may add template
# fields (`fields`); a task names it in `format.choices`. Adding a dataset is one decorated
# function here (the way lm-evaluation-harness pairs a format function with its registration).


@dataclass(frozen=True)
class ChoiceFormat:
    candidates: Callable[[dict], tuple[list, int]]
    fields: Callable[[dict], dict] | None = None  # extra template fields the format needs


CHOICES: dict[str, ChoiceFormat] = {}


def choice_format(name: str, fields: Callable[[dict], dict] | None = None):
    """Register a multiple-choice format under `name` (a task's `format.choices`)."""

    def register(fn):
        if name in CHOICES:
            raise ValueError(f"choice format {name!r} is registered twice")
        CHOICES[name] = ChoiceFormat(fn, fields)
        return fn

    return register


@choice_format("sciq")
def _sciq(row):
    return [row["correct_answer"], row["distractor1"], row["distractor2"], row["distractor3"]], 0


@choice_format("sciq_lower")
def _sciq_lower(row):
    """sciq.v2: every candidate lowercased. In SciQ no correct answer has a capital letter while
    some distractors do ("DNA", "Mars"): a format cue the audit reads (sciq: 0.550)."""
    cands, correct = _sciq(row)
    return [c.lower() for c in cands], correct


@choice_format("lettered")
def _lettered(row):  # ARC, CommonsenseQA, OpenBookQA: choices {text, label}, answerKey
    labels = list(row["choices"]["label"])
    return list(row["choices"]["text"]), labels.index(row["answerKey"])


@choice_format("social_iqa")
def _social_iqa(row):
    return [row["answerA"], row["answerB"], row["answerC"]], int(row["label"]) - 1


@choice_format("piqa")
def _piqa(row):
    return [row["sol1"], row["sol2"]], int(row["label"])


@choice_format("hellaswag")
def _hellaswag(row):
    return list(row["endings"]), int(row["label"])


def _chess_fields(row):  # puzzle ids are s<seed>g<game>p<ply>: one group per game
    return {"moves": " ".join(row["moves_san"]), "game": row["id"].rsplit("p", 1)[0]}


@choice_format("chess", fields=_chess_fields)
def _chess(row):
    """The frozen puzzles: the only winning move vs the engine's second choice, in UCI (e2e4):
    SAN would mark captures, checks and piece moves ('x', '+', 'N'), a format cue the audit
    catches (a format-only baseline reads SAN pairs at 0.77)."""
    return [row["solution_uci"], row["wrong_uci"]], 0


ASSISTANT = "\n\nAssistant:"


def _hh_prompt_end(row) -> int:
    """Anthropic/hh-rlhf: two full transcripts sharing a prompt; it ends after the last
    Assistant turn they share."""
    chosen, rejected = row["chosen"], row["rejected"]
    n = len(os.path.commonprefix([chosen, rejected]))
    cut = chosen.rfind(ASSISTANT, 0, n)
    return 0 if cut < 0 else cut + len(ASSISTANT)


@choice_format("hh_rlhf", fields=lambda row: {"prompt": row["chosen"][: _hh_prompt_end(row)]})
def _hh_rlhf(row):  # the candidates are the two final replies
    cut = _hh_prompt_end(row)
    return [row["chosen"][cut:], row["rejected"][cut:]], 0


_MOVE_NUMBER = re.compile(r"\d+\.+")


@functools.lru_cache(maxsize=4)
def lichess_position(ctx: str):
    """EleutherAI/lichess-puzzles: `ctx` is a SAN transcript with every half-move numbered
    ("1. e4 1... e5 2. Nf3 ..."). Returns (board at the puzzle position, the SAN moves)."""
    import chess

    board, moves = chess.Board(), [t for t in ctx.split() if not _MOVE_NUMBER.fullmatch(t)]
    for san in moves:
        board.push_san(san)  # an illegal transcript raises: the row is broken, not skipped
    return board, tuple(moves)


def lichess_wrong_move(board, best, key) -> str | None:
    """A plausible wrong move, chosen deterministically (`key` seeds it) among the other legal
    moves that do not mate (Lichess accepts any mate in one): first those whose UCI has the
    solution's length (a promotion stays a promotion), then the same piece type, then capture and
    check as the solution. None when no such move exists."""
    piece, capture, check = (board.piece_type_at(best.from_square), board.is_capture(best), board.gives_check(best))

    def likeness(m):
        return (
            len(m.uci()) == len(best.uci()),
            board.piece_type_at(m.from_square) == piece,
            board.is_capture(m) == capture,
            board.gives_check(m) == check,
        )

    def mates(m):
        board.push(m)
        try:
            return board.is_checkmate()
        finally:
            board.pop()

    others = sorted(
        (m for m in board.legal_moves if m != best and not (board.gives_check(m) and mates(m))), key=lambda m: m.uci()
    )
    if not others:
        return None
    top = max(map(likeness, others))
    return _stable_rng("lichess", key).choice([m for m in others if likeness(m) == top]).uci()


def _lichess_fields(row):  # the position and the SAN moves without their numbers
    board, moves = lichess_position(row["ctx"])
    return {"fen": board.fen(), "moves": " ".join(moves)}


@choice_format("lichess", fields=_lichess_fields)
def _lichess(row):
    """Paper tier chess: the solution (`target`, SAN with a leading space) vs a plausible wrong
    move, both in UCI for the reason `_chess` gives."""
    try:
        board, _ = lichess_position(row["ctx"])
        best = board.parse_san(row["target"].strip())
    except ValueError as e:
        raise SpecError(
            f"lichess puzzle {row.get('id')!r}: transcript or target move does not "
            f"replay ({e}); the source is not in the EleutherAI/lichess-puzzles format"
        ) from None
    wrong = lichess_wrong_move(board, best, row["id"])
    return [best.uci()] + ([wrong] if wrong else []), 0


# paper suite (hub parquet schemas; see tasks/paper/*.toml)


@choice_format("dream", fields=lambda row: {"dialogue_text": "\n".join(row["dialogue"])})
def _dream(row):  # dataset-org/dream: choice (list of 3 texts), answer (the correct text)
    cands = list(row["choice"])
    return cands, cands.index(row["answer"])


@choice_format("quail")
def _quail(row):  # textmachinelab/quail: answers (list of 4 texts), correct_answer_id
    return list(row["answers"]), int(row["correct_answer_id"])


@choice_format("cosmos_qa")
def _cosmos_qa(row):  # allenai/cosmos_qa: answer0..answer3, label (index of the correct one)
    return [row[f"answer{i}"] for i in range(4)], int(row["label"])


@choice_format("ethics_utilitarianism")
def _ethics_utilitarianism(row):  # hendrycks/ethics utilitarianism: baseline is the more pleasant
    return [row["baseline"], row["less_pleasant"]], 0


def _stable_rng(*parts) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _choices(fmt, row) -> tuple[dict, str, list] | None:
    """(template fields, the correct candidate, the wrong ones) of a multiple-choice row, or None
    where it has no wrong candidate. {answer} is set per candidate, even where a source has a
    column of that name (DREAM's holds the correct answer's text)."""
    choice = CHOICES[fmt.choices]
    cands, correct = choice.candidates(row)
    wrong = [c for j, c in enumerate(cands) if j != correct and c != cands[correct]]
    if not wrong:
        return None
    return {**row, **(choice.fields(row) if choice.fields else {})}, cands[correct], wrong


def build_examples(spec: TaskSpec, rows: list[dict]) -> list[dict]:
    fmt = spec.format
    out = []
    for i, row in enumerate(rows):
        group = str(row.get(fmt.group_key, i))
        if fmt.builder == "label_column":
            value = str(row[fmt.label_column])
            if value not in fmt.label_map:
                continue
            out.append({"text": fmt.template.format(**row), "label": fmt.label_map[value], "group": group})
        elif fmt.builder in ("multiple_choice", "pairwise"):
            found = _choices(fmt, row)
            if found is None:
                continue
            fields, right, wrong = found
            if fmt.builder == "multiple_choice":
                # one positive and one negative per question: balanced within the group
                neg = _stable_rng(spec.name, spec.splits.seed, group, i).choice(wrong)
                out.append({"text": fmt.template.format(**{**fields, "answer": right}), "label": 1, "group": group})
                out.append({"text": fmt.template.format(**{**fields, "answer": neg}), "label": 0, "group": group})
                continue
            group = str(fields.get(fmt.group_key, i))  # a pair's group may be a format's field
            rng = _stable_rng(spec.name, spec.splits.seed, group, i)
            neg = rng.choice(wrong)
            good, bad = (fmt.template.format(**{**fields, "answer": a}) for a in (right, neg))
            first = rng.random() < 0.5  # balanced order: the correct one first half of the time
            out.append({"text": [good, bad] if first else [bad, good], "label": int(first), "group": group})
        elif fmt.builder == "generative":  # the label is the target text
            out.append({"text": fmt.template.format(**row), "label": str(row[fmt.label_column]), "group": group})
    return out


# ---- format balancing -----------------------------------------------------------------------


def _bins(X, bins: int):
    """One-hot quantile bins of each column (the first bin left out): additive threshold cues."""
    import numpy as np

    cols = []
    for j in range(X.shape[1]):
        edges = np.unique(np.quantile(X[:, j], np.linspace(0, 1, bins + 1)[1:-1]))
        b = np.searchsorted(edges, X[:, j], side="right")
        cols += [(b == k).astype(float) for k in range(1, len(edges) + 1)]
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


def balance_format(
    examples: list[dict], strata: int, template: str | None, seed: int, score_kind: str = "linear"
) -> list[dict]:
    """Keep, in each of `strata` quantile strata of a format-only score, as many examples of each
    class as the rarer class has there (a seeded sample), in source order.

    The score is a least-squares linear fit of the label on the audit's format-only features
    (lengths, punctuation, mean word length..., standardised; w2s_bench.textformat.format_features)
    over all examples: within a stratum the classes have the same distribution of the score, so
    no linear format cue is left for a format-only model to read. `score_kind = "binned"` adds
    one-hot quantile bins (8) of every feature to the fit, so that threshold cues (a depth-3
    tree's "shorter than 40 characters") are balanced away too, and each stratum is crossed with
    the leaves of a depth-3 decision tree fitted to the labels on the same features (the audit's
    tree: its interactions of thresholds). scikit-learn's tree is deterministic for a fixed
    `random_state`; a release that split differently would change the splits, which their frozen
    hashes would report. Least squares, not an iterative
    solver: the same data give the same strata on any numpy.
    """
    import numpy as np

    from w2s_bench.textformat import format_features

    X = format_features([ex["text"] for ex in examples], template)
    y = np.array([ex["label"] for ex in examples], dtype=float)
    std = X.std(0)
    Z = np.c_[np.ones(len(X)), (X - X.mean(0)) / np.where(std > 0, std, 1)]
    if score_kind == "binned":  # plus 8 quantile bins per feature: threshold cues too
        Z = np.c_[Z, _bins(X, 8)]
    score = Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
    edges = np.quantile(score, np.linspace(0, 1, strata + 1)[1:-1])
    cells = np.searchsorted(edges, score, side="right")
    if score_kind == "binned":  # crossed with the leaves of a depth-3 tree on the features
        from sklearn.tree import DecisionTreeClassifier

        leaves = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y).apply(X)
        cells = cells * (int(leaves.max()) + 1) + leaves
    by_stratum: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for i, s in enumerate(cells):
        by_stratum[int(s)][examples[i]["label"]].append(i)
    rng = random.Random(f"{seed}:format")
    keep = []
    for s in sorted(by_stratum):
        neg, pos = by_stratum[s]
        k = min(len(neg), len(pos))
        keep += rng.sample(neg, k) + rng.sample(pos, k)
    return [examples[i] for i in sorted(keep)]


# ---- splitting ------------------------------------------------------------------------------


def make_splits(spec: TaskSpec, examples: list[dict]) -> dict[str, list[dict]]:
    """Deterministic grouped, class-balanced splits of exactly the sizes in the spec."""
    sizes = spec.splits.sizes
    if set(sizes) != set(SPLITS):
        raise SpecError(f"task {spec.name}: splits.sizes must name exactly {SPLITS}")
    if any(n <= 0 or n % 2 for n in sizes.values()):
        raise SpecError(f"task {spec.name}: every split size must be a positive even number")
    if spec.splits.format_strata:
        examples = balance_format(
            examples,
            spec.splits.format_strata,
            spec.format.template,
            spec.splits.seed,
            spec.splits.format_score or "linear",
        )
    by_group: dict[str, list[dict]] = defaultdict(list)
    for ex in examples:
        by_group[ex["group"]].append(ex)
    groups = sorted(by_group)
    random.Random(spec.splits.seed).shuffle(groups)
    if spec.kind == "generative":
        return _unbalanced_splits(spec, by_group, groups)

    splits = {}
    for name in SPLITS:  # fill splits in a fixed order, whole groups at a time
        need = sizes[name] // 2
        pos, neg, rest = [], [], []
        for g in groups:
            if len(pos) >= need and len(neg) >= need:
                rest.append(g)
            elif any(
                (ex["label"] == 1 and len(pos) < need) or (ex["label"] == 0 and len(neg) < need) for ex in by_group[g]
            ):
                for ex in by_group[g]:
                    (pos if ex["label"] == 1 else neg).append(ex)
            else:  # adds only a class that is already full: keep the group for a later split
                rest.append(g)
        groups = rest
        if len(pos) < need or len(neg) < need:
            raise SpecError(
                f"task {spec.name}: not enough examples for split {name!r} "
                f"(need {need} per class, have {len(pos)} positive / {len(neg)} negative); "
                f"lower splits.sizes in the spec"
            )
        rng = random.Random(f"{spec.splits.seed}:{name}")
        chosen = rng.sample(pos, need) + rng.sample(neg, need)
        rng.shuffle(chosen)
        splits[name] = chosen
    return splits


def _unbalanced_splits(spec: TaskSpec, by_group: dict, groups: list) -> dict[str, list[dict]]:
    """Generative tasks have no classes: whole groups in the shuffled order, then exactly `size`
    examples of them."""
    splits, at = {}, 0
    for name in SPLITS:
        need, rows = spec.splits.sizes[name], []
        while len(rows) < need and at < len(groups):
            rows += by_group[groups[at]]
            at += 1
        if len(rows) < need:
            raise SpecError(
                f"task {spec.name}: not enough examples for split {name!r} (need {need}, "
                f"have {len(rows)}); lower splits.sizes in the spec"
            )
        splits[name] = random.Random(f"{spec.splits.seed}:{name}").sample(rows, need)
    return splits


def split_hash(rows: list[dict]) -> str:
    h = hashlib.sha256()
    for ex in rows:
        h.update(json.dumps([ex["group"], ex["text"], ex["label"]], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()
