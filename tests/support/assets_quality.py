"""Offline test assets for FID and LPIPS on the paper path: randomly initialised network weights
saved in the formats the real local copies have (no download), so that the code reading real
weights runs in tests."""
from __future__ import annotations

from pathlib import Path
from unittest import mock


def save_random_inception(path: str | Path, seed: int = 0) -> Path:
    """A randomly initialised FID Inception-v3 (torch-fidelity's ``inception-v3-compat``) state dict,
    shaped like ``pt_inception-2015-12-05-6726825d.pth``. Its constructor would download the real
    weights, so construction runs with the loading patched out."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fx

    torch.manual_seed(seed)
    with mock.patch.object(fx, "load_state_dict_from_url", return_value=None), \
            mock.patch.object(fx.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, strict=True: None):
        net = fx.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), path)
    return Path(path)


def save_random_squeezenet(path: str | Path, seed: int = 0) -> Path:
    """A randomly initialised torchvision SqueezeNet 1.1 state dict (the LPIPS 'squeeze' backbone),
    shaped like torchvision's ``SqueezeNet1_1_Weights.IMAGENET1K_V1`` file."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    return Path(path)


def save_dtd_like(root: str | Path, n_classes: int = 4, per_split: int = 12, size: int = 32) -> Path:
    """A local dataset root in the layout ``torchvision.datasets.DTD`` reads with ``download=False``
    (``dtd/dtd/images/<class>/<file>.jpg`` and ``dtd/dtd/labels/{train,val,test}1.txt``), holding
    scikit-learn's 8x8 digits upscaled to ``size`` px RGB, ``per_split`` per class and split (a
    real image dataset standing in for the paper's 15 probe datasets). Returns the root."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    root = Path(root)
    base = root / "dtd" / "dtd"
    d = load_digits()
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for c in range(n_classes):
        cls = f"texture{c}"
        (base / "images" / cls).mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(d.target == c)[: 3 * per_split]
        for i, j in enumerate(idx):
            img = Image.fromarray((d.images[j] * 255 / 16).astype(np.uint8)).resize((size, size), Image.BICUBIC)
            name = f"{cls}_{i:04d}.jpg"
            img.convert("RGB").save(base / "images" / cls / name, quality=95)
            lines[("train", "val", "test")[i // per_split]].append(f"{cls}/{name}")
    (base / "labels").mkdir(parents=True, exist_ok=True)
    for split, ls in lines.items():
        (base / "labels" / f"{split}1.txt").write_text("".join(f"{x}\n" for x in ls))
    return root
