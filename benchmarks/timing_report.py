"""What the timing scripts in benchmarks/ share: the machine's load, and the results file that
keeps a table next to the command that made it."""

from __future__ import annotations

import sys
from pathlib import Path


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, or "?" where /proc has none."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_results(out: Path | None, title: str, script: str, argv: list[str] | None, text: str) -> None:
    """`text` into `out` (if given) under `title`, after the command line that produced it."""
    if out is None:
        return
    cmd = f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    out.write_text(f"# {title}\n\n`{cmd.strip()}`\n\n{text}\n")
