"""A sealed process's start-up cost: from the orchestrator's `run_sealed` call to the first line of
the method's code, and where that time goes, in one run, alternating.

    python benchmarks/sealed_start.py [--repeats 5] [--out FILE.md]

A throw-away method module records `time.time()` on its first line; a describe job (what
`registry.method_refs` runs to read a config: the cheapest sealed job) imports it. Per repeat:

- `audit-hook`, `bubblewrap cold` (`W2S_BENCH_ZYGOTE=0`: a fresh sandboxed interpreter per job)
  and `bubblewrap warm` (a fork of the warm worker, `w2s_bench/zygote.py`): `run_sealed` with the
  default hidden paths; "to method code" is the method's first line minus the call's start,
  "job" the whole call. The warm worker starts in the warm-up round (its start-up is shown as
  `bubblewrap warm, first job`);
- `python`: a bare `python -c pass` (the interpreter alone);
- `preload`: `python -c "import ..."` of `isolate.PRELOAD` (what a sealed child imports before
  it seals itself), outside any sandbox.

The difference between the sealed start and `preload` is bubblewrap's namespaces, the job folder
and the seal; `preload` minus `python` is the libraries' import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing_report import load_average, write_results

PROBE = """import time
IMPORTED_AT = time.time()  # the method's first line
from w2s_bench.api import Method


class Probe(Method):
    class Config(Method.Config):
        imported_at: float = IMPORTED_AT

    def train_student(self, weak_labels):
        raise NotImplementedError
"""


def sealed(how: str, warm: bool = True) -> tuple[float, float]:
    from w2s_bench import isolate
    from w2s_bench.registry import default_hidden

    os.environ["W2S_BENCH_ISOLATION"] = how
    os.environ["W2S_BENCH_ZYGOTE"] = "1" if warm else "0"
    t0 = time.time()
    info, _ = isolate.run_sealed(
        {"kind": "describe", "methods": {"probe": ("w2s_start_probe:Probe", {})}},
        hidden=[str(h) for h in default_hidden()],
    )
    return info["probe"]["config"]["imported_at"] - t0, time.time() - t0


def bare(code: str) -> float:
    t0 = time.time()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return time.time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    from w2s_bench import isolate

    with tempfile.TemporaryDirectory(prefix="w2s-start-probe-") as d:
        (Path(d) / "w2s_start_probe.py").write_text(PROBE)
        sys.path.insert(0, d)
        kinds = [(isolate.AUDIT_HOOK, "audit-hook", False)]
        if isolate._bwrap_runs() is None:
            kinds += [(isolate.BUBBLEWRAP, "bubblewrap cold", False), (isolate.BUBBLEWRAP, "bubblewrap warm", True)]
        preload = "import " + ", ".join(isolate.PRELOAD)
        times: dict[str, list[float]] = {}
        for r in range(args.repeats + 1):  # the first round warms the page cache; not counted
            row = {"python": bare("pass"), "preload": bare(preload)}
            for how, name, warm in kinds:
                first, job = sealed(how, warm)
                row[f"{name} to method code"], row[f"{name} job"] = first, job
            if not r and isolate._bwrap_runs() is None:
                times["bubblewrap warm, first job (the worker starts)"] = [row["bubblewrap warm job"]]
            if r:
                for k, v in row.items():
                    times.setdefault(k, []).append(v)
    load = load_average()
    lines = [
        f"{args.repeats} repeats after one warm-up round; {os.cpu_count()} CPUs, load average at the end {load}",
        "",
        "| what | median s | min s | max s |",
        "|---|---|---|---|",
    ]
    for k, v in times.items():
        lines.append(f"| {k} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} |")
    text = "\n".join(lines)
    print(text)
    write_results(args.out, "Sealed process start-up", "sealed_start.py", argv, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
