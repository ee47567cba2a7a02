"""Run a method where gold labels do not exist: a separate process that never held them.

The student stage calls `train_student` in a child process forked from a clean server process
(multiprocessing "forkserver", started from a fresh interpreter, so nothing of the parent's
memory — the splits with their gold labels — is in it). The child receives the context and the
weak labels, nothing else. Inside it:

- the harness modules that can produce gold labels (task loaders, stages, scorer, runner,
  registry) are made unimportable, and
- a Python audit hook refuses to open or list anything under the stage cache (ceilings are
  trained on gold), the task specs and data, and the task datasets' asset folders.

A method's predictor is saved by the child into the stage's temp folder; the parent loads it.
What this cannot stop: native code (e.g. pyarrow) opening a hard-coded path. That, and any method
importing more than `w2s_bench.api`, is caught by `w2s-bench check-method` and by review.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from pathlib import Path

# modules that read task data, the cache or test labels; a method never needs them
HIDDEN_MODULES = ("w2s_bench.tasks", "w2s_bench.tasks.builders", "w2s_bench.stages", "w2s_bench.run",
                  "w2s_bench.scoring", "w2s_bench.registry", "w2s_bench.diagnostics",
                  "w2s_bench.results", "w2s_bench.report", "w2s_bench.cli", "w2s_bench.check")
_AUDITED = ("open", "os.listdir", "os.scandir", "os.walk", "glob.glob", "shutil.copyfile",
            "os.rename", "os.remove")

_blocked: tuple[str, ...] = ()
_allowed: tuple[str, ...] = ()  # the stage's own temp folder, where the predictor is saved
attempts: list[str] = []  # blocked reads tried (even if the method caught the error)


class GoldAccessError(PermissionError):
    pass


def _audit(event, args):
    if not _blocked or event not in _AUDITED or not args:
        return
    target = args[0]
    if isinstance(target, int) or target is None:
        return
    try:
        path = os.path.realpath(os.fsdecode(target))
    except (TypeError, ValueError):
        return
    if any(path == a or path.startswith(a + os.sep) for a in _allowed):
        return
    for root in _blocked:
        if path == root or path.startswith(root + os.sep):
            attempts.append(path)
            raise GoldAccessError(f"a method may not read {path}: it is under {root}, which holds "
                                  f"gold labels or models trained on them")


def seal(blocked_paths, allowed_paths=()) -> None:
    """Hide gold-producing modules and block reads under `blocked_paths` (except under
    `allowed_paths`) for this process."""
    global _blocked, _allowed
    _blocked = tuple(os.path.realpath(str(p)) for p in blocked_paths)
    _allowed = tuple(os.path.realpath(str(p)) for p in allowed_paths)
    for name in HIDDEN_MODULES:
        sys.modules[name] = None  # `import` now raises ImportError
    sys.addaudithook(_audit)


def _watch_parent(ppid: int) -> None:
    while True:  # an orphan (parent killed with -9) stops instead of training on
        time.sleep(1.0)
        try:
            os.kill(ppid, 0)
        except ProcessLookupError:
            os._exit(1)


def _child(method_cls, ctx, config, weak_labels, tmp: str, blocked, ppid: int) -> None:
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    from tqdm.auto import tqdm
    tqdm.set_lock(threading.RLock())  # not a multiprocessing lock: nothing to leak at os._exit
    tmp = Path(tmp)
    try:
        seal(blocked, [tmp])
        predictor = method_cls(ctx, config).train_student(weak_labels)
        problem = contract_problem(predictor)
        if attempts:
            problem = (f"it tried to read {len(attempts)} path(s) that hold gold labels or models "
                       f"trained on them, first {attempts[0]}; a method may use only what "
                       f"w2s_bench.api gives it")
        if problem:
            (tmp / "error.json").write_text(json.dumps({"contract": problem}))
            os._exit(3)
        predictor.save(tmp)
        cls = type(predictor)
        (tmp / "predictor.json").write_text(json.dumps({"class": f"{cls.__module__}:{cls.__qualname__}"}))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        (tmp / "error.json").write_text(json.dumps({"error": f"{type(e).__name__}: {e}",
                                                    "traceback": traceback.format_exc()}))
        os._exit(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def contract_problem(predictor) -> str | None:
    for attr in ("predict", "save"):
        if not callable(getattr(predictor, attr, None)):
            return (f"train_student must return a predictor with .predict(texts) and .save(folder) "
                    f"(e.g. the TrainedClassifier that ctx.train returns), got {type(predictor).__name__}")
    if not callable(getattr(type(predictor), "load", None)):
        return f"the predictor class {type(predictor).__name__} needs a classmethod load(folder, rung)"
    return None


_context = None


def _mp_context():
    global _context
    if _context is None:
        _context = mp.get_context("forkserver")
        # imported once by the server (never with gold in memory), so each fork starts warm
        _context.set_forkserver_preload(["w2s_bench.api", "w2s_bench.lm", "transformers", "peft",
                                         "transformers.models.bert.modeling_bert",
                                         "sklearn.metrics", "sklearn.linear_model",
                                         "sklearn.neighbors"])
    return _context


def train_isolated(method_cls, ctx, config, weak_labels, tmp: Path, blocked) -> None:
    """Run `method_cls(ctx, config).train_student(weak_labels)` in a sealed child; its predictor
    lands in `tmp`. Raises RuntimeError("contract: ...") or RuntimeError(error) on failure."""
    proc = _mp_context().Process(target=_child, args=(method_cls, ctx, config, weak_labels, str(tmp),
                                                      [str(b) for b in blocked], os.getpid()))
    proc.start()
    try:
        proc.join()
    finally:
        if proc.is_alive():  # Ctrl-C in the parent
            proc.terminate()
            proc.join()
    err_file = Path(tmp) / "error.json"
    if proc.exitcode != 0:
        info = json.loads(err_file.read_text()) if err_file.exists() else {
            "error": f"the method's process died (exit code {proc.exitcode})"}
        raise IsolatedFailure(info.get("contract"), info.get("error"), info.get("traceback"))


class IsolatedFailure(RuntimeError):
    def __init__(self, contract: str | None, error: str | None, tb: str | None):
        super().__init__(contract or error)
        self.contract, self.error, self.tb = contract, error, tb
