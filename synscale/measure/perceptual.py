"""FID and LPIPS of a synthetic image set (the paper's App. D), and per-class FID (App. G.4).

* **FID** between the synthetic test set and the real validation set: torchmetrics'
  ``FrechetInceptionDistance``. With ``quality.fid.inception_weights`` (a local copy of the FID
  Inception-v3 weights, read by torch-fidelity) the features are the standard 2048-d pool features;
  without it (the embedded default: no Inception weights exist offline) they are the reference
  classifier's pre-logit features, and every output says so. Features are computed once per image
  and fed to the metric (``_Precomputed`` passes them through).
* **Per-class FID** as App. G.4 measures it: per class, the run's synthetic *training* images of
  that class (1,300 on ImageNet: its first 1.3M) against all real *training* images of that class,
  in the same feature space (the test set's 50 images per class are too few for a 2,048-d
  covariance). ``class_frechet_distance`` computes it exactly through the features' Gram form, which
  stays fast and well-conditioned when a class has fewer images than the feature dimension.
* **LPIPS** over ``pairs_per_class`` random same-class pairs of the synthetic test set, averaged per
  class and then over classes (higher: more diverse). With ``quality.lpips.backbone_weights`` (a
  local torchvision AlexNet / VGG16 / SqueezeNet state dict) it is torchmetrics'
  ``LearnedPerceptualImagePatchSimilarity`` with the learned linear layers it ships; without it, the
  same distance in the reference classifier's feature space (``ReferenceLPIPS``: channel-normalised
  activations of its stages, squared differences averaged over positions and summed over stages,
  with unit layer weights since no learned ones exist for that network).
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

REFERENCE_SPACE = "reference classifier"
# torchvision weights the LPIPS backbones load (the file a local copy should be)
LPIPS_BACKBONES = {"alex": ("alexnet", "AlexNet_Weights"), "vgg": ("vgg16", "VGG16_Weights"),
                   "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights")}


class _Precomputed(torch.nn.Module):
    """A 'feature extractor' for torchmetrics' FID that passes precomputed features through."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between two sets of features (N x d), computed by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(real)} real and {len(fake)} synthetic")
    m = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]), reset_real_features=False)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    return float(m.compute())


def class_frechet_distance(real: torch.Tensor, fake: torch.Tensor, device: torch.device | str | None = None) -> float:
    """FID between two sets of features (N x d), in float64, exactly: with A and B the centred
    features scaled by 1 / sqrt(N - 1) (so that the covariances are A^T A and B^T B),
    tr sqrt(S_real S_fake) is the nuclear norm of A B^T (the square roots of the eigenvalues of
    A^T A B^T B are the singular values of A B^T). Costs N_real x N_fake x d, not d^3: one class's
    ~1,300 images in 2,048 dimensions take about a second on a CPU, where the eigenvalues of the
    rank-deficient product S_real S_fake are both slow and ill-conditioned."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(real)} real and {len(fake)} synthetic")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"FID: features of different dimensions ({real.shape[1]} real, {fake.shape[1]} synthetic)")
    r = real.to(device=device, dtype=torch.float64)
    f = fake.to(device=device, dtype=torch.float64)
    a = (r - r.mean(0)) / (len(r) - 1) ** 0.5
    b = (f - f.mean(0)) / (len(f) - 1) ** 0.5
    cross = torch.linalg.svdvals(a @ b.T).sum()
    d = (r.mean(0) - f.mean(0)).square().sum() + a.square().sum() + b.square().sum() - 2 * cross
    return float(d)


def first_per_class(labels: np.ndarray, per_class: int, n_classes: int) -> np.ndarray:
    """Indices (ascending) of the first ``per_class`` images of each class, in the given order
    (a class with fewer gives all it has)."""
    labels = np.asarray(labels)
    keep = np.zeros(len(labels), dtype=bool)
    for c in range(n_classes):
        keep[np.flatnonzero(labels == c)[:per_class]] = True
    return np.flatnonzero(keep)


def require_images(counts: Sequence[int], side: str, min_images: int, names: Sequence[str] | None = None,
                   key: str = "quality.per_class_fid.min_images_per_class") -> None:
    """An error naming ``key`` when a class has fewer than ``min_images`` images (``counts`` per
    class, of the ``side`` named): its covariance would be noise."""
    short = [c for c, n in enumerate(counts) if n < min_images]
    if short:
        shown = ", ".join(f"{c} ({names[c]})" if names is not None else str(c) for c in short[:10])
        raise ValueError(
            f"per-class FID: {len(short)} class(es) have fewer than {key} = {min_images} {side} images "
            f"(class {shown}{', ...' if len(short) > 10 else ''}: {int(counts[short[0]])} images); a covariance "
            f"from so few is noise. Give more images (quality.per_class_fid.scale for synthetic ones) "
            f"or lower {key}")


def per_class_fid(real: torch.Tensor, real_labels: np.ndarray, fake: torch.Tensor, fake_labels: np.ndarray,
                  n_classes: int, min_images: int, names: Sequence[str] | None = None,
                  key: str = "quality.per_class_fid.min_images_per_class",
                  device: torch.device | str | None = None) -> dict:
    """FID of each class's synthetic images against its real ones (``class_frechet_distance``),
    their mean over classes, and the images per class on each side. A class with fewer than
    ``min_images`` on either side is an error naming ``key`` (``require_images``)."""
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    n_real = np.bincount(real_labels, minlength=n_classes)[:n_classes]
    n_fake = np.bincount(fake_labels, minlength=n_classes)[:n_classes]
    require_images(n_real, "real training", min_images, names, key)
    require_images(n_fake, "synthetic training", min_images, names, key)
    per = [class_frechet_distance(real[real_labels == c], fake[fake_labels == c], device) for c in range(n_classes)]
    return {"per_class_fid": per, "mean_class_fid": float(np.mean(per)) if per else None,
            "n_real_per_class": n_real.tolist(), "n_synthetic_per_class": n_fake.tolist()}


def pairs_of(n: int, per_class: int, seed: int, label: int) -> np.ndarray:
    """(k x 2) indices of ``per_class`` distinct random pairs among ``n`` images of class ``label``
    (all pairs when fewer exist), seeded by (seed, label)."""
    i, j = np.triu_indices(n, k=1)
    take = np.random.default_rng([seed, label]).choice(len(i), size=min(per_class, len(i)), replace=False)
    return np.stack([i[take], j[take]], axis=1)


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class ReferenceLPIPS(torch.nn.Module):
    """LPIPS's distance in a timm classifier's feature space: for each stage's activations,
    channel-normalised, the squared difference summed over channels and averaged over positions;
    summed over stages (unit weights)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval()

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        dev = next(self.model.parameters()).device
        a, b = a.to(dev).float(), b.to(dev).float()
        fa = self.model.forward_intermediates(a, intermediates_only=True)
        fb = self.model.forward_intermediates(b, intermediates_only=True)
        return sum((_unit(x.float()) - _unit(y.float())).pow(2).sum(dim=1).mean(dim=(1, 2)) for x, y in zip(fa, fb))


@contextlib.contextmanager
def _hub_with(weights_file: str | Path, url: str):
    """torch.hub's directory pointed at a temporary one where ``weights_file`` is the checkpoint
    torchvision would download from ``url``: torchvision then loads the local copy."""
    old = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "checkpoints"
        ckpt.mkdir()
        (ckpt / url.rsplit("/", 1)[-1]).symlink_to(Path(weights_file).resolve())
        torch.hub.set_dir(d)
        try:
            yield
        finally:
            torch.hub.set_dir(old)


def torchmetrics_lpips(net: str, backbone_weights: str | Path, key: str = "quality.lpips.backbone_weights"):
    """torchmetrics' LPIPS (its shipped linear layers) on a backbone read from a local file."""
    import torchvision
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    if net not in LPIPS_BACKBONES:
        raise ValueError(f"quality.lpips.net: {net!r} is not an LPIPS network; one of {sorted(LPIPS_BACKBONES)}")
    if not Path(backbone_weights).is_file():
        raise FileNotFoundError(f"{key} = {str(backbone_weights)!r}: no such file; point it at a local copy of "
                                f"torchvision's {LPIPS_BACKBONES[net][1]}.IMAGENET1K_V1 state dict")
    url = getattr(torchvision.models, LPIPS_BACKBONES[net][1]).IMAGENET1K_V1.url
    with _hub_with(backbone_weights, url):
        return LearnedPerceptualImagePatchSimilarity(net_type=net, reduction="mean", normalize=True).eval()


def lpips(distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
          class_images: Iterable[dict[int, torch.Tensor]], n_classes: int, per_class: int, seed: int,
          batch_size: int = 256) -> dict:
    """Mean LPIPS over ``per_class`` random pairs of each class's images, and its average over
    classes. ``distance(a, b)`` gives one distance per pair of batched inputs; ``class_images``
    yields groups of class -> its images as model inputs (``class_batches``)."""
    per: list = [None] * n_classes
    n_pairs = 0
    for group in class_images:
        for c, imgs in group.items():
            p = pairs_of(len(imgs), per_class, seed, c)
            n_pairs = max(n_pairs, len(p))
            d = [distance(imgs[p[lo:lo + batch_size, 0]], imgs[p[lo:lo + batch_size, 1]]).reshape(-1).float().cpu()
                 for lo in range(0, len(p), batch_size)]
            per[c] = float(torch.cat(d).mean())
    vals = [v for v in per if v is not None]
    return {"lpips": float(np.mean(vals)) if vals else None, "per_class_lpips": per, "lpips_pairs_per_class": n_pairs}


def pairwise(metric) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-pair distances from torchmetrics' LPIPS module (its ``net`` gives one value per pair) for
    inputs normalised to [-1, 1], as the evaluation loader gives them."""
    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        dev = next(metric.parameters()).device
        with torch.no_grad():
            return metric.net(a.to(dev).float(), b.to(dev).float(), normalize=False)
    return distance


def inception_extractor(weights: str | Path, key: str = "quality.fid.inception_weights"):
    """The FID Inception-v3 (torch-fidelity's, through torchmetrics) from a local weights file, as a
    function of loader batches in [-1, 1] returning 2048-d features."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    if not Path(weights).is_file():
        raise FileNotFoundError(f"{key} = {str(weights)!r}: no such file; point it at a local copy of the FID "
                                "Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth)")
    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                             feature_extractor_weights_path=str(weights)).eval()

    def features(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            u8 = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            return net.to(x.device)(u8).reshape(len(x), -1).float()
    return features


def class_batches(testset: str | Path, labels_wanted: Sequence[int], transform, size: int | None, channels: int,
                  max_images: int) -> Iterator[dict[int, torch.Tensor]]:
    """The test set's images as model inputs, grouped by class, in passes of whole classes holding
    at most ``max_images`` images (float16), so that memory stays bounded on a large test set."""
    from synscale.data.shards import decode_pil, iter_shard

    counts: dict[int, int] = {}
    for _, _, lab, _ in iter_shard(testset):
        counts[lab] = counts.get(lab, 0) + 1
    todo = [c for c in labels_wanted if counts.get(c, 0) > 1]
    while todo:
        chunk, n = [], 0
        while todo and (not chunk or n + counts[todo[0]] <= max_images):
            n += counts[todo[0]]
            chunk.append(todo.pop(0))
        want = set(chunk)
        out: dict[int, list] = {c: [] for c in chunk}
        for key, data, lab, _ in iter_shard(testset):
            if lab in want:
                out[lab].append(transform(decode_pil(data, testset, key, size, channels)).half())
        yield {c: torch.stack(v) for c, v in out.items()}


def fid_space(inception_weights, reference_arch: str) -> str:
    """What FID is computed with, for every JSON and figure."""
    if inception_weights:
        return "inception-v3 pool3 (2048-d)"
    return f"{REFERENCE_SPACE} {reference_arch} pre-logit features"


def lpips_space(backbone_weights, net: str, reference_arch: str) -> str:
    """What LPIPS is computed with, for every JSON and figure."""
    if backbone_weights:
        return f"{net} (torchmetrics LPIPS)"
    return f"{REFERENCE_SPACE} {reference_arch} stages, channel-normalised, unit layer weights"
