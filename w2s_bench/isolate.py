"""Run a method where gold labels do not exist: a fresh interpreter that never held them.

Everything a method's code does runs here, never in the process that holds the splits: importing
its module (to read its config), `train_student`, and loading its predictor to predict the test
set and compute probe features. The orchestrator sends a job (method path, config, context,
inputs) as a pickle into a job folder and reads back JSON and `.npz` arrays (no pickle): no object
of the method's reaches it.

Two layers, the first where the host allows it (`isolation()`, recorded in every result):

- **bubblewrap** (Debian's `bwrap`): the child runs in new mount, pid, network, ipc and user
  namespaces with every capability dropped. Its filesystem is a whitelist, read-only: the system
  (`/usr`, `/etc`, ...), Python and its packages, the harness, the method's own files and those
  of the methods it imports (no other method's: `method_code`), the model assets of the rungs it
  may train; writable only its job folder (and the stage folder it saves a predictor
  into), both seen at fixed names (`MOUNTS`: the same in a local run and in CI's re-run). The stage cache, task specs and data, the task datasets' assets, results folders and
  leaderboard entries do not exist there, there is no network, and no other process is visible.
  This holds for native code and for any process the method might start.
- **audit-hook** (everywhere, also inside bubblewrap): the harness modules that produce gold are
  unimportable, and a Python audit hook refuses reads under the gold paths (stage cache, task
  specs and data, task datasets' assets, the leaderboard) and other processes' `/proc`, writes
  outside the job folder, starting processes (`subprocess`, `os.system`, `os.exec*`,
  `os.posix_spawn`, `os.fork`, `_posixsubprocess`), loading native code from outside Python's and
  the system's library folders (`ctypes`) and network connections. Each refusal is recorded and
  fails the stage. Alone it is a fallback: it cannot stop native code, and a method determined to
  undo it from Python (the hook's state is reachable by introspection) can; `W2S_BENCH_ISOLATION`
  chooses (`auto`, the default: bubblewrap where `bwrap` runs; `bubblewrap`: required, an error
  where it cannot run; `audit-hook`).

Every job (describe: importing the method to read its config; train; predict) gets the same
seal: the gold paths hidden (describe's: those its caller names, and at least
`registry.default_hidden()`), and an environment of `ENV_PASSED` only (`sealed_env`: no
PYTHONPATH, checkout, CI or token variables; the import path travels in the job folder, less the
folders holding a hidden path).
"""

from __future__ import annotations

import ast
import atexit
import functools
import importlib.util
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from w2s_bench import zygote

BUBBLEWRAP, AUDIT_HOOK = "bubblewrap", "audit-hook"
# modules that read task data, the cache, test labels or results; a method never needs them
HIDDEN_MODULES = (
    "w2s_bench.tasks",
    "w2s_bench.tasks.builders",
    "w2s_bench.stages",
    "w2s_bench.run",
    "w2s_bench.scoring",
    "w2s_bench.registry",
    "w2s_bench.diagnostics",
    "w2s_bench.results",
    "w2s_bench.report",
    "w2s_bench.cli",
    "w2s_bench.check",
    "w2s_bench.leaderboard",
    "w2s_bench.ray_executor",
)
# imported before sealing, so that a child starts warm and no library loads native code later
PRELOAD = (
    "w2s_bench.api",
    "w2s_bench.lm",
    "transformers",
    "peft",
    "transformers.models.bert.modeling_bert",
    "sklearn.metrics",
    "sklearn.linear_model",
    "sklearn.neighbors",
    "safetensors.torch",
)
_READS = ("open", "os.listdir", "os.scandir", "glob.glob", "shutil.copyfile", "shutil.copytree")
_WRITES = (
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.symlink",
    "os.link",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.chown",
)
_PROCESSES = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
)
_NETWORK = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg")
_NATIVE_NAMES = re.compile(r"exec|fork|spawn|system|popen|clone|syscall|ptrace|process_vm|dlopen|unshare|setns")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# the only variables of the orchestrator's environment a method's process gets (`sealed_env`):
# the locale, threads, offline switches, GPUs and where to train; not the checkout, the import
# path, CI variables or tokens
ENV_PASSED = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "TOKENIZERS_PARALLELISM",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "LD_LIBRARY_PATH",
    "W2S_BENCH_DEVICE",
    "W2S_BENCH_GRADIENT_CHECKPOINTING",
)


# ---- a method's code: its files, found without importing it (registry.code_sha256 hashes them,
# the sandbox shows a method's process these and no other method's) ------------------------------

METHODS_PACKAGE = "w2s_bench.methods"


def method_unit(module: str) -> str:
    """The method a module belongs to: `w2s_bench.methods.X` for a module of the methods
    package (a file `methods/X.py` or a folder `methods/X/`), else its top-level module."""
    parts = module.split(".")
    return ".".join(parts[:3]) if module.startswith(METHODS_PACKAGE + ".") else parts[0]


def unit_location(unit: str) -> tuple[Path, bool] | None:
    """(file or folder, is a folder) of a method unit; found, not imported (only its parent
    package, `w2s_bench.methods`, which holds no code)."""
    try:
        spec = importlib.util.find_spec(unit)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a folder (a namespace package has no origin)
        return (Path(spec.origin).parent if spec.origin else Path(list(spec.submodule_search_locations)[0]), True)
    return (Path(spec.origin), False) if spec.origin and spec.origin.endswith(".py") else None


def _unit_files(unit: str) -> dict[str, Path]:
    """A one-file method: {module: file}, as code hashes always keyed it. A folder method:
    every file in the folder (any extension, `__pycache__` excluded) as `unit/relative/path`."""
    where = unit_location(unit)
    if where is None:
        return {}
    path, folder = where
    if not folder:
        return {unit: path}
    return {
        f"{unit}/{p.relative_to(path).as_posix()}": p
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.relative_to(path).parts
    }


def module_of(key: str) -> str | None:
    """The dotted module of a source file key (None: not a Python module)."""
    unit, _, rel = key.partition("/")
    if not rel:
        return unit
    if not rel.endswith(".py"):
        return None
    parts = rel[:-3].split("/")
    return ".".join([unit, *(parts[:-1] if parts[-1] == "__init__" else parts)])


def import_targets(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a source (`module`; a package's __init__ where
    `is_package`): `import X` as (X, []), `from X import a, b` as (X, [a, b]), relative imports
    resolved to absolute names."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                if node.level > len(package):
                    continue  # beyond the top-level package: Python refuses it too
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            if base:
                out.append((base, [a.name for a in node.names if a.name != "*"]))
    return out


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module name a source may import: X of each import, and X.name of `from X import name`
    (which may be a module)."""
    return [
        n for base, names in import_targets(tree, module, is_package) for n in [base, *(f"{base}.{a}" for a in names)]
    ]


def source_files(module: str) -> dict[str, Path]:
    """The method's files: those of its own unit (`method_unit`: its file, or every file of its
    folder) plus, transitively, those of the `w2s_bench.methods` modules its Python files import,
    absolutely or relatively (found, not imported: nothing of the method runs here). Keys: a
    one-file module's name; a folder's files as `unit/relative/path`."""
    found, todo, done = {}, [method_unit(module)], set()
    while todo:
        unit = todo.pop()
        if unit in done:
            continue
        done.add(unit)
        files = _unit_files(unit)
        found.update(files)
        for key, path in files.items():
            name = module_of(key)
            if name is None:
                continue
            try:
                tree = ast.parse(path.read_bytes(), str(path))
            except (SyntaxError, ValueError):
                continue  # not Python: hashed all the same
            for n in imported_modules(tree, name, path.name == "__init__.py"):
                if n.startswith(METHODS_PACKAGE + ".") and method_unit(n) not in done:
                    todo.append(method_unit(n))
    return found


class GoldAccessError(PermissionError):
    pass


class IsolationError(RuntimeError):
    """The requested isolation cannot run on this host."""


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _real(p) -> str:
    return os.path.realpath(os.fsdecode(p))


def library_roots() -> tuple[str, ...]:
    """Where native code may be loaded from: Python's own and the system's library folders."""
    import site

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), "/usr", "/lib", "/lib64", "/opt"}
    return tuple(sorted(_real(r) for r in roots))


def make_hook(blocked, readable, writable, attempts: list):
    """The audit hook: refuses (and appends to `attempts`) reads under `blocked` (except under
    `readable` or `writable`), writes outside `writable`, processes, foreign native code and
    network use."""
    blocked, writable = tuple(map(_real, blocked)), tuple(map(_real, writable)) + ("/dev/null",)
    readable = tuple(map(_real, readable)) + writable
    libs, me = library_roots(), str(os.getpid())

    def refuse(what: str):
        attempts.append(what)
        raise GoldAccessError(
            f"a method may not {what}: it runs sealed, with no access to gold labels, other processes or the network"
        )

    def path_of(target):
        if target is None or isinstance(target, int):
            return None
        try:
            return _real(target)
        except (TypeError, ValueError):
            return None

    def hook(event, args):
        if event in _READS or event in _WRITES:
            writing = event in _WRITES or (
                event == "open"
                and len(args) > 2
                and (
                    (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
                    or (args[1] is None and isinstance(args[2], int) and args[2] & _WRITE_FLAGS)
                )
            )
            targets = (
                [args[0], args[1]]
                if event in ("os.rename", "os.symlink", "os.link", "shutil.move", "shutil.copytree")
                else [args[0]]
            )
            for path in filter(None, map(path_of, targets)):
                parts = path.split(os.sep)
                if (_under(path, blocked) and not _under(path, readable)) or (
                    len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] != me
                ):
                    refuse(f"read {path}")
                if writing and not _under(path, writable):
                    refuse(f"write {path}")
        elif event in _PROCESSES:
            refuse(f"start a process ({event} {str(args[:2])[:120]})")
        elif event == "import" and args[0] == "_posixsubprocess":  # a fresh copy of fork_exec
            refuse(f"start a process (import {args[0]})")
        elif event in _NETWORK:
            refuse(f"use the network ({event})")
        elif event == "ctypes.dlopen" and (args[0] is None or not _under(_real(args[0]), libs)):
            refuse(f"load native code ({event} {args[0]})")
        elif event == "ctypes.dlsym" and isinstance(args[1], str) and _NATIVE_NAMES.search(args[1]):
            refuse(f"load native code (ctypes.dlsym {args[1]})")

    return hook


def seal(blocked, readable, writable, attempts: list) -> None:
    """Seal this process: gold-producing modules unimportable, the audit hook installed, and the
    process-starting functions that raise no audit event (`_posixsubprocess.fork_exec`, used by
    multiprocessing's spawn) replaced by a refusal."""
    hook = make_hook(blocked, readable, writable, attempts)
    for name in HIDDEN_MODULES:
        sys.modules[name] = None  # `import` now raises ImportError
    sys.dont_write_bytecode = True
    import _posixsubprocess

    def fork_exec(*args, **kwargs):
        hook("subprocess.Popen", ("_posixsubprocess.fork_exec",))

    _posixsubprocess.fork_exec = subprocess._fork_exec = fork_exec
    sys.addaudithook(hook)


# ---- the child ---------------------------------------------------------------------------------


def _watch_parent(ppid: int) -> None:
    while True:  # an orphan (parent killed with -9) stops instead of training on
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(1)


def _import(path: str):
    """`module:Qual.Name` -> the object."""
    import importlib

    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def contract_problem(predictor) -> str | None:
    for attr in ("predict", "save"):
        if not callable(getattr(predictor, attr, None)):
            return (
                f"train_student must return a predictor with .predict(texts) and .save(folder) "
                f"(e.g. the TrainedClassifier that ctx.train returns), got {type(predictor).__name__}"
            )
    if not callable(getattr(type(predictor), "load", None)):
        return f"the predictor class {type(predictor).__name__} needs a classmethod load(folder, rung)"
    return None


def _method(job):
    cls = _import(job["path"])
    config = cls.Config.model_validate(job["config"])
    if config.model_dump(mode="json") != job["config"]:
        raise ValueError(f"config {job['config']} does not round-trip through {job['path']}.Config")
    return cls, config


def _describe(job, out: Path) -> dict:
    described = {}
    for name, (path, config) in job["methods"].items():
        cls = _import(path)
        settings = cls.Config.model_config
        if not (settings.get("frozen") and settings.get("extra") == "forbid"):
            raise TypeError(f"{path}.Config must subclass Method.Config (frozen, extra='forbid')")
        described[name] = {
            "config": cls.Config(**config).model_dump(mode="json"),
            "generative": bool(getattr(cls, "generative", False)),
            "trains_backbone": bool(getattr(cls, "trains_backbone", False)),
        }
    return described


def _train(job, out: Path):
    cls, config = _method(job)
    predictor = cls(job["ctx"], config).train_student(job["weak_labels"])
    problem = contract_problem(predictor)
    if problem:
        return {"contract": problem}
    folder = Path(job["folder"])
    predictor.save(folder)
    kind = type(predictor)
    (folder / "predictor.json").write_text(json.dumps({"class": f"{kind.__module__}:{kind.__qualname__}"}))
    return {}


def _predict(job, out: Path):
    """The predictor `train` saved, loaded here: predictions (probabilities, or texts on a
    generative task) and, if asked, probe features (None where it has none)."""
    import numpy as np

    _method(job)  # the method's module first: whatever it sets up at import
    folder = Path(job["folder"])
    kind = _import(json.loads((folder / "predictor.json").read_text())["class"])
    predictor = kind.load(folder, job["ctx"].strong)
    texts, arrays = {}, {}
    for split, inputs in job["predict"].items():
        p = predictor.predict(inputs, desc=f"{job['desc']} {split}")
        if job["generative"]:
            texts[split] = [x if isinstance(x, str) else repr(x) for x in p]
        else:
            arrays[f"predict/{split}"] = np.asarray(p, dtype=np.float64)
    has_features = callable(getattr(predictor, "features", None))
    for split, inputs in (job["features"] or {}).items() if has_features else ():
        arrays[f"features/{split}"] = np.asarray(predictor.features(inputs, desc=f"features {split}"), dtype=np.float32)
    np.savez(out / "arrays.npz", **arrays)
    return {"texts": texts, "has_features": has_features}


JOBS = {"describe": _describe, "train": _train, "predict": _predict}


def _preload() -> None:
    """What a sealed process imports before it seals itself: it starts warm, and no library loads
    native code later."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    from threadpoolctl import threadpool_info

    threadpool_info()  # finds the BLAS libraries now (later it would run ldconfig)
    from tqdm.auto import tqdm

    tqdm.set_lock(threading.RLock())  # not a multiprocessing lock: nothing to leak at os._exit


def _add_import_path(jobdir: Path) -> None:
    # the orchestrator's import path (less what holds gold), as PYTHONPATH would have put it
    sys.path[1:1] = [e for e in json.loads((jobdir / "path.json").read_text()) if e not in sys.path]


def _run_job(jobdir: Path, preload: bool) -> None:
    out, attempts = jobdir / "out", []

    def finish(info: dict, code: int):
        (out / "result.json").write_text(json.dumps(info))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    try:
        _add_import_path(jobdir)
        if preload:
            _preload()
        job = pickle.loads((jobdir / "job.pkl").read_bytes())  # written by the orchestrator
        seal(job["blocked"], job["readable"], [jobdir, *job["writable"]], attempts)
        info = JOBS[job["kind"]](job, out)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        if attempts:
            finish({"attempts": attempts}, 3)
        finish({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}, 2)
    if attempts:  # refused, even where the method caught the error
        finish({"attempts": attempts}, 3)
    finish(info, 0 if "contract" not in info else 3)


def child_main(jobdir: str) -> None:
    """Entry point of a cold sealed interpreter (`python -c ... JOBDIR`)."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _run_job(Path(jobdir), preload=True)


def zygote_main(fd: int) -> None:
    """Entry point of a warm sealed worker (`zygote.py`): the import path and `PRELOAD` once, then
    one fresh fork per job, which runs it like `child_main` (the kernel kills it with its parent)."""
    spool = Path(zygote.SPOOL)
    _add_import_path(spool)
    _preload()
    zygote.serve(fd, lambda job_at: _run_job(Path(job_at), preload=False), str(MOUNTS["job"]), str(MOUNTS["stage"]))


# ---- the parent --------------------------------------------------------------------------------


def _system_binds() -> list[str]:
    argv = []
    for top in ("/usr", "/etc", "/sys", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            argv += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            argv += ["--ro-bind", top, top]
    return argv


def bwrap_argv(visible, writable, hidden, chdir: str = "/", mounts=(), caps=()) -> list[str]:
    """bubblewrap's arguments: a whitelist of read-only `visible` paths (plus the system's) and
    `writable` ones; `hidden` paths lying under a visible one are covered by an empty folder
    (visible or writable paths under a hidden one are bound after that); `mounts`: (flag, source,
    destination) binds at other names, made last (the job and stage folders, `MOUNTS`); `caps`:
    capabilities kept inside the sandbox's user namespace (only a zygote's: `zygote.CAPS`)."""
    hidden = [_real(h) for h in hidden]
    binds = [
        (flag, q)
        for flag, paths in (("--ro-bind", visible), ("--bind", writable))
        for p in paths
        for q in dict.fromkeys([os.path.abspath(p), _real(p)])
        if os.path.exists(q)
    ]
    binds = list(dict.fromkeys(binds))
    outside = [b for b in binds if not _under(b[1], hidden)]
    argv = [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        *[x for c in caps for x in ("--cap-add", c)],
        *_system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    argv += [x for flag, q in outside for x in (flag, q, q)]
    argv += [
        x
        for h in hidden
        if os.path.isdir(h) and any(_under(h, [q]) and h != q for _, q in outside)
        for x in ("--tmpfs", h)
    ]
    argv += [x for flag, q in binds if (flag, q) not in outside for x in (flag, q, q)]
    for dev in sorted(Path("/dev").glob("nvidia*")) + [Path("/dev/dri")]:
        if dev.exists():  # GPUs
            argv += ["--dev-bind", str(dev), str(dev)]
    argv += [str(x) for m in mounts for x in m]
    return argv + ["--chdir", chdir, "--"]


@functools.cache
def _bwrap_runs() -> str | None:
    """None where bubblewrap can make its namespaces here, else why not."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    try:
        p = subprocess.run(bwrap_argv([], [], []) + ["true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap failed to start: {e}"
    return None if p.returncode == 0 else f"bwrap cannot create its namespaces here: {p.stderr.strip()}"


def isolation() -> str:
    """The isolation a method's process gets on this host (see the module docstring)."""
    want = os.environ.get("W2S_BENCH_ISOLATION", "auto")
    if want == AUDIT_HOOK:
        return AUDIT_HOOK
    if want not in ("auto", BUBBLEWRAP):
        raise IsolationError(f"W2S_BENCH_ISOLATION={want!r}: choose auto, {BUBBLEWRAP} or {AUDIT_HOOK}")
    why = _bwrap_runs()
    if why and want == BUBBLEWRAP:
        raise IsolationError(f"W2S_BENCH_ISOLATION={BUBBLEWRAP} but {why}")
    return AUDIT_HOOK if why else BUBBLEWRAP


def methods_folder() -> Path:
    import w2s_bench.methods

    return Path(w2s_bench.methods.__file__).parent


def method_code(method_paths) -> list[Path]:
    """The methods' own files and folders and those of the methods they import (see
    registry.source_files): all of the methods package a child may see, with its __init__.py."""
    paths = {methods_folder() / "__init__.py": None}
    for method_path in method_paths:
        for unit in dict.fromkeys(k.partition("/")[0] for k in source_files(method_path.partition(":")[0])):
            where = unit_location(unit)
            if where is not None:
                paths[where[0]] = None
    return list(paths)


def import_path(hidden) -> list[str]:
    """The orchestrator's import path as the child gets it (in its job folder, not in the
    environment): less the folders holding a hidden path (the checkout, holding tasks/ and
    leaderboard/, or the stage cache)."""
    hidden = [_real(h) for h in hidden]
    return [e for e in sys.path if e and not any(_under(h, [_real(e)]) for h in hidden)]


def _code_paths(method_paths) -> list[str]:
    """Where the child imports code from: the w2s_bench package, of the methods package only
    its __init__.py and the files of the methods it runs (`method_code`: no other method's), and
    the parent's import path (less, in `_visible`, folders that hold the working directory, where
    results are written, or a hidden path)."""
    methods = methods_folder()
    paths = [str(Path(__file__).parent), *map(str, method_code(method_paths))]  # this module is in w2s_bench
    return paths + [e for e in sys.path if e and os.path.isdir(e) and not _under(_real(e), [_real(methods)])]


def _visible(method_paths, rungs, hidden) -> list[str]:
    import site

    cwd = _real(os.getcwd())
    hidden = [_real(h) for h in hidden]
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]
    for p in _code_paths(method_paths):
        r = _real(p)
        if not _under(cwd, [r]) and not any(_under(h, [r]) for h in hidden):
            paths.append(p)
    for rung in rungs:  # the pretrained weights of the rungs the method may train
        from w2s_bench.specs import WheelSource

        if isinstance(rung.source, WheelSource):
            from w2s_bench.assets import asset_dir

            paths.append(str(asset_dir(rung.source.package)))
        elif os.path.isdir(rung.source.id):  # a local folder in the hub's layout
            paths.append(rung.source.id)
        else:
            from huggingface_hub.constants import HF_HUB_CACHE

            paths.append(str(Path(HF_HUB_CACHE) / f"models--{rung.source.id.replace('/', '--')}"))
    return paths


# Under bubblewrap a method's job folder and the stage folder it saves into or loads from are seen
# at these fixed names, in a local `evaluate` and in CI's re-run alike: no folder name tells the
# method which run it is in (where the stage cache lies, a CI temporary folder).
MOUNTS = {"job": Path("/w2s/job"), "stage": Path("/w2s/stage")}


def sealed_env(jobdir: Path, how: str) -> dict[str, str]:
    """A method's process's environment: `ENV_PASSED` where set here, and its own HOME and TMPDIR
    (in the job folder), the assets' home and the hub cache (where rungs' weights are), the
    isolation, no bytecode written. Nothing else: no PYTHONPATH (the import path travels in the
    job folder), no checkout, CI or token variables."""
    from huggingface_hub.constants import HF_HUB_CACHE

    from w2s_bench.assets import home as assets_home  # HOME moves: the assets stay where they are

    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    env.setdefault("PATH", os.defpath)
    return {
        **env,
        "HOME": str(jobdir / "home"),
        "TMPDIR": str(jobdir / "tmp"),
        "W2S_BENCH_HOME": str(assets_home()),
        "HF_HUB_CACHE": str(HF_HUB_CACHE),
        "PYTHONDONTWRITEBYTECODE": "1",
        "W2S_BENCH_SEALED": how,
    }


class IsolatedFailure(RuntimeError):
    def __init__(self, contract: str | None, error: str | None, tb: str | None):
        super().__init__(contract or error)
        self.contract, self.error, self.tb = contract, error, tb


def attempts_message(attempts: list[str]) -> str:
    return (
        f"it tried to {attempts[0]}"
        + (f" (and {len(attempts) - 1} more refused attempt(s))" if len(attempts) > 1 else "")
        + "; a method may use only what w2s_bench.api gives it"
    )


def run_sealed(job: dict, hidden, rungs=(), writable=(), visible=()) -> tuple[dict, dict]:
    """Run `job` (kind: describe, train or predict) in a sealed child; return its JSON output and
    its arrays. `hidden`: gold paths; `rungs`: whose weights it may read; `writable`/`visible`:
    extra folders it may write/read. Under bubblewrap a job whose only extra folder is its stage
    folder runs in a warm worker (`zygote.py`; `W2S_BENCH_ZYGOTE=0`: always a fresh interpreter).
    Raises IsolatedFailure."""
    how = isolation()
    stage = job.get("folder")
    if (
        how == BUBBLEWRAP
        and os.environ.get("W2S_BENCH_ZYGOTE", "1") != "0"
        and all(stage is not None and _real(p) == _real(stage) for p in (*writable, *visible))
    ):
        worker = _WORKERS.get(job, hidden, rungs)
        if worker is not None:
            done = _run_warm(worker, job, hidden, stage is not None and bool(writable))
            if done is not None:
                return done
    with tempfile.TemporaryDirectory(prefix="w2s-sealed-") as d:
        jobdir = Path(d)
        for sub in ("out", "home", "tmp"):
            (jobdir / sub).mkdir()
        inside, mounts = jobdir, []
        if how == BUBBLEWRAP:  # the job folder and the job's stage folder at fixed names (MOUNTS)
            inside = MOUNTS["job"]
            mounts = [("--bind", jobdir, inside)]
            if stage is not None:
                flag = "--bind" if any(_real(w) == _real(stage) for w in writable) else "--ro-bind"
                mounts.append((flag, stage, MOUNTS["stage"]))
                writable = [MOUNTS["stage"] if _real(w) == _real(stage) else w for w in writable]
                visible = [MOUNTS["stage"] if _real(v) == _real(stage) else v for v in visible]
                job = {**job, "folder": str(MOUNTS["stage"])}
        _write_job(jobdir, job, hidden, visible, writable)
        argv = [
            sys.executable,
            "-c",
            "import sys; from w2s_bench.isolate import child_main; child_main(sys.argv[1])",
            str(inside),
        ]
        if how == BUBBLEWRAP:  # of the methods folder, only what `method_code` names is bound
            outside = [p for p in (*visible, *writable) if not _under(str(p), [str(MOUNTS["job"].parent)])]
            argv = (
                bwrap_argv(
                    [*_visible(_method_paths(job), rungs, hidden), *[v for v in visible if v in outside]],
                    [w for w in writable if w in outside],
                    [*hidden, methods_folder()],
                    chdir=str(inside),
                    mounts=mounts,
                )
                + argv
            )
        proc = subprocess.Popen(argv, env=sealed_env(inside, how), cwd=jobdir)
        try:
            code = proc.wait()
        finally:
            if proc.poll() is None:  # Ctrl-C in the parent
                proc.terminate()
                proc.wait()
        return _outcome(jobdir, code)


def _method_paths(job: dict) -> list[str]:
    return [job["path"]] if "path" in job else [p for p, _ in job["methods"].values()]


def _write_job(jobdir: Path, job: dict, hidden, visible, writable) -> None:
    job = {
        **job,
        "blocked": [str(h) for h in hidden],
        "readable": [str(v) for v in visible],
        "writable": [str(w) for w in writable],
    }
    (jobdir / "job.pkl").write_bytes(pickle.dumps(job))
    (jobdir / "path.json").write_text(json.dumps(import_path(hidden)))


def _outcome(jobdir: Path, code: int) -> tuple[dict, dict]:
    """The job's JSON output and arrays from its folder, or IsolatedFailure."""
    import numpy as np

    result = jobdir / "out" / "result.json"
    info = (
        json.loads(result.read_text())
        if result.exists()
        else {"error": f"the method's process died (exit code {code})"}
    )
    if code != 0 or "error" in info or "attempts" in info or "contract" in info:
        contract = info.get("contract") or (attempts_message(info["attempts"]) if info.get("attempts") else None)
        raise IsolatedFailure(contract, info.get("error"), info.get("traceback"))
    arrays = jobdir / "out" / "arrays.npz"
    if not arrays.exists():
        return info, {}
    with np.load(arrays, allow_pickle=False) as z:  # never a pickle from the method's side
        return info, {k: z[k] for k in z.files}


# ---- warm workers (zygote.py): one per sandbox a job may get, kept for the next job of its kind --


class _Workers:
    """This process's zygotes, by sandbox (the bubblewrap arguments and environment a job of
    that kind gets, less its own folders); at most `size`, the least recently used closed first."""

    def __init__(self, size: int = 3):
        self.size, self.pid, self.zygotes, self.failed = size, os.getpid(), {}, None

    def get(self, job: dict, hidden, rungs) -> zygote.Zygote | None:
        """The zygote for `job`'s sandbox, started if need be; None where one cannot start here
        (said once on stderr; the job then gets a fresh interpreter)."""
        if os.getpid() != self.pid:  # a forked orchestrator: the zygotes are its parent's
            self.pid, self.zygotes = os.getpid(), {}
        if self.failed:
            return None
        spool_mount = ("--bind", "{spool}", zygote.SPOOL)
        argv = bwrap_argv(
            _visible(_method_paths(job), rungs, hidden),
            [],
            [*hidden, methods_folder()],
            chdir=zygote.SPOOL,
            caps=zygote.CAPS,
            mounts=[spool_mount, *[("--dir", d) for d in (MOUNTS["job"], MOUNTS["stage"], zygote.STASH)]],
        )
        argv += [
            sys.executable,
            "-c",
            "import sys; from w2s_bench.isolate import zygote_main; zygote_main(int(sys.argv[1]))",
        ]
        env = sealed_env(MOUNTS["job"], BUBBLEWRAP)
        key = (tuple(argv), tuple(sorted(env.items())), json.dumps(import_path(hidden)))
        worker = self.zygotes.pop(key, None)
        if worker is not None and worker.alive():
            self.zygotes[key] = worker  # most recently used last
            return worker
        while len(self.zygotes) >= self.size:
            self._close(next(iter(self.zygotes)))
        spool = tempfile.mkdtemp(prefix="w2s-spool-")
        (Path(spool) / "path.json").write_text(key[2])
        try:
            worker = zygote.Zygote([spool if a == "{spool}" else a for a in argv], env, spool, cwd=spool)
        except (OSError, zygote.ZygoteError) as e:
            shutil.rmtree(spool, ignore_errors=True)
            self.give_up(str(e))
            return None
        self.zygotes[key] = worker
        return worker

    def give_up(self, why: str) -> None:
        """No more warm workers in this process (said once): each job gets a fresh interpreter."""
        self.close()
        self.failed = why
        print(
            f"w2s-bench: warm sealed workers cannot run here ({why}); each job starts a fresh "
            f"sandboxed interpreter instead",
            file=sys.stderr,
        )

    def _close(self, key) -> None:
        worker = self.zygotes.pop(key)
        worker.close()
        shutil.rmtree(worker.spool, ignore_errors=True)

    def close(self) -> None:
        for key in list(self.zygotes):
            self._close(key)


_WORKERS = _Workers()
atexit.register(_WORKERS.close)


def _run_warm(worker, job: dict, hidden, stage_writable: bool) -> tuple[dict, dict] | None:
    """`run_sealed` in a warm worker: the job folder and its stage folder are made in the
    worker's spool; a stage it saves into is moved to the real stage folder afterwards (names
    not followed), one it reads is linked (or copied) in first. None where the fork could not
    make the job's sandbox (the job did not run)."""
    jobdir = Path(tempfile.mkdtemp(prefix="job-", dir=worker.spool))
    stage_dir = None
    try:
        for sub in ("out", "home", "tmp"):
            (jobdir / sub).mkdir()
        stage = job.get("folder")
        readable, writable = [], []
        if stage is not None:
            stage_dir = Path(tempfile.mkdtemp(prefix="stage-", dir=worker.spool))
            if stage_writable:
                writable = [MOUNTS["stage"]]
            else:
                _link_tree(Path(stage), stage_dir)
                readable = [MOUNTS["stage"]]
            job = {**job, "folder": str(MOUNTS["stage"])}
        _write_job(jobdir, job, hidden, readable, writable)
        try:
            code = worker.run(jobdir.name, stage_dir.name if stage_dir else None, stage_writable)
        except zygote.ZygoteError as e:
            _WORKERS.close()
            raise IsolatedFailure(None, f"the warm sealed worker stopped: {e}", None) from None
        except BaseException:  # Ctrl-C: the worker goes, with the job it was running
            _WORKERS.close()
            raise
        if code == zygote.NO_SANDBOX and not (jobdir / "out" / "result.json").exists():
            _WORKERS.give_up("a job's fork could not make its namespaces here (see the line above)")
            return None  # nothing of the method ran: the caller runs it in a fresh interpreter
        if stage_writable and code == 0:
            _move_entries(stage_dir, Path(stage))
        return _outcome(jobdir, code)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)
        if stage_dir is not None:
            shutil.rmtree(stage_dir, ignore_errors=True)


def _link_tree(src: Path, dst: Path) -> None:
    """The harness-made stage folder `src` into `dst`: folders made, files hard-linked (copied
    where the spool is on another filesystem); the job sees it read-only."""
    for entry in os.scandir(src):
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            target.mkdir()
            _link_tree(Path(entry.path), target)
        elif entry.is_file(follow_symlinks=False):
            try:
                os.link(entry.path, target, follow_symlinks=False)
            except OSError:
                shutil.copyfile(entry.path, target, follow_symlinks=False)


def _move_entries(src: Path, dst: Path) -> None:
    """What the job left in its stage folder into the real one, every name as it is (a link
    stays a link, for the stage check to refuse with its message); across filesystems only
    regular files and folders can be copied: anything else is refused here."""
    for entry in os.scandir(src):
        try:
            os.rename(entry.path, dst / entry.name)
        except OSError:
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, dst / entry.name, symlinks=True)
            elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
                shutil.copy2(entry.path, dst / entry.name, follow_symlinks=False)
            else:
                raise IsolatedFailure(
                    f"it left {entry.name} in its stage folder, which is not a regular "
                    f"file or folder; a stage folder may hold only those",
                    None,
                    None,
                ) from None
