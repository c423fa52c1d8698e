
import pytest

from synscale.io import atomic_path, atomic_write_text, read_json, remove_stale_partials, sha256_file, write_json


def test_atomic_write_replaces_only_on_success(tmp_path):
    final = tmp_path / "out.txt"
    atomic_write_text(final, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert final.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_no_final_file_when_first_write_fails(tmp_path):
    final = tmp_path / "sub" / "x.bin"
    with pytest.raises(ValueError):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"abc")
            raise ValueError
    assert not final.exists()


def test_stale_partials_are_removed(tmp_path):
    final = tmp_path / "shard.tar"
    stale = tmp_path / ".shard.tar.partial-12345"
    stale.write_bytes(b"junk")
    assert remove_stale_partials(final) == 1
    assert not stale.exists()


def test_atomic_dir(tmp_path):
    final = tmp_path / "model"
    with atomic_path(final, is_dir=True) as tmp:
        (tmp / "a.json").write_text("{}")
        assert not final.exists()
    assert (final / "a.json").exists()


def test_json_roundtrip_and_errors(tmp_path):
    import numpy as np

    p = tmp_path / "a.json"
    write_json(p, {"x": np.float32(1.5), "y": np.arange(3)})
    assert read_json(p) == {"x": 1.5, "y": [0, 1, 2]}
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ValueError, match="bad.json"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_json(tmp_path / "missing.json")


def test_sha256(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
