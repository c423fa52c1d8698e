"""The offline paper-shaped test assets (tests/support/assets.py): shards that the project's reader reads
back with the right counts and labels, the OOD sets, and the tiny models loading offline and working
where the workflow uses them."""
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from braceexpand import braceexpand
from support.assets import clip_tokenizer, paperlike_assets, save_reference_state_dict, write_wds_split

from synscale.data.shards import read_shard, read_shards
from synscale.prompts import captioners as K
from synscale.prompts import word2sen as W2

torch.set_num_threads(1)

N_CLASSES, SIZE = 4, 32


@pytest.fixture(scope="module")
def assets(paperlike_inputs):
    """The session's paper-shaped inputs (conftest.py: paperlike_assets with its defaults, which are
    N_CLASSES and SIZE; the workflow tests' paper-shaped config points at the same files)."""
    return dict(paperlike_inputs[1])


def shards(pattern) -> list[str]:
    paths = list(braceexpand(str(pattern)))
    assert all(Path(p).is_file() for p in paths), paths
    return paths


def test_write_wds_split_layout_reproducible_and_readable(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5]
    paths = write_wds_split(tmp_path / "a", "train", images, labels, shard_size=2)
    assert [p.name for p in paths] == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    with tarfile.open(paths[1]) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["train-0000002.cls", "train-0000002.png",
                                             "train-0000003.cls", "train-0000003.png"]
        assert {m.mtime for m in members} == {0}
        assert tar.extractfile(members[0]).read() == b"4"
    data = read_shards(paths, channels=3)
    assert data.keys == [f"train-{j:07d}" for j in range(5)]
    assert data.labels.tolist() == labels
    np.testing.assert_array_equal(data.images, images)            # png is lossless
    again = write_wds_split(tmp_path / "b", "train", images, labels, shard_size=2)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]

    jpg = write_wds_split(tmp_path / "c", "val", images, labels, shard_size=5, ext="jpg")
    with tarfile.open(jpg[0]) as tar:
        assert tar.getnames()[:2] == ["val-0000000.cls", "val-0000000.jpg"]
    assert read_shard(jpg[0], size=8, channels=3).images.shape == (5, 8, 8, 3)

    with pytest.raises(ValueError, match="N x H x W x 3"):
        write_wds_split(tmp_path / "d", "x", images[..., 0], labels, shard_size=2)
    with pytest.raises(ValueError, match="must not contain"):
        write_wds_split(tmp_path / "d", "x.y", images, labels, shard_size=2)


def test_paperlike_assets_complete(assets):
    assert set(assets) == {"train_shards", "val_shards", "ood_full", "ood_subset", "ood_subset_indices",
                           "class_index", "sd", "if_stage1", "if_stage2", "amused", "t5", "blip2", "reference",
                           "sdxl", "flux"}
    assert assets["train_shards"].endswith("imagenet/train-{000000..000003}.tar")
    assert assets["val_shards"].endswith("imagenet/val-{000000..000001}.tar")
    assert json.loads(Path(assets["class_index"]).read_text()) == {"names": ["zero", "one", "two", "three"],
                                                                    "ids": ["0", "1", "2", "3"]}


@pytest.mark.parametrize("split, per_class, ext", [("train", 60, "png"), ("val", 20, "jpg")])
def test_imagenet_like_splits(assets, split, per_class, ext):
    paths = shards(assets[f"{split}_shards"])
    for p in paths:
        with tarfile.open(p) as tar:
            assert {n.rsplit(".", 1)[1] for n in tar.getnames()} == {ext, "cls"}
    parts = [read_shard(p, size=SIZE, channels=3) for p in paths]
    assert [len(d) for d in parts][:-1] == [60] * (len(parts) - 1)
    labels = np.concatenate([d.labels for d in parts])
    images = np.concatenate([d.images for d in parts])
    assert len(labels) == N_CLASSES * per_class
    assert np.bincount(labels).tolist() == [per_class] * N_CLASSES
    assert images.shape == (N_CLASSES * per_class, SIZE, SIZE, 3) and images.dtype == np.uint8
    # tinted: the three channels differ, per image, and images are not blank
    assert all((im[..., 0] != im[..., 1]).any() and (im[..., 1] != im[..., 2]).any() for im in images)
    assert images.std(axis=(1, 2, 3)).min() > 10
    if split == "train":
        assert labels.tolist() == [g % N_CLASSES for g in range(len(labels))]   # round robin


def test_ood_sets(assets):
    full = read_shards(shards(assets["ood_full"]), size=SIZE, channels=3)
    assert np.bincount(full.labels).tolist() == [20] * N_CLASSES
    assert full.images.shape[1:] == (SIZE, SIZE, 3)
    sub = read_shards(shards(assets["ood_subset"]), size=SIZE, channels=3)
    assert sorted(set(sub.labels.tolist())) == [1, 3]
    assert np.bincount(sub.labels, minlength=N_CLASSES).tolist() == [0, 20, 0, 20]
    assert Path(assets["ood_subset_indices"]).read_text() == "1\n3\n"
    assert Path(assets["ood_subset_indices"]).parent == Path(assets["ood_subset"]).parent
    assert all((im[..., 0] != im[..., 2]).any() for im in np.concatenate([full.images, sub.images]))


def test_paperlike_assets_are_reproducible(assets, tmp_path):
    again = paperlike_assets(tmp_path, n_classes=N_CLASSES, size=SIZE)
    for key in ("train_shards", "val_shards", "ood_full", "ood_subset"):
        a, b = shards(assets[key]), shards(again[key])
        assert [Path(p).read_bytes() for p in a] == [Path(p).read_bytes() for p in b], key
    a = torch.load(assets["reference"], weights_only=True)
    b = torch.load(again["reference"], weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_sd_loads_offline_and_generates(assets, monkeypatch):
    from diffusers import StableDiffusionPipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = StableDiffusionPipeline.from_pretrained(str(assets["sd"]), local_files_only=True, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.tokenizer.model_max_length == 77 and len(pipe.tokenizer) == 49408
    assert pipe.text_encoder.config.max_position_embeddings == 77
    assert pipe.unet.config.in_channels == pipe.vae.config.latent_channels == 4
    assert pipe.scheduler.config.beta_schedule == "scaled_linear" and pipe.scheduler.config.steps_offset == 1

    def gen(seed):
        return pipe(["a photo of a zero", "a photo of a three"], height=SIZE, width=SIZE, num_inference_steps=2,
                    guidance_scale=2.0, output_type="np", generator=torch.Generator().manual_seed(seed)).images

    a = gen(0)
    assert a.shape == (2, SIZE, SIZE, 3) and 0 <= a.min() <= a.max() <= 1
    b = gen(0)
    c = gen(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    note = json.loads((Path(assets["sd"]) / W2.MODEL_NOTE).read_text())
    assert note["test_model"] is True


def test_clip_tokenizer_is_clips():
    tok = clip_tokenizer()
    ids = tok("a photo of a goldfish, swimming!").input_ids
    # the ids of openai/clip-vit-large-patch14's tokenizer (as in Stable Diffusion 1.5)
    assert ids == [49406, 320, 1125, 539, 320, 40293, 267, 7411, 256, 49407]
    assert tok.convert_ids_to_tokens([0, 256, 49406, 49407]) == ["!", "!</w>", "<|startoftext|>", "<|endoftext|>"]
    assert tok.decode(ids, skip_special_tokens=True) == "a photo of a goldfish , swimming !"
    assert tok("x", padding="max_length", max_length=77).input_ids[2:] == [49407] * 75


def test_reference_state_dict_loads_into_timm(tmp_path):
    import timm

    p = save_reference_state_dict(tmp_path / "ref.pt", "resnet10t", num_classes=5, in_chans=3, seed=1)
    sd = torch.load(p, weights_only=True)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5)
    model.load_state_dict(sd)
    assert sd["fc.weight"].shape == (5, model.num_features)
    again = torch.load(save_reference_state_dict(tmp_path / "b.pt", "resnet10t", 5, seed=1), weights_only=True)
    other = torch.load(save_reference_state_dict(tmp_path / "c.pt", "resnet10t", 5, seed=2), weights_only=True)
    assert torch.equal(sd["fc.weight"], again["fc.weight"]) and not torch.equal(sd["fc.weight"], other["fc.weight"])


def test_reference_state_dict_passes_kwargs(tmp_path):
    p = save_reference_state_dict(tmp_path / "vit.pt", "vit_tiny_patch16_224", num_classes=3,
                                  kwargs={"img_size": 32, "patch_size": 8, "depth": 1})
    sd = torch.load(p, weights_only=True)
    assert sd["head.weight"].shape[0] == 3 and sd["pos_embed"].shape[1] == 1 + (32 // 8) ** 2
    assert not any(k.startswith("blocks.1.") for k in sd)


def test_tiny_t5_from_assets_generates_sentences(assets):
    desc = W2.describe_model(assets["t5"])
    assert desc["test_model"] is True and desc["model_type"] == "t5"
    out, info = W2.generate_sentences(assets["t5"], ["zero", "three"], ["0", "3"], seed=0, per_class=5,
                                      batch_size=8, max_new_tokens=6, device="cpu")
    assert [len(s) for s in out] == [5, 5] and all(x for ss in out for x in ss)
    assert info["model"]["test_model"] is True


def test_tiny_blip2_from_assets_captions_the_val_shards(assets):
    cap = K.Blip2Captioner(assets["blip2"], device="cpu", batch_size=8, max_new_tokens=5)
    _, images, _ = K.read_shard_images(shards(assets["val_shards"])[-1])
    caps = cap.caption(images[:8])
    assert len(caps) == 8 and all(isinstance(c, str) for c in caps)
    assert caps == cap.caption(images[:8])       # greedy: a pure function of the image
    assert cap.describe()["test_model"] is True
