"""The one registry: methods (one line each below), tasks, ladders and suites (one spec file each)."""
from __future__ import annotations

import importlib
import os
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


def get_method(name: str):
    if name not in METHODS:
        raise SpecError(f"unknown method {name!r}; registered methods: {', '.join(method_names())}")
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def config_sha256(name: str, config) -> str:
    """A method's identity in results and on the leaderboard: its name and frozen config."""
    from w2s_bench.specs import spec_hash
    return spec_hash({"method": name, "config": config})


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
