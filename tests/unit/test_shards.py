import tarfile

import numpy as np
import pytest

from synscale.data.shards import (
    CorruptShardError,
    Sample,
    read_shard,
    read_shards,
    verify_manifest,
    write_manifest,
    write_shard,
)


def _samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Sample(f"s{i:04d}", rng.integers(0, 256, (16, 16, 1), dtype=np.uint8), i % 10, f"prompt {i}")
            for i in range(n)]


def test_roundtrip(tmp_path):
    s = _samples(12)
    p = tmp_path / "a.tar"
    assert write_shard(p, s) == 12
    d = read_shard(p)
    assert d.keys == [x.key for x in s]
    assert d.images.shape == (12, 16, 16, 1)
    np.testing.assert_array_equal(d.images, np.stack([x.image for x in s]))
    assert d.labels.tolist() == [i % 10 for i in range(12)]
    assert d.texts[3] == "prompt 3"


def test_bytes_are_deterministic(tmp_path):
    write_shard(tmp_path / "a.tar", _samples(5))
    write_shard(tmp_path / "b.tar", _samples(5))
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_webdataset_reads_our_shards(tmp_path):
    import webdataset as wds

    p = tmp_path / "a.tar"
    write_shard(p, _samples(4))
    rows = list(wds.WebDataset(str(p), shardshuffle=False).decode("l").to_tuple("png", "cls", "txt"))
    assert len(rows) == 4
    img, cls, txt = rows[1]
    assert img.shape == (16, 16) and int(cls) == 1 and txt == "prompt 1"


def test_truncated_shard_names_file(tmp_path):
    p = tmp_path / "bad.tar"
    write_shard(p, _samples(6))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptShardError, match=r"bad\.tar.*re-run snakemake"):
        read_shard(p)


def test_garbage_image_names_sample(tmp_path):
    import io

    p = tmp_path / "g.tar"
    with tarfile.open(p, "w") as tar:
        for name, data in (("k1.png", b"not a png"), ("k1.cls", b"3")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CorruptShardError, match="k1"):
        read_shard(p)


def test_missing_class_member(tmp_path):
    import io

    p = tmp_path / "m.tar"
    with tarfile.open(p, "w") as tar:
        info = tarfile.TarInfo("k1.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(CorruptShardError, match="lacks an image"):
        read_shard(p)


def test_read_shards_limit_and_shortfall(tmp_path):
    write_shard(tmp_path / "0.tar", _samples(5, 0))
    write_shard(tmp_path / "1.tar", _samples(5, 1))
    d = read_shards([tmp_path / "0.tar", tmp_path / "1.tar"], limit=7)
    assert len(d) == 7
    with pytest.raises(ValueError, match="hold 10"):
        read_shards([tmp_path / "0.tar", tmp_path / "1.tar"], limit=11)


def test_manifest(tmp_path):
    p = tmp_path / "a.tar"
    write_shard(p, _samples(10))
    man = write_manifest(p, tmp_path / "a.json", seed=7)
    assert man["count"] == 10 and man["seed"] == 7
    assert man["class_counts"] == {str(c): 1 for c in range(10)}
    verify_manifest(p, tmp_path / "a.json")
    write_shard(p, _samples(10, seed=3))
    with pytest.raises(CorruptShardError, match="does not match"):
        verify_manifest(p, tmp_path / "a.json")


@pytest.mark.parametrize("chunk", [512, 1500, 4096, 1 << 22])
def test_reader_matches_tarfile_for_any_chunking(tmp_path, chunk):
    """Members smaller and larger than the read chunk, padding across chunk ends, GNU long names."""
    import io

    from synscale.data.shards import iter_members

    rng = np.random.default_rng(0)
    members = [(f"k{i}.{ext}", rng.integers(0, 255, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes())
               for i in range(120) for ext in ("png", "cls")]
    members.append(("d" * 120 + "/k999.png", b"long name"))
    p = tmp_path / "m.tar"
    with tarfile.open(p, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert list(iter_members(p, chunk=chunk)) == members
