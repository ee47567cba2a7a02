"""A method that tries every path to gold labels it might find, and writes down what it found.
Imported by the sealed child process (it must live in an importable module)."""

import dataclasses
import gc
import json
import os

import numpy as np

from w2s_bench.api import Method, TrainedClassifier


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
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, list) and o and isinstance(o[0], dict) and "label" in o[0] and "text" in o[0]
    )


class Adversary(Method):
    name = "adversary"

    class Config(Method.Config):
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
        print(f"FINDINGS {json.dumps(found)}", flush=True)  # stdout: no file is writable
        return self.ctx.train(weak_labels.train, weak_labels.val)


class NaNLoss(Method):
    """A broken method: its loss is NaN from the first step."""

    name = "nan_loss"

    def train_student(self, weak_labels):
        return self.ctx.train(
            weak_labels.train, weak_labels.val, loss=lambda logits, weak, step, total: logits.sum() * float("nan")
        )


# ---- the ways in an adversarial review found: each must end with no gold label in the student's predictions ----


def _labels_in_frames(texts):
    """Gold labels of `texts` from split rows {"text", "label"} in any calling frame, or None."""
    import sys

    table, frame = {}, sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            for rows in value.values() if isinstance(value, dict) else [value]:
                if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "label" in rows[0]:
                    table.update({str(r["text"]): r["label"] for r in rows if "text" in r})
        frame = frame.f_back
    found = [table.get(str(t)) for t in texts]
    return None if None in found else np.array(found, dtype=np.float64)


class FramePeeker(TrainedClassifier):
    """A predictor that reads its callers' frames for the gold labels of what it predicts."""

    def predict(self, texts, desc=None):
        gold = _labels_in_frames(texts)
        return gold if gold is not None else super().predict(texts, desc)


class PeekingMethod(Method):
    name = "peeking"

    def train_student(self, weak_labels):
        trained = self.ctx.train(weak_labels.train, weak_labels.val)
        return FramePeeker(trained.model, trained.rung)


class Replay(TrainedClassifier):
    """A predictor that answers with stolen test probabilities where it has them."""

    def __init__(self, model, rung, history=None, init=None, stolen=None):
        super().__init__(model, rung, history, init)
        self.stolen = stolen

    def predict(self, texts, desc=None):
        s = self.stolen  # by position, or a table text -> label
        if isinstance(s, dict) and all(str(t) in s for t in texts):
            return np.array([s[str(t)] for t in texts], dtype=np.float64)
        if isinstance(s, list) and len(s) == len(texts):
            return np.array(s, dtype=np.float64)
        return super().predict(texts, desc)

    def save(self, folder):
        super().save(folder)
        with open(os.path.join(folder, "stolen.json"), "w") as f:
            json.dump(self.stolen, f)

    @classmethod
    def load(cls, folder, rung):
        plain = TrainedClassifier.load(folder, rung)
        with open(os.path.join(folder, "stolen.json")) as f:
            return cls(plain.model, rung, stolen=json.load(f))


SPAWN_CODE = """
import json, sys
from w2s_bench.tasks import load_splits, load_task
splits = load_splits(load_task(sys.argv[1]))
print(json.dumps({str(r["text"]): r["label"] for rows in splits.values() for r in rows}))
"""


class Spawner(Method):
    """Starts a fresh, unsealed interpreter (in one of several ways) that rebuilds the splits."""

    name = "spawner"

    class Config(Method.Config):
        how: str  # subprocess | os.system | multiprocessing | ctypes
        task: str = "rotten_tomatoes"

    def train_student(self, weak_labels):
        import subprocess
        import sys

        how, table = self.config.how, {}
        try:
            if how == "subprocess":
                out = subprocess.run(
                    [sys.executable, "-c", SPAWN_CODE, self.config.task], capture_output=True, text=True
                ).stdout
                table = json.loads(out)
            elif how == "os.system":
                os.system(f"{sys.executable} -c 'print(1)'")
            elif how == "multiprocessing":
                import multiprocessing

                p = multiprocessing.get_context("spawn").Process(target=print)
                p.start()
                p.join()
            elif how == "ctypes":
                import ctypes

                ctypes.CDLL(None).system(b"true")
        except Exception:  # noqa: BLE001 - a hostile method hides its failures
            pass
        if not table:
            return _WrongShape()  # (what it returns does not matter: the attempt fails the stage)
        trained = self.ctx.train(weak_labels.train, weak_labels.val)
        return Replay(trained.model, trained.rung, stolen=table)


class NativeReader(Method):
    """Reads the ceiling's test predictions from the stage cache with native code (pyarrow's
    filesystem: no Python audit event), and answers with them."""

    name = "native_reader"

    class Config(Method.Config):
        cache: str

    def train_student(self, weak_labels):
        import io

        import pyarrow.fs as pafs

        stolen = None
        try:
            fs = pafs.LocalFileSystem()
            for info in fs.get_file_info(pafs.FileSelector(f"{self.config.cache}/ceiling_pred", recursive=True)):
                if info.path.endswith("probs.npz"):
                    with fs.open_input_file(info.path) as f:
                        stolen = np.load(io.BytesIO(f.read()))["test"].tolist()
        except OSError:
            pass
        trained = self.ctx.train(weak_labels.train, weak_labels.val)
        return Replay(trained.model, trained.rung, stolen=stolen)


class Writer(Method):
    """Tries to change the harness's code on disk, at import of its config."""

    name = "writer"

    class Config(Method.Config):
        target: str = ""

        def model_post_init(self, _):
            if self.target:
                with open(self.target, "a") as f:
                    f.write("# tampered\n")


# the broken methods of tests/test_pipeline.py (they must be importable by the sealed process)
class _WrongShape:
    """A predictor that returns one probability too few."""

    def predict(self, texts, desc=None):
        return np.full(len(texts) - 1, 0.5)

    def save(self, folder):
        pass

    @classmethod
    def load(cls, folder, rung):
        return cls()


class WrongShape(Method):
    name = "wrong_shape"

    def train_student(self, weak_labels):
        return _WrongShape()


class Raises(Method):
    name = "raises"

    def train_student(self, weak_labels):
        raise RuntimeError("boom")


class NotAPredictor(Method):
    name = "not_a_predictor"

    def train_student(self, weak_labels):
        return np.zeros(3)
