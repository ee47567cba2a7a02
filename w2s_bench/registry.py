"""The one registry: methods (one line each below), tasks, ladders and suites (one spec file each)."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

# what a method's code is (its files, found without importing it): shared with the sandbox,
# which shows a method's process these files and no other method's
from w2s_bench.isolate import import_targets, imported_modules, method_unit, module_of, source_files, unit_location  # noqa: F401
from w2s_bench.specs import LadderSpec, SpecError, SuiteSpec, load_toml

# method name -> "module:Class". Adding a method is one file in methods/ plus one line here.
METHODS = {
    "naive": "w2s_bench.methods.naive:Naive",
    "aux_conf": "w2s_bench.methods.aux_conf:AuxConf",
    "bootstrap": "w2s_bench.methods.bootstrap:Bootstrap",
    "generative": "w2s_bench.methods.generative:Generative",
    "product": "w2s_bench.methods.product:Product",
    "kl": "w2s_bench.methods.kl:KL",
    "entropy": "w2s_bench.methods.entropy:Entropy",
    "window": "w2s_bench.methods.window:Window",
    "s2s": "w2s_bench.methods.s2s:S2S",
    "probe_relabel": "w2s_bench.methods.probe_relabel:ProbeRelabel",
    "probe_filter": "w2s_bench.methods.probe_filter:ProbeFilter",
}

HERE = Path(__file__).parent
# what `w2s-bench evaluate` and `audit` run without --suite: every task within the audit's band
DEFAULT_SUITE = "pocket.v4"


def method_names() -> list[str]:
    return sorted(METHODS)


def _path(name: str) -> str:
    if name not in METHODS:
        raise SpecError(f"unknown method {name!r}; registered methods: {', '.join(method_names())}")
    return METHODS[name]


def get_method(name: str):
    """The method's class, imported into this process: for tests and tools that hold no gold
    labels. The harness never calls it; it works with a `MethodRef` (see `method_refs`)."""
    module, cls = _path(name).split(":")
    return getattr(importlib.import_module(module), cls)


def config_sha256(name: str, config) -> str:
    """A method's config identity in results and on the leaderboard: its name and frozen config."""
    from w2s_bench.specs import spec_hash

    return spec_hash({"method": name, "config": config})


BINARY_FILES = "BINARY_FILES"  # the name, in a folder method's __init__.py, of {file: reason}


def module_source(module: str) -> Path | None:
    """The Python file of a module of a method (a one-file method's file, a package's
    __init__.py), found without importing it."""
    for key, path in source_files(module).items():
        if module_of(key) == module and path.suffix == ".py":
            return path
    return None


def is_binary(data: bytes) -> bool:
    """Not UTF-8 text (or holding a NUL byte)."""
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def declared_binary_files(unit: str) -> dict[str, str]:
    """A folder method's `BINARY_FILES = {"relative/path": "reason"}` in its __init__.py, read
    as a literal (nothing of the method runs)."""
    where = unit_location(unit)
    if where is None or not where[1] or not (where[0] / "__init__.py").is_file():
        return {}
    init = where[0] / "__init__.py"
    try:
        tree = ast.parse(init.read_bytes(), str(init))
    except (SyntaxError, ValueError):
        return {}
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == BINARY_FILES for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                value = None
            if not (
                isinstance(value, dict)
                and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items())
            ):
                raise SpecError(
                    f"{init}: {BINARY_FILES} must be a literal dict of relative path -> "
                    f"reason (non-empty strings), e.g. {BINARY_FILES} = "
                    f"{{'table.npz': 'why the method needs it'}}"
                )
            return value
    return {}


@dataclass(frozen=True)
class MethodFile:
    key: str  # as hashed: a module name or `unit/relative/path`
    path: Path
    size: int
    binary: bool
    reason: str | None  # a binary file's declared reason (None: undeclared)


def method_files(module: str) -> list[MethodFile]:
    """The method's files (`source_files`), with size and, for binary ones, the reason their
    folder's `BINARY_FILES` declares."""
    out, declared = [], {}
    for key, path in sorted(source_files(module).items()):
        unit, _, rel = key.partition("/")
        if rel and unit not in declared:
            declared[unit] = declared_binary_files(unit)
        data = path.read_bytes()
        out.append(MethodFile(key, path, len(data), is_binary(data), declared.get(unit, {}).get(rel)))
    return out


def code_sha256(method_path: str) -> str:
    """A method's code identity: sha256 over its files (`source_files`), by key: for a one-file
    method {module: sha256 of its file} as always; a folder method's files by `unit/path`. A
    binary file (not UTF-8 text) of a folder method needs its reason in `BINARY_FILES`."""
    from w2s_bench.specs import spec_hash

    module = method_path.partition(":")[0]
    files = method_files(module)
    if not files:
        raise SpecError(f"method {method_path!r}: no Python source file found for its module")
    for f in files:
        if f.path.is_symlink():  # its target would be hashed here, and hidden in the sandbox
            raise SpecError(
                f"method {method_path}: {f.key} is a symbolic link ({f.path} -> "
                f"{os.readlink(f.path)}); a method's files must be regular files: copy it in"
            )
        if f.binary and f.reason is None:
            unit, _, rel = f.key.partition("/")
            if not rel:
                raise SpecError(
                    f"method {method_path}: {f.path} is not UTF-8 text; a method's Python "
                    f"file must be (data files go in a folder method, methods/<name>/)"
                )
            raise SpecError(
                f"method {method_path}: {f.key} is a binary file (not UTF-8 text) with no "
                f"declared reason; declare it in {unit_location(unit)[0]}/__init__.py: "
                f"{BINARY_FILES} = {{{rel!r}: 'why the method needs it'}} (or remove the file)"
            )
    for unit in {f.key.partition("/")[0] for f in files if "/" in f.key}:
        present = {f.key.partition("/")[2] for f in files if f.key.startswith(unit + "/")}
        for rel in declared_binary_files(unit):
            if rel not in present:
                raise SpecError(
                    f"method {method_path}: {unit_location(unit)[0]}/__init__.py: "
                    f"{BINARY_FILES} names {rel}, which is not a file of the method "
                    f"(paths are relative to its folder)"
                )
    return spec_hash({f.key: hashlib.sha256(f.path.read_bytes()).hexdigest() for f in files})


@dataclass(frozen=True)
class MethodRef:
    """A method as the harness knows it, without importing it: name, "module:Class" path, frozen
    config (JSON) and the hashes of config and code, and whether it handles generative tasks."""

    name: str
    path: str
    config: dict
    config_sha256: str
    code_sha256: str
    generative: bool
    trains_backbone: bool = False  # it trains the strong rung's backbone: not on a frozen rung


_described: dict = {}  # (path, config JSON, code sha256, hidden paths) -> what the sealed child said


def default_hidden() -> list[Path]:
    """What a method's process may not read even where no task is named (its describe job):
    the stage cache, the assets (task datasets among the model weights) and wheels, the task
    specs and data, the leaderboard, and the hub's and `datasets`' caches of datasets."""
    from huggingface_hub.constants import HF_HOME, HF_HUB_CACHE

    import w2s_bench.leaderboard
    import w2s_bench.tasks
    from w2s_bench.assets import home

    hub = Path(HF_HUB_CACHE)
    return [
        home() / "cache",
        home() / "assets",
        home() / "wheels",
        Path(w2s_bench.tasks.__file__).parent,
        Path(w2s_bench.leaderboard.__file__).parent,
        Path(os.environ.get("HF_DATASETS_CACHE") or Path(HF_HOME) / "datasets"),
        *sorted(hub.glob("datasets--*")),
    ]


def method_refs(names, paths: dict | None = None, configs: dict | None = None, hidden=()) -> dict[str, MethodRef]:
    """`MethodRef`s of registered methods (or of `paths[name]`, with `configs[name]` overriding
    defaults), their configs read by a sealed child (w2s_bench/isolate.py), one for all.
    `hidden`: the gold paths of the tasks the caller will run (stages.gold_paths), hidden from
    that child as from training, on top of `default_hidden()`."""
    from w2s_bench.isolate import IsolatedFailure, run_sealed
    from w2s_bench.specs import canonical_json

    paths, configs = paths or {}, configs or {}
    hidden = sorted({str(Path(h)) for h in [*default_hidden(), *hidden]})
    todo = {}
    for n in names:
        path = paths.get(n) or _path(n)
        todo[n] = (path, configs.get(n, {}), code_sha256(path))
    keys = {n: (p, canonical_json(c), h, tuple(hidden)) for n, (p, c, h) in todo.items()}
    missing = {n: todo[n][:2] for n in todo if keys[n] not in _described}
    if missing:
        try:
            info, _ = run_sealed({"kind": "describe", "methods": missing}, hidden=hidden)
        except IsolatedFailure as e:
            what = "was refused" if e.contract else "failed"
            raise SpecError(
                f"method(s) {', '.join(missing)}: importing the method to read its config "
                f"{what} in the sealed process: {e}"
            ) from None
        for n in missing:
            _described[keys[n]] = info[n]
    return {
        n: MethodRef(
            name=n,
            path=p,
            config=_described[keys[n]]["config"],
            config_sha256=config_sha256(n, _described[keys[n]]["config"]),
            code_sha256=h,
            generative=_described[keys[n]]["generative"],
            trains_backbone=_described[keys[n]].get("trains_backbone", False),
        )
        for n, (p, _, h) in todo.items()
    }


def method_ref(name: str, path: str | None = None, config: dict | None = None, hidden=()) -> MethodRef:
    return method_refs([name], {name: path} if path else None, {name: config} if config else None, hidden)[name]


def _names(kind: str) -> list[str]:
    return sorted(p.stem for p in (HERE / kind).glob("*.toml"))


def ladder_names() -> list[str]:
    return _names("ladders")


def suite_names() -> list[str]:
    return _names("suites")


def load_ladder(name_or_path: str) -> LadderSpec:
    """A shipped ladder by name, or a custom ladder file (any HF model id + revision per rung).
    A path is an argument ending in `.toml` or holding a path separator: names may contain dots
    (`qwen2.5`)."""
    path = Path(name_or_path)
    if not (name_or_path.endswith(".toml") or "/" in name_or_path or os.sep in name_or_path):
        path = HERE / "ladders" / f"{name_or_path}.toml"
        if not path.exists():
            raise SpecError(
                f"unknown ladder {name_or_path!r}; ladders: {', '.join(ladder_names())}"
                f" (or give the path of a ladder .toml file)"
            )
    return load_toml(path, LadderSpec)


def load_suite(name: str) -> SuiteSpec:
    path = HERE / "suites" / f"{name}.toml"
    if not path.exists():
        raise SpecError(f"unknown suite {name!r}; suites: {', '.join(suite_names())}")
    return load_toml(path, SuiteSpec)
