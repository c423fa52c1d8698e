"""A researcher's own files, with conventions that differ from ``assets.py``'s on purpose
(``tests/configs/ownfiles.yaml``):

* real train shards **sorted by class** and of **unequal sizes** (as many ImageNet webdataset exports
  are), val in one shard of jpgs;
* the class index as a plain JSON list of names (no ids);
* a reference classifier **trained here** (not a random stand-in) with timm's default ImageNet
  mean / std normalisation, saved as a plain timm state dict: the workflow must feed it that
  normalisation (from timm's ``pretrained_cfg``) to see its accuracy;
* a probe dataset in torchvision's **GTSRB** layout, a dataset class without ``.classes`` (its class
  names come from clip-benchmark for CLIP's zero-shot).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from support.assets import _take_per_class, brace_pattern, tint, write_wds_split

N_CLASSES = 5
TRAIN_PER_CLASS = 48
VAL_PER_CLASS = 16
SIZE = 32
# 240 train samples, class-sorted, in shards of these sizes
SHARD_SIZES = (37, 53, 11, 70, 29, 40)
GTSRB_CLASSES = 3


def write_class_sorted_shards(out_dir: Path, images: np.ndarray, labels: np.ndarray) -> list[Path]:
    """``images`` sorted by label, cut into shards of SHARD_SIZES (png)."""
    from synscale.data.shards import Sample, write_shard

    order = np.argsort(labels, kind="stable")
    images, labels = images[order], labels[order]
    assert sum(SHARD_SIZES) == len(labels)
    out, lo = [], 0
    for s, n in enumerate(SHARD_SIZES):
        path = out_dir / f"train-{s:04d}.tar"
        write_shard(path, (Sample(f"img{lo + i:06d}", images[lo + i], int(labels[lo + i])) for i in range(n)))
        out.append(path)
        lo += n
    return out


def train_imagenet_normalised_reference(path: Path, images: np.ndarray, labels: np.ndarray,
                                        steps: int = 300) -> Path:
    """resnet10t trained on ``images`` (uint8 N x H x W x 3) as timm trains it: pixels / 255
    normalised by ImageNet's mean and std. Saved as a plain state dict."""
    import timm
    import torch
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=N_CLASSES)
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(IMAGENET_DEFAULT_MEAN)[:, None, None]) / torch.tensor(IMAGENET_DEFAULT_STD)[:, None, None]
    y = torch.as_tensor(labels, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (32,), generator=g)
        # small shifts, so the model does not depend on the exact pixels (the val split is jpg)
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
        loss = torch.nn.functional.cross_entropy(model(torch.roll(x[idx], (dy, dx), (2, 3))), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def save_gtsrb_like(root: Path, rng: np.random.Generator) -> Path:
    """torchvision's GTSRB layout with GTSRB_CLASSES classes: ``gtsrb/GTSRB/Training/0000c/*.ppm``
    and ``gtsrb/GTSRB/Final_Test/Images/*.ppm`` listed in ``gtsrb/GT-final_test.csv``. Class c is a
    sign-like disc of its own colour and size."""
    from PIL import Image

    base = root / "gtsrb"
    test_dir = base / "GTSRB" / "Final_Test" / "Images"
    test_dir.mkdir(parents=True, exist_ok=True)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    yy, xx = np.mgrid[:SIZE, :SIZE]
    colours = np.array([[220, 30, 30], [30, 30, 220], [240, 200, 20]])
    n = 0
    for split, per_class in (("train", 20), ("test", 10)):
        for c in range(GTSRB_CLASSES):
            d = base / "GTSRB" / "Training" / f"{c:05d}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                cx, cy = rng.integers(12, 20, 2)
                r = 6 + 3 * c + rng.integers(0, 2)
                img = rng.integers(90, 140, (SIZE, SIZE, 3)).astype(np.uint8)
                img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = colours[c]
                name = f"{n:05d}.ppm"
                n += 1
                if split == "train":
                    Image.fromarray(img).save(d / name)
                else:
                    Image.fromarray(img).save(test_dir / name)
                    rows.append(f"{name};{SIZE};{SIZE};0;0;{SIZE - 1};{SIZE - 1};{c}")
    (base / "GT-final_test.csv").write_text("\n".join(rows) + "\n")
    return root


def ownfiles_assets(root: str | Path) -> dict:
    """Write the inputs of ``tests/configs/ownfiles.yaml`` under ``root``; return the placeholder
    name -> path map."""
    from synscale.data.embedded import DIGIT_NAMES, load_mnist_embedded, resize

    root = Path(root)
    rng = np.random.default_rng(1)
    classes = list(range(N_CLASSES))
    images, labels = load_mnist_embedded()
    train_idx, val_idx = _take_per_class(labels, classes, [TRAIN_PER_CLASS, VAL_PER_CLASS], rng)
    rgb = tint(resize(images[np.concatenate([train_idx, val_idx])], SIZE), rng)
    tr_img, va_img = rgb[:len(train_idx)], rgb[len(train_idx):]
    train = write_class_sorted_shards(root / "data", tr_img, labels[train_idx])
    val = write_wds_split(root / "data", "val", va_img, labels[val_idx], len(val_idx), "jpg")
    class_index = root / "classes.json"
    class_index.write_text(json.dumps(DIGIT_NAMES[:N_CLASSES]) + "\n")
    reference = train_imagenet_normalised_reference(root / "models" / "resnet10t-in1k-norm.pt", tr_img,
                                                    labels[train_idx])
    return {"train_shards": brace_pattern(train), "val_shards": brace_pattern(val), "class_index": class_index,
            "reference": reference, "gtsrb": save_gtsrb_like(root / "probes", rng)}


def write_ownfiles_config(assets_dir: str | Path, out: str | Path, sd: str | Path) -> Path:
    """``tests/configs/ownfiles.yaml`` pointed at the inputs written under ``assets_dir`` (``sd``: a
    tiny saved SD pipeline; the CLIP study trains only its real arm, so it samples nothing)."""
    from support.assets import caption_dataset_assets
    from support.repo import ROOT

    assets_dir = Path(assets_dir)
    paths = {**ownfiles_assets(assets_dir), "sd": sd, "laion": caption_dataset_assets(assets_dir / "laion")}
    text = (ROOT / "tests" / "configs" / "ownfiles.yaml").read_text()
    for name, path in paths.items():
        text = text.replace(f"@{name}@", str(path))
    assert "\"@" not in text, "unreplaced placeholder in ownfiles.yaml"
    Path(out).write_text(text)
    return Path(out)
