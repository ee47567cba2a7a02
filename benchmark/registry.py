"""The one registry: methods (one line each below), tasks, ladders and suites (one spec file each)."""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

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
DEFAULT_SUITE = "pocket.v3"


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


def source_files(module: str) -> dict[str, Path]:
    """The method's source: its module's file plus, transitively, the `w2s_bench.methods` modules
    it imports (found, not imported: nothing of the method runs here)."""
    found, todo = {}, [module]
    while todo:
        name = todo.pop()
        spec = importlib.util.find_spec(name) if name not in found else None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        found[name] = Path(spec.origin)
        for node in ast.walk(ast.parse(found[name].read_text(), str(found[name]))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            todo += [n for n in names if n.startswith("w2s_bench.methods.")]
    return found


def code_sha256(method_path: str) -> str:
    """A method's code identity: sha256 over its source files (`source_files`), by module name."""
    from w2s_bench.specs import spec_hash
    files = source_files(method_path.partition(":")[0])
    if not files:
        raise SpecError(f"method {method_path!r}: no Python source file found for its module")
    return spec_hash({m: hashlib.sha256(p.read_bytes()).hexdigest() for m, p in sorted(files.items())})


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


_described: dict = {}  # (path, config JSON, code sha256) -> what the sealed child said


def method_refs(names, paths: dict | None = None, configs: dict | None = None) -> dict[str, MethodRef]:
    """`MethodRef`s of registered methods (or of `paths[name]`, with `configs[name]` overriding
    defaults), their configs read by a sealed child (w2s_bench/isolate.py), one for all."""
    from w2s_bench.isolate import IsolatedFailure, run_sealed
    from w2s_bench.specs import canonical_json
    paths, configs = paths or {}, configs or {}
    todo = {}
    for n in names:
        path = paths.get(n) or _path(n)
        todo[n] = (path, configs.get(n, {}), code_sha256(path))
    keys = {n: (p, canonical_json(c), h) for n, (p, c, h) in todo.items()}
    missing = {n: todo[n][:2] for n in todo if keys[n] not in _described}
    if missing:
        try:
            info, _ = run_sealed({"kind": "describe", "methods": missing}, hidden=[])
        except IsolatedFailure as e:
            raise SpecError(f"method(s) {', '.join(missing)}: reading the config failed in the sealed "
                            f"process: {e}") from None
        for n in missing:
            _described[keys[n]] = info[n]
    return {n: MethodRef(name=n, path=p, config=_described[keys[n]]["config"],
                         config_sha256=config_sha256(n, _described[keys[n]]["config"]), code_sha256=h,
                         generative=_described[keys[n]]["generative"],
                         trains_backbone=_described[keys[n]].get("trains_backbone", False))
            for n, (p, _, h) in todo.items()}


def method_ref(name: str, path: str | None = None, config: dict | None = None) -> MethodRef:
    return method_refs([name], {name: path} if path else None, {name: config} if config else None)[name]


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
            raise SpecError(f"unknown ladder {name_or_path!r}; ladders: {', '.join(ladder_names())}"
                            f" (or give the path of a ladder .toml file)")
    return load_toml(path, LadderSpec)


def load_suite(name: str) -> SuiteSpec:
    path = HERE / "suites" / f"{name}.toml"
    if not path.exists():
        raise SpecError(f"unknown suite {name!r}; suites: {', '.join(suite_names())}")
    return load_toml(path, SuiteSpec)
