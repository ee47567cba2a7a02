"""A method that tries every path to gold labels it might find, and writes down what it found.
Imported by the sealed child process (it must live in an importable module)."""
import dataclasses
import gc
import json
import os

import numpy as np

from w2s_bench.api import Method


def _arrays(obj, seen=None, depth=0):
    """Every numeric array reachable from obj through dataclass fields and containers."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth > 6:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if dataclasses.is_dataclass(obj):
        return [a for f in dataclasses.fields(obj) for a in _arrays(getattr(obj, f.name), seen, depth + 1)]
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in _arrays(x, seen, depth + 1)]
    if isinstance(obj, dict):
        return [a for x in obj.values() for a in _arrays(x, seen, depth + 1)]
    if hasattr(obj, "__dict__"):
        return [a for x in vars(obj).values() for a in _arrays(x, seen, depth + 1)]
    return []


def rows_in_memory() -> int:
    """Lists of split rows {"text", "label", ...} alive in this process (dicts of plain values
    are not tracked by gc; the lists holding them are)."""
    return sum(1 for o in gc.get_objects() if isinstance(o, list) and o
               and isinstance(o[0], dict) and "label" in o[0] and "text" in o[0])


class Adversary(Method):
    name = "adversary"

    class Config(Method.Config):
        findings: str  # where to write what it found
        cache: str  # the stage cache of the run under attack
        task_file: str  # the task's spec file
        data_dir: str  # the folder the task's examples come from

    def train_student(self, weak_labels):
        c, found = self.config, {}
        # 1. the context and the dataset objects: every array reachable from them
        found["arrays"] = [a.tolist() for a in _arrays(self.ctx) + _arrays(weak_labels)]
        found["ctx_fields"] = sorted(f.name for f in dataclasses.fields(self.ctx))
        # 2. the process memory: any split row {"text", "label", ...} still alive
        found["rows_in_memory"] = rows_in_memory()
        # 3. the cache directory (ceilings are trained on gold)
        for key, attempt in {
            "cache_listing": lambda: os.listdir(c.cache),
            "task_spec": lambda: open(c.task_file).read(),
            "task_data": lambda: os.listdir(c.data_dir),
            "task_module": lambda: __import__("w2s_bench.tasks", fromlist=["load_splits"]).load_splits,
            "stages_module": lambda: __import__("w2s_bench.stages", fromlist=["run_cell"]).run_cell,
        }.items():
            try:
                found[key] = repr(attempt())[:200]
            except (PermissionError, ImportError) as e:
                found[key] = f"refused: {type(e).__name__}"
        with open(c.findings, "w") as f:
            json.dump(found, f)
        return self.ctx.train(weak_labels.train, weak_labels.val)


class NaNLoss(Method):
    """A broken method: its loss is NaN from the first step."""
    name = "nan_loss"

    def train_student(self, weak_labels):
        return self.ctx.train(weak_labels.train, weak_labels.val,
                              loss=lambda logits, weak, step, total: logits.sum() * float("nan"))
