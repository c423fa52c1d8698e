"""Integrity on read (synscale/integrity.py): files are checked against their manifests by size
and sha256; a failure names the file, what is wrong and the repair command."""
import hashlib
import json

import numpy as np
import pytest

from synscale.data import integrity as I
from synscale.data.shards import Sample, write_manifest, write_shard


@pytest.fixture()
def shard(tmp_path):
    rng = np.random.default_rng(0)
    samples = [Sample(f"k{i:04d}", rng.integers(0, 255, (8, 8, 1), dtype=np.uint8), i % 3, "x") for i in range(12)]
    tar = tmp_path / "shard-00000.tar"
    write_shard(tar, samples)
    write_manifest(tar, tmp_path / "shard-00000.json", run="r")
    return tar, tmp_path / "shard-00000.json"


def test_a_shard_manifest_covers_its_tar(shard):
    tar, man = shard
    recs = I.records_of(man)
    data = tar.read_bytes()
    assert recs == {str(tar): {"count": 12, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    assert I.problem(tar, recs[str(tar)]) is None
    I.check([tar], [man])  # intact: no error


def test_truncated_file_is_named_with_the_repair(shard):
    tar, man = shard
    full = tar.stat().st_size
    tar.write_bytes(tar.read_bytes()[: full // 2])
    with pytest.raises(I.IntegrityError) as e:
        I.check([tar], [man])
    msg = str(e.value)
    assert msg.startswith(f"{tar}: {full // 2:,} bytes where its manifest records {full:,} (truncated or overwritten)")
    assert "python -m synscale.verify --rebuild" in msg


def test_flipped_byte_is_found(shard):
    tar, man = shard
    data = bytearray(tar.read_bytes())
    before = hashlib.sha256(data).hexdigest()
    data[700] ^= 0xFF
    tar.write_bytes(bytes(data))
    after = hashlib.sha256(data).hexdigest()
    assert I.problem(tar, I.records_of(man)[str(tar)]) == \
        f"sha256 {after[:12]}… where its manifest records {before[:12]}… (changed after it was written)"
    tar.unlink()
    assert I.problem(tar, I.records_of(man)[str(tar)]) == "missing"


def test_files_manifest_and_missing_manifest(tmp_path):
    a = tmp_path / "model.pt"
    a.write_bytes(b"weights")
    assert I.record(a) == {"bytes": 7, "sha256": hashlib.sha256(b"weights").hexdigest()}
    assert I.record(a, count=3)["count"] == 3
    (tmp_path / "train.json").write_text(json.dumps({"files": {"model.pt": I.record(a)}}))
    I.check([a], [tmp_path / "train.json"])
    a.write_bytes(b"garbage")
    with pytest.raises(I.IntegrityError, match="model.pt: sha256"):
        I.check([a], [tmp_path / "train.json"])
    with pytest.raises(I.IntegrityError, match="manifest missing"):
        I.check([a], [tmp_path / "nope.json"])


def test_uncovered_files_are_not_checked(shard, tmp_path):
    tar, man = shard
    other = tmp_path / "external.tar"
    other.write_bytes(b"not a manifest-backed file")
    I.check([other], [man])
