"""Pack the smallest W2S_BENCH_HOME a GPU host without network needs to run a suite.

    python benchmarks/pack_gpu_assets.py [--suite pocket] [--out gpu_assets]

Writes OUT/assets/<name>-<version>/ in the unpacked-asset layout that `w2s_bench.assets` reads
(with its `.w2s-unpacked` marker, so no wheel is fetched), holding only what the suite reads:
each task's data file or folder, and each rung's model folder with its safetensors weights
stored in bf16 (the pocket MiniLM: 87 MiB in fp32). A float32 rung loads them back as float32,
so the GPU run trains on the bf16-rounded weights: the GPU-vs-CPU comparison of
benchmarks/gpu_check.sh includes that rounding. Prints every file's size and the total.
Use it there with `W2S_BENCH_HOME=OUT` (the device tool carries OUT, at most 64 MiB).

`--wheels` also downloads (pip, from the package index) into OUT/wheels the wheels of the packages
this code needs that the lent GPU image lacks (see /work/.library/device/KINDS.md there: pydantic
and datasets with their own missing dependencies), at the versions installed here, for CPython
3.12 on x86-64 Linux; benchmarks/gpu_check.sh installs them with --no-index --no-deps.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SKIP = {".gitattributes", "README.md"}  # model-card files no loader reads
# what the GPU image lacks (it has torch, transformers, peft, pandas, pyarrow, scikit-learn, ...)
GPU_WHEELS = (
    "pydantic",
    "pydantic_core",
    "annotated-types",
    "typing-inspection",
    "datasets",
    "dill",
    "multiprocess",
    "typing_extensions",
)


def needed(suite: str) -> list[tuple[str, str, str]]:
    """(package, path inside the asset, kind) for every wheel source the suite reads."""
    from w2s_bench.registry import load_ladder, load_suite
    from w2s_bench.specs import WheelSource
    from w2s_bench.tasks import load_task

    spec = load_suite(suite)
    out = []
    for name in spec.tasks:
        src = load_task(name).source
        if isinstance(src, WheelSource):
            out.append((src.package, src.path, "data"))
    for rung in load_ladder(spec.ladder).rungs:
        if isinstance(rung.source, WheelSource):
            out.append((rung.source.package, rung.source.path, "model"))
    return sorted(set(out))


def _bf16_copy(src: Path, dst: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    save_file(
        {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()},
        str(dst),
        metadata={**meta, "format": "pt"},
    )


def pack(suite: str, out: Path) -> dict[str, int]:
    """Build OUT; returns {relative path: bytes}."""
    from w2s_bench.assets import _DONE, ASSETS, asset_dir

    out = Path(out)
    sizes = {}
    for package, path, kind in needed(suite):
        src_root = asset_dir(package)
        dst_root = out / "assets" / package.replace("==", "-")
        src = src_root / path
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            if f.name in SKIP:
                continue
            rel = f.relative_to(src_root)
            dst = dst_root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if kind == "model" and f.suffix == ".safetensors":
                _bf16_copy(f, dst)
            else:
                shutil.copy2(f, dst)
        (dst_root / _DONE).write_text(
            f"{ASSETS[package]}\nsubset for suite {suite} packed by "
            f"benchmarks/pack_gpu_assets.py (model weights in bf16)\n"
        )
    for f in sorted(out.rglob("*")):
        if f.is_file():
            sizes[str(f.relative_to(out))] = f.stat().st_size
    return sizes


def download_wheels(folder: Path) -> None:
    import importlib.metadata as md
    import subprocess
    import sys

    specs = [f"{name}=={md.version(name)}" for name in GPU_WHEELS]
    platforms = [
        a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64") for a in ("--platform", p)
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(folder),
            *specs,
        ],
        check=True,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="pocket")
    ap.add_argument("--out", type=Path, default=Path("gpu_assets"))
    ap.add_argument("--wheels", action="store_true", help="also download the wheels the GPU image lacks")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    pack(args.suite, args.out)
    if args.wheels:
        download_wheels(args.out / "wheels")
    sizes = {str(f.relative_to(args.out)): f.stat().st_size for f in sorted(args.out.rglob("*")) if f.is_file()}
    for rel, n in sizes.items():
        print(f"{n / 2**20:9.2f} MiB  {rel}")
    total = sum(sizes.values())
    print(f"{total / 2**20:9.2f} MiB  total in {args.out} ({total} bytes)")
    return sizes


if __name__ == "__main__":
    main()
