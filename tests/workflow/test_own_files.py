"""The science on a researcher's own files (tests/configs/ownfiles.yaml), through Snakemake: real
train shards sorted by class and of unequal sizes, a reference classifier trained with ImageNet's
mean / std, a probe dataset without ``.classes``. Conventions that differ from the project's own
fixtures, so that a silent assumption (equal shard sizes, shard order, [-1, 1] inputs,
``dataset.classes``) shows."""
import json

import numpy as np
import pytest
import yaml
from support.assets_ownfiles import N_CLASSES, SHARD_SIZES, TRAIN_PER_CLASS
from support.repo import smk

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

RES = "results/ownfiles"
SCALES = (40, 85, 160)
CLIP_EVAL = f"{RES}/clip/eval/real_laion/n80.json"
TARGETS = (f"{RES}/scaling/real.json", f"{RES}/reference/metrics.json", f"{RES}/data/real_subsets.json", CLIP_EVAL)


@pytest.fixture(scope="module")
def built(ownfiles_config, tmp_path_factory):
    wd = tmp_path_factory.mktemp("ownfiles-run")
    smk(wd, *TARGETS, configfile=ownfiles_config, timeout=1500)
    return wd, wd / RES


def test_the_index_counts_shards_of_unequal_sizes(built):
    _, res = built
    index = json.loads((res / "data" / "index.json").read_text())
    assert [s["count"] for s in index["shards"]] == list(SHARD_SIZES)
    assert index["class_counts"] == [TRAIN_PER_CLASS] * N_CLASSES
    # class-sorted: the first shard holds class 0 only, the last class 4 only
    assert index["shards"][0]["class_counts"] == [SHARD_SIZES[0], 0, 0, 0, 0]
    assert index["shards"][-1]["class_counts"] == [0, 0, 0, 0, SHARD_SIZES[-1]]


def test_every_real_scale_trains_on_a_class_balanced_subset(built):
    """D / 5 of every class at every scale (a prefix in shard order would have held class 0 alone at
    D = 40), recorded in each training job's JSON and beside the index."""
    _, res = built
    subsets = json.loads((res / "data" / "real_subsets.json").read_text())
    for d in SCALES:
        want = [d // N_CLASSES + (1 if c < d % N_CLASSES else 0) for c in range(N_CLASSES)]
        info = json.loads((res / "checkpoints" / "real" / f"n{d}" / "train.json").read_text())
        got = info["real_subset"]["class_counts"]
        assert sum(got) == d and max(got) - min(got) <= 1 and sorted(got) == sorted(want), (d, got)
        assert subsets["scales"][str(d)]["class_counts"] == got
    fit = json.loads((res / "scaling" / "real.json").read_text())
    assert [p["scale"] for p in fit["points"]] == list(SCALES) and np.isfinite(fit["k"])


def test_the_external_reference_is_fed_its_own_normalisation(built):
    """Trained with timm's ImageNet mean / std, it is a good classifier when fed that way (0.96 val
    top-1; 0.61-0.74 when fed [-1, 1] inputs, measured when this fixture was written)."""
    _, res = built
    m = json.loads((res / "reference" / "metrics.json").read_text())
    assert m["val_top1"] > 0.9, m["val_top1"]
    assert m["normalization"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert "pretrained_cfg of resnet10t" in m["normalization"]["source"]
    assert np.isfinite(m["val_loss"]) and len(m["per_class_top1"]) == N_CLASSES


def test_a_probe_without_classes_is_probed_and_zero_shot(built):
    """GTSRB has no .classes: the linear probe scores it by Table A2's metric (top-1), CLIP's
    zero-shot names its 43 classes as clip-benchmark does."""
    _, res = built
    e = json.loads((res / "eval" / "real" / "n160.json").read_text())
    p = e["probes"]["gtsrb"]
    assert p["metric"] == "top1" and p["n_test"] == 30 and 0 <= p["score"] <= 1
    z = json.loads((res.parent.parent / CLIP_EVAL).read_text())["probes"]["gtsrb"]
    assert z["classes"] == 43 and z["n"] == 30 and 0 <= z["top1"] <= 1 and np.isfinite(z["loss"])
    assert z["classnames_source"].startswith("clip-benchmark") and z["benchmark_key"] == "gtsrb"


def test_a_real_scale_beyond_the_data_stops_before_any_job(built, tmp_path, ownfiles_config):
    """Once the data is indexed, a real scale larger than it stops the workflow while it parses, in a
    dry run as in a run, naming the key; on a workspace without the index, rule real_subsets
    refuses it as soon as the index (the top-priority job) exists."""
    from synscale.data.index import check_scales

    wd, res = built
    cfg = yaml.safe_load(ownfiles_config.read_text())
    cfg["runs"][0]["scales"] = [40, 85, 300]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    for dry in (("-n",), ()):
        p = smk(wd, *dry, f"{RES}/scaling/real.json", configfile=edited, check=False)
        out = p.stdout + p.stderr
        assert p.returncode != 0, out[-3000:]
        assert "config key 'runs[0].scales': real-data scales [300] exceed the 240 samples" in out, out[-3000:]
        assert "rule " not in out and "Job stats" not in out  # no job planned, none started
    assert not (res / "checkpoints" / "real" / "n300").exists()
    with pytest.raises(ValueError, match=r"runs\[0\]\.scales"):  # what rule real_subsets runs
        check_scales(json.loads((res / "data" / "index.json").read_text()), {"runs[0].scales": [40, 85, 300]})
