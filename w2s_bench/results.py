"""The result schema (versioned) and the results directory writer.

A results directory holds `result.json` (this schema), `table.csv` (the per task x pair table) and
`predictions.parquet` (per-example test probabilities of weak, ceiling and student, so that every
number can be recomputed from predictions and the frozen labels; for generative tasks the
predicted texts in `weak_text` / `ceiling_text` / `student_text`, the probability columns NaN).
It is written into a temporary folder and renamed into place: never half-written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from w2s_bench.specs import Frozen, ProtocolSpec

# 2: per-cell diagnostics (mistake imitation, concept saliency); 3: the method's code hash and
# the isolation its process ran under (optional in version 2 results, which predate them)
SCHEMA_VERSION = 3


class Metrics(Frozen):
    accuracy: float  # generative tasks: exact match
    auroc: float | None  # None: not defined (generative tasks)


class Cell(Frozen):
    task: str
    weak_rung: str
    strong_rung: str
    seed: int
    n_test: int
    weak: Metrics
    ceiling: Metrics
    student: Metrics
    pgr_accuracy: float | None  # None: ceiling - weak under the noise floor
    pgr_auroc: float | None
    noise_floor_accuracy: float
    noise_floor_auroc: float | None  # None where AUROC is not defined (generative tasks)
    diagnostics: Diagnostics


class Agreement(Frozen):
    overall: float
    weak_right: float | None  # agreement with the weak model where its label is right
    weak_wrong: float | None  # ... where it is wrong (imitation of its mistakes)


class Probe(Frozen):
    pretrained: float | None
    student: float | None  # None: the method's predictor exposes no features
    ceiling: float | None


class Diagnostics(Frozen):
    student_weak_agreement: Agreement
    ceiling_weak_agreement: Agreement
    probe_accuracy: Probe  # logistic probe fitted on gold val, accuracy on test


class TaskInfo(Frozen):
    spec_sha256: str
    split_sha256: dict[str, str]


class Environment(Frozen):
    git_commit: str | None
    git_dirty: bool | None
    packages: dict[str, str]
    python: str
    device: str
    dtype: str
    threads: int
    # how the method's processes were sealed (w2s_bench/isolate.py): "bubblewrap" or "audit-hook"
    isolation: str | None = None


class Result(Frozen):
    schema_version: Literal[2, 3] = SCHEMA_VERSION
    suite: str
    ladder: str
    ladder_sha256: str
    method: str
    method_config: dict
    method_config_sha256: str
    method_code_sha256: str | None = None  # sha256 of the method's source (registry.code_sha256)
    protocol: ProtocolSpec
    # which ceiling PGR is measured against: the strong rung trained on gold ("standard"), or
    # the same after unsupervised LM fine-tuning on the task's inputs ("generative")
    ceiling: Literal["standard", "generative"] = "standard"
    seeds: list[int]
    pairs: list[tuple[str, str]]
    limit: int | None  # examples per split when --limit was given (not a leaderboard run)
    tasks: dict[str, TaskInfo]
    cells: list[Cell]
    summary: dict  # suite-level mean PGR with CI, as printed
    environment: Environment
    wall_time_s: float
    created_utc: str

    @model_validator(mode="after")
    def _v3_fields(self):
        if self.schema_version >= 3 and (self.method_code_sha256 is None or self.environment.isolation is None):
            raise ValueError(
                f"schema_version {self.schema_version} requires method_code_sha256 and environment.isolation"
            )
        return self


def write_results(out: Path, result: Result, per_pair, predictions) -> Path:
    """Write the results directory atomically (temp folder + rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "result.json").write_text(result.model_dump_json(indent=1) + "\n")
    per_pair.to_csv(tmp / "table.csv", index=False)
    predictions.to_parquet(tmp / "predictions.parquet", index=False)
    if out.exists():
        old = out.with_name(f".{out.name}.old{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out
