"""The training recipe objects built from config/paper.yaml against the paper's Table A1: batch 4096,
Adam(W) betas (0.9, 0.999), lr 3e-3, weight decay 0.1, warm-up + cosine decay, 95k / 190k / 285k
iterations with 10k / 20k / 30k warm-up at 1M / 2M / 4M, Mixup 0.5, dropout 0.1, stochastic depth
0.1, RandAugment(2, 15), binary cross-entropy, 224 px crops of 256 px images."""
import pytest
import torch

from synscale import config as C
from synscale.config import recipes as R
from synscale.train import optim


@pytest.fixture(scope="module")
def paper(root):
    return C.validate(C.load_yaml(root / "config" / "paper.yaml"))


@pytest.mark.parametrize("scale,iters,warmup", [(1_000_000, 95_000, 10_000), (2_000_000, 190_000, 20_000),
                                                (4_000_000, 285_000, 30_000)])
def test_schedule_at_the_papers_scales(paper, scale, iters, warmup):
    r = R.build(paper["classifier"], scale)
    assert (r.iters, r.warmup) == (iters, warmup)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=r.lr)
    sched = optim.scheduler(opt, r)
    lr = lambda t: sched._get_lr(t)[0]  # noqa: E731
    assert lr(0) == pytest.approx(1e-6)
    assert lr(warmup // 2) == pytest.approx(1e-6 + (3e-3 - 1e-6) * (warmup // 2) / warmup)
    assert lr(warmup) == pytest.approx(3e-3)
    assert lr(warmup + (iters - warmup) // 2) == pytest.approx(1.5e-3, rel=1e-3)  # cosine half-way
    assert lr(iters - 1) < 1e-6 * 3e-3 * 1e3


def test_our_choices_outside_the_papers_range(paper):
    s = paper["classifier"]["schedule"]
    assert C.iterations(8_000_000, s) == (380_000, 40_000)  # the same line, extended (ours)
    assert C.iterations(64_000_000, s)[0] == 665_000
    assert C.iterations(125_000, s)[0] == 30_000  # floored (ours)


def test_batch_optimizer_mixup_loss(paper):
    cc = paper["classifier"]
    r = R.build(cc, 1_000_000)
    assert r.global_batch == 4096 and r.world == 8 and r.micro_batch * r.accum * r.world == 4096
    two_nodes = R.build({**cc, "nodes": 2}, 1_000_000)
    assert two_nodes.world == 16 and two_nodes.micro_batch * two_nodes.accum * 16 == 4096

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    opt = optim.optimizer(model, r)
    assert type(opt) is torch.optim.AdamW
    decays = sorted(g["weight_decay"] for g in opt.param_groups)
    assert decays == [0.0, 0.1]  # biases and norms are not decayed
    assert all(g["lr"] == 3e-3 and tuple(g["betas"]) == (0.9, 0.999) for g in opt.param_groups)

    mix = optim.mixup(r, 1000)
    assert mix.mixup_alpha == 0.5 and mix.cutmix_alpha == 0.0 and mix.mix_prob == 1.0
    from timm.loss import BinaryCrossEntropy

    assert isinstance(optim.loss_fn(r), BinaryCrossEntropy)


def test_augmentation_is_randaugment_2_15(paper):
    from timm.data.auto_augment import RandAugment
    from timm.data.transforms import RandomResizedCropAndInterpolation

    from synscale.data.loader import eval_transform, train_transform

    assert paper["data"]["image_size"] == 256 and paper["classifier"]["input_size"] == 224
    tf = train_transform(224, 3, paper["classifier"]["augment"]).transforms
    crop = next(t for t in tf if isinstance(t, RandomResizedCropAndInterpolation))
    assert crop.size == (224, 224) and crop.scale == (0.08, 1.0)
    ra = next(t for t in tf if isinstance(t, RandAugment))
    assert ra.num_layers == 2
    assert {op.magnitude for op in ra.ops} == {15} and {op.magnitude_max for op in ra.ops} == {15}
    flip = next(t for t in tf if type(t).__name__ == "RandomHorizontalFlip")
    assert flip.p == 0.5
    ev = eval_transform(224, 3, 0.875).transforms
    assert ev[0].size == 256 and ev[1].size == (224, 224)


@pytest.mark.parametrize("arch", ["vit_base_patch16_224", "vit_large_patch16_224"])
def test_dropout_and_stochastic_depth(paper, arch):
    import timm

    kw = R.model_kwargs(arch, paper["classifier"])
    with torch.device("meta"):
        m = timm.create_model(arch, pretrained=False, num_classes=1000, **kw)
    assert m.pos_drop.p == 0.1 and m.head_drop.p == 0.1
    assert m.blocks[0].mlp.drop1.p == 0.1 and m.blocks[0].attn.proj_drop.p == 0.1
    assert m.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)  # linear rule: 0.1 at the last block


def test_vit_l_run(paper):
    runs = C.runs(paper)
    vitl = runs["sd_cfg2_incap-vitl16"]
    assert vitl.data == "sd_cfg2_incap" and max(vitl.scales) == 8_000_000
    cc = C.run_classifier(paper["classifier"], vitl.classifier)
    assert cc["arch"] == "vit_large_patch16_224" and cc["lr"] == 3e-3
    r = R.build(cc, 8_000_000)
    assert r.global_batch == 4096 and r.micro_batch == 128 and r.accum == 4
