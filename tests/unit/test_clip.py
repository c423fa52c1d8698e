"""The CLIP study's package code: zero-shot loss and template averaging, the syn+real draw, the pairing
of a caption block with its twins, Table A3's recipes and a resumed training run."""
import math

import numpy as np
import pytest
import torch

from synscale import config as C
from synscale.clip import model as K
from synscale.config.recipes import ClipRecipe, pick_recipe

TINY = {"name": "synscale-test-clip",
        "config": {"embed_dim": 16, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                                                   "head_width": 8},
                   "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}}

# the structured run rule generate_shard passes for the twins of caption dataset 'laion'
TWINS = {"name": "sd_cfg1.5_laion", "model": "sd", "guidance": 1.5, "prompt": "laion", "twins": True}


def test_zero_shot_loss_matches_a_hand_computation():
    """-log softmax(tau * cos(z_img, z_c)) of the true class with a fixed temperature, and top-1."""
    img = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])  # normalised: (0.6, 0.8), (1, 0), (0, 1)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # D x C: class 0 along x, class 1 along y
    labels = torch.tensor([1, 0, 0])
    tau = 10.0
    out = K.zero_shot_scores(img, w, tau, labels)
    # sample 0: logits (6, 8), true 1 -> log(1 + e^-2); sample 1: (10, 0), true 0 -> log(1 + e^-10);
    # sample 2: (0, 10), true 0 -> 10 + log(1 + e^-10)
    want = [math.log1p(math.exp(-2)), math.log1p(math.exp(-10)), 10 + math.log1p(math.exp(-10))]
    assert out["loss"] == pytest.approx(np.mean(want), rel=1e-6)
    assert out["top1"] == pytest.approx(2 / 3)
    assert out["per_class_loss"]["0"] == pytest.approx((want[1] + want[2]) / 2, rel=1e-6)
    assert out["per_class_top1"] == {"0": 0.5, "1": 1.0}
    # a class subset (2 of 3 classes, by hand): tests/unit/test_masking_temperature.py


def test_class_text_features_are_the_template_average():
    model, tok = K.build_model(TINY, seed=0)
    temps = ["a photo of a {}.", "a drawing of the {}.", "{}"]
    names = ["three", "seven"]
    w = K.class_weights(model.eval(), tok, names, temps)
    assert w.shape == (16, 2)
    for c, name in enumerate(names):
        with torch.no_grad():
            f = model.encode_text(tok([t.format(name) for t in temps]))
        f = torch.nn.functional.normalize(f, dim=-1).mean(0)
        assert torch.allclose(w[:, c], f / f.norm(), atol=1e-5)
    # one template alone is not the average
    assert not torch.allclose(K.class_weights(model, tok, names, temps[:1]), w, atol=1e-3)
    openai, simple = K.templates("openai_imagenet"), K.templates("simple_imagenet")
    assert len(openai) == 80 and openai[:2] == ["a bad photo of a {}.", "a photo of many {}."]
    assert simple == ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                      "a {} in a video game.", "art of the {}.", "a photo of the small {}."]
    with pytest.raises(ValueError, match="clip.zero_shot.templates"):
        K.templates(["no placeholder"])


def test_syn_real_draws_half_synthetic_deterministically():
    n = 20000
    a = K.synreal_choice(0, 0, 3, n)
    assert a.dtype == bool and abs(a.mean() - 0.5) < 4 * 0.5 / math.sqrt(n)  # 4 sigma
    assert np.array_equal(a, K.synreal_choice(0, 0, 3, n))  # a re-run sees the same choices
    b = K.synreal_choice(0, 1, 3, n)  # the next epoch draws anew
    assert abs((a == b).mean() - 0.5) < 0.02
    assert not np.array_equal(a, K.synreal_choice(1, 0, 3, n)) and not np.array_equal(a, K.synreal_choice(0, 0, 4, n))


def _block(tmp_path, n=200):
    from synscale.data.shards import Sample, write_shard

    keys = [f"{i:09d}" for i in range(n)]
    caps = [f"caption {i}" for i in range(n)]
    real, syn = tmp_path / "real-00000.tar", tmp_path / "twin-00000.tar"
    write_shard(real, (Sample(k, np.zeros((4, 4, 3), np.uint8), -1, c) for k, c in zip(keys, caps)))
    write_shard(syn, (Sample(k, np.full((4, 4, 3), 255, np.uint8), -1, c) for k, c in zip(keys, caps)))
    return K.BlockPart(0, n, (str(real),), str(syn)), keys, caps


def _is_synthetic(img_bytes):
    from synscale.data.shards import decode_image

    return bool(decode_image(img_bytes, "x", "k", None, 3).mean() > 127)


def test_syn_real_pairs_the_same_caption_in_equal_shares(tmp_path):
    part, keys, caps = _block(tmp_path)
    for arm, want in (("real", False), ("syn", True)):
        items = list(K.pair_items(part, arm, seed=0, epoch=0))
        assert [k for k, _, _ in items] == keys and [t for _, _, t in items] == caps
        assert all(_is_synthetic(b) == want for _, b, _ in items)
    mixed = list(K.pair_items(part, "syn+real", seed=0, epoch=0))
    assert [k for k, _, _ in mixed] == keys and [t for _, _, t in mixed] == caps  # every caption once
    picks = np.array([_is_synthetic(b) for _, b, _ in mixed])
    assert np.array_equal(picks, K.synreal_choice(0, 0, 0, 200))
    assert 0.35 < picks.mean() < 0.65
    again = np.array([_is_synthetic(b) for _, b, _ in K.pair_items(part, "syn+real", seed=0, epoch=0)])
    assert np.array_equal(picks, again)
    # take: the first captions only
    assert len(list(K.pair_items(K.BlockPart(0, 200, part.real, part.syn, 50), "syn+real", 0, 0))) == 50


def test_a_twin_shard_out_of_step_with_its_block_is_refused(tmp_path):
    from synscale.data.shards import Sample, write_shard

    part, keys, caps = _block(tmp_path, n=5)
    write_shard(part.syn, (Sample(k, np.zeros((4, 4, 3), np.uint8), -1, c) for k, c in zip(keys[::-1], caps)))
    with pytest.raises(ValueError, match="rebuild the twin shard"):
        list(K.pair_items(part, "syn+real", 0, 0))


def test_block_parts_take_the_first_captions():
    """Parts are source shards (each read by one process), the last one cut at the scale."""
    blocks = [[("a0", 60), ("a1", 40)], [("b0", 90)], [("c0", 100)]]
    parts = K.block_parts(blocks, 150, True, ["ta", "tb", "tc"], [[0, 3072], [0], [0]])
    assert [(p.block, p.part, p.take, p.real, p.syn, p.syn_offset) for p in parts] == \
        [(0, 0, 60, ("a0",), "ta", 0), (0, 1, 40, ("a1",), "ta", 3072), (1, 0, 50, ("b0",), "tb", 0)]
    short = K.block_parts(blocks[:2], 300, False, ["ta", "tb"], [[0, 10], [0]])
    assert sum(p.take for p in short) == 190 and short[0].real == ()
    assert [p.syn for p in K.block_parts(blocks, 300, True)] == [None] * 4


def test_a_source_shards_twins_are_read_from_their_offset(tmp_path):
    """A block of two source shards: its twin shard records where the second shard's twins start,
    and a part reads from there, paired with its source shard."""
    from synscale.data.shards import Sample, write_shard

    keys = [f"{i:09d}" for i in range(10)]
    caps = [f"caption {i}" for i in range(10)]
    src = [tmp_path / "s0.tar", tmp_path / "s1.tar"]
    for path, sl in zip(src, (slice(0, 6), slice(6, 10))):
        write_shard(path, (Sample(k, np.zeros((4, 4, 3), np.uint8), -1, c) for k, c in zip(keys[sl], caps[sl])))
    offs = []
    twin = tmp_path / "twin.tar"
    write_shard(twin, (Sample(k, np.full((4, 4, 3), 255, np.uint8), -1, c) for k, c in zip(keys, caps)), offsets=offs)
    parts = K.block_parts([[(str(src[0]), 6), (str(src[1]), 4)]], 10, True, [str(twin)], [[offs[0], offs[6]]])
    got = [k for p in parts for k, _, _ in K.pair_items(p, "syn+real", 0, 0)]
    assert got == keys
    assert [k for k, _, _ in K.pair_items(parts[1], "syn", 0, 0)] == keys[6:]


def test_table_a3_recipes_by_scale(root):
    """config/paper.yaml: S below 100M captions (batch 8192, warm-up 600 / 1200 / 2000 at 1M / 2M / 4M+),
    L from 100M (batch 32768, lr 5e-4, wd 0.2, eps 1e-6, warm-up 2000); 32 epochs."""
    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    tc = cfg["clip"]["train"]
    r1 = pick_recipe(tc, 1_000_000)
    assert (r1.name, r1.batch_size, r1.lr, r1.weight_decay, r1.betas, r1.eps, r1.warmup) == \
        ("S", 8192, 1e-3, 0.5, (0.9, 0.98), 1e-8, 600)
    assert r1.steps == math.ceil(32 * 1_000_000 / 8192)
    assert pick_recipe(tc, 2_000_000).warmup == 1200
    assert pick_recipe(tc, 4_000_000).warmup == 2000 and pick_recipe(tc, 64_000_000).name == "S"
    big = pick_recipe(tc, 371_000_000)
    assert (big.name, big.batch_size, big.lr, big.weight_decay, big.eps, big.warmup) == \
        ("L", 32768, 5e-4, 0.2, 1e-6, 2000)
    assert big.micro_batch * big.world == 32768 and big.micro_batch <= tc["max_device_batch"]
    # recipes are overridable: a config's own list replaces Table A3's
    own = {**tc, "recipes": [{"name": "X", "from_scale": 0, "batch_size": 4096, "lr": 1e-4, "weight_decay": 0.1,
                              "betas": [0.9, 0.95], "eps": 1e-6, "warmup": 10}]}
    assert pick_recipe(own, 371_000_000).name == "X"


def test_training_resumes_where_it_stopped(tmp_path):
    """Five steps straight and two + three after a restart from the resume checkpoint give the same weights."""
    r = ClipRecipe("t", 8, 1e-3, 0.1, (0.9, 0.98), 1e-6, 1, 1, 5, 1, 8)
    g = torch.Generator().manual_seed(0)
    _, tok = K.build_model(TINY, seed=0)
    batches = [(torch.randn(8, 3, 16, 16, generator=g), tok([f"digit {i} {j}" for j in range(8)])) for i in range(5)]

    def model():
        return K.build_model(TINY, seed=1)[0]

    straight = model()
    K.train_loop(straight, iter(batches), r, seed=1)
    resume = tmp_path / "m.resume"
    first = model()
    # interrupt after step 2 by giving only two batches
    with pytest.raises(StopIteration):
        K.train_loop(first, iter(batches[:2]), r, seed=1, resume_path=resume, checkpoint_every=2)
    saved = torch.load(resume, weights_only=False)
    assert saved["step"] == 2 and saved["identity"] == K.resume_identity(r, 1)
    for n, v in first.state_dict().items():  # the weights after step 2 (step 3 found no batch)
        assert torch.equal(saved["model"][n], v), n
    second = model()
    stats = K.train_loop(second, iter(batches[2:]), r, seed=1, resume_path=resume, checkpoint_every=2)
    assert stats["resumed_from"] == 2
    for (n, a), (_, b) in zip(straight.state_dict().items(), second.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), n


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """A tiny SD 1.5-shaped pipeline for 32 px images, saved once for the sampling tests below (read-only)."""
    from support.assets import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "sd", image_size=32)


@pytest.mark.slow
def test_twins_have_the_same_bytes_on_one_or_two_processes(tmp_path, root, tiny_sd):
    """A block's twin shard sampled by one process, and by two (each every other batch, with the
    batch's own seed), is the same file; keys and captions are the block's, in order."""
    import pandas as pd

    from synscale.data.shards import iter_shard
    from synscale.steps.generate import generate_images

    cfg = C.validate(C.load_yaml(root / "tests" / "configs" / "paperlike.yaml"))
    cfg["models"]["sd"]["batch_size"] = 4
    sd = tiny_sd
    keys = [f"{i:09d}" for i in range(10)]
    caps = [f"a photo of a {c} handwritten three" for c in ("red", "blue") * 5]
    block = tmp_path / "block-00000.parquet"
    pd.DataFrame({"key": keys, "caption": caps, "class_index": [-1] * 10, "shard": ["x.tar"] * 10}).to_parquet(block)
    outs = []
    torch.set_num_threads(1)  # as each sampling process runs: the same kernels, the same floating-point sums
    for gpus in (1, 2):
        tar, man = tmp_path / f"g{gpus}" / "shard-00000.tar", tmp_path / f"g{gpus}" / "shard-00000.json"
        m = generate_images(cfg, TWINS, 0, sd, block, tmp_path / "unused.json", tar, man, gpus=gpus)
        assert m["count"] == 10
        outs.append(tar.read_bytes())
        assert not list(tar.parent.glob("*.npz"))  # the processes' parts are removed
    assert outs[0] == outs[1]
    got = list(iter_shard(tmp_path / "g2" / "shard-00000.tar"))
    assert [g[0] for g in got] == keys and [g[3] for g in got] == caps and {g[2] for g in got} == {-1}


@pytest.mark.slow
def test_more_sampling_processes_than_batches(tmp_path, root, tiny_sd):
    """A shard of one batch on two processes: the second samples nothing, the shard is whole."""
    import pandas as pd

    from synscale.steps.generate import generate_images

    cfg = C.validate(C.load_yaml(root / "tests" / "configs" / "paperlike.yaml"))
    cfg["models"]["sd"]["batch_size"] = 8
    sd = tiny_sd
    block = tmp_path / "block-00000.parquet"
    pd.DataFrame({"key": ["a", "b", "c"], "caption": ["one", "two", "three"], "class_index": [-1] * 3,
                  "shard": ["x.tar"] * 3}).to_parquet(block)
    from synscale.data.shards import iter_shard

    m = generate_images(cfg, TWINS, 0, sd, block, tmp_path / "unused.json", tmp_path / "s.tar",
                        tmp_path / "s.json", gpus=2)
    assert m["count"] == 3 and m["processes"] == 2
    got = list(iter_shard(tmp_path / "s.tar"))
    assert [g[0] for g in got] == ["a", "b", "c"] and [g[3] for g in got] == ["one", "two", "three"]


def test_a_slurm_runtime_edit_retrains_nothing(root):
    """The training jobs' config slice holds what shapes a CLIP run, not its SLURM runtime request."""
    from synscale.steps.keys import CLIP_TRAIN as TRAIN_KEYS

    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    before = C.pick(cfg, "results", *TRAIN_KEYS)
    cfg["clip"]["train"]["minutes_per_1m_samples"] *= 2
    assert C.pick(cfg, "results", *TRAIN_KEYS) == before
    cfg["clip"]["train"]["recipes"][0]["lr"] *= 2
    assert C.pick(cfg, "results", *TRAIN_KEYS) != before
    assert set(cfg["clip"]["train"]) - {k.split(".")[-1] for k in TRAIN_KEYS} == {"minutes_per_1m_samples"}


def test_a_template_edit_re_evaluates_and_retrains_nothing(root):
    """README: editing ``clip.zero_shot.templates`` only re-evaluates: it is in the evaluation jobs'
    config slice and not in the training jobs'."""
    from synscale.steps.keys import CLIP_EVAL, CLIP_FIT, CLIP_TRAIN

    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    before = {keys: C.pick(cfg, "results", *keys) for keys in (CLIP_TRAIN, CLIP_EVAL, CLIP_FIT)}
    assert cfg["clip"]["zero_shot"]["templates"] != "simple_imagenet"
    cfg["clip"]["zero_shot"]["templates"] = "simple_imagenet"
    after = {keys: C.pick(cfg, "results", *keys) for keys in (CLIP_TRAIN, CLIP_EVAL, CLIP_FIT)}
    assert after[CLIP_TRAIN] == before[CLIP_TRAIN] and after[CLIP_FIT] == before[CLIP_FIT]
    assert after[CLIP_EVAL] != before[CLIP_EVAL]
