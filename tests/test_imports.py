"""The package's modules import one another in one direction only: no import circle, counting the
imports inside functions too (a lazy import is still a dependency; it only moves the failure to
run time). The graph is read from the source with `ast`, so a circle fails here even where Python
would happen to resolve it.

Where a circle appears, move the shared piece upstream into a module both can import (as
`w2s_bench.textformat` for the audit and the split builder, `w2s_bench.leaderboard.board` for the
board's build and plots, `w2s_bench.tasks.limit_splits` for the runner and the scorer, the frozen
rungs' encoding in `w2s_bench.train` below the feature bank of `w2s_bench.features`)."""

from __future__ import annotations

import ast
from pathlib import Path

import w2s_bench

PACKAGE = "w2s_bench"


def modules() -> dict[str, Path]:
    """{dotted module name: source file} of every module of the installed package, following the
    package-dir mapping of pyproject.toml (w2s_bench.tasks lives in tasks/, ...)."""
    import importlib

    out = {}
    for pkg in (PACKAGE, f"{PACKAGE}.methods", f"{PACKAGE}.tasks", f"{PACKAGE}.leaderboard"):
        folder = Path(importlib.import_module(pkg).__file__).parent
        for f in sorted(folder.glob("*.py")):
            out[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return out


def graph() -> dict[str, set[str]]:
    """{module: the package's modules it imports anywhere in its source}."""
    mods = modules()
    edges = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from w2s_bench import registry` imports the submodule; `from w2s_bench.x import f` x
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names
                ]
            else:
                assert not isinstance(node, ast.ImportFrom) or node.level == 0, (
                    f"{path}: relative import; the package imports itself by absolute name"
                )
                continue
            edges[name] |= {t for t in targets if t in mods and t != name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_lazy_imports_and_finds_a_circle():
    edges = graph()
    assert "w2s_bench.textformat" in edges["w2s_bench.tasks.builders"]  # imported inside a function
    assert "w2s_bench.registry" in edges["w2s_bench.cli"]  # `from w2s_bench import registry`
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    found = circles(graph())
    assert not found, (
        "import circles (each a set of modules that import one another): "
        + "; ".join(" <-> ".join(c) for c in found)
        + ". "
        + __doc__.split("\n\n")[1]
    )


def test_the_three_old_circles_stay_broken():
    edges = graph()
    assert "w2s_bench.run" not in edges["w2s_bench.scoring"]
    assert "w2s_bench.leaderboard.build" not in edges["w2s_bench.leaderboard.plot"]
    assert "w2s_bench.audit" not in edges["w2s_bench.tasks.builders"]
    # and two more the walker found: features <-> train, and isolate -> the package's facade
    assert "w2s_bench.train" not in edges["w2s_bench.features"]
    assert w2s_bench.__name__ not in edges["w2s_bench.isolate"]
