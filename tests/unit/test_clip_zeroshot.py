"""Zero-shot class names and templates per downstream dataset (synscale.clip.zeroshot): the CLIP
paper's, as clip-benchmark ships them, for a dataset without ``.classes`` (GTSRB) and one whose
torchvision names are codes (Country211); the config's override; and the errors naming the key."""
import json
import math

import numpy as np
import pytest
import torch

from synscale.clip import zeroshot as Z

# the first names of clip-benchmark 1.6.2's en_classnames.json for gtsrb and country211, in label order
GTSRB_FIRST = ["red and white circle 20 kph speed limit", "red and white circle 30 kph speed limit"]
COUNTRY_FIRST = ["Andorra", "United Arab Emirates", "Afghanistan"]
GTSRB = {"torchvision": "GTSRB", "root": "/nowhere/gtsrb", "test": {"split": "test"}}
ZS = {"templates": "openai_imagenet", "classnames": "class_index", "probes": True, "benchmark": True,
      "benchmark_keys": {}, "probe_classnames": {}, "batch_size": 4}
IMAGENET_LIKE = ["a photo of a {}.", "a drawing of a {}."]


class FakeGTSRB(torch.utils.data.Dataset):
    """A torchvision-like dataset without ``classes`` or ``categories``, as torchvision's GTSRB:
    each image is a tensor holding its label, which the stub model below reads back."""

    def __init__(self, labels, transform=None):
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.full((1,), float(self.labels[i])), self.labels[i]


class Texts(list):
    def to(self, device):
        return self


class OneHotCLIP(torch.nn.Module):
    """A stand-in CLIP whose image feature of label c and text feature of any text quoting class name
    c are both the unit vector e_c: the zero-shot classifier is right exactly when it was built from
    ``names`` in label order."""

    def __init__(self, names):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.names = list(names)
        self.seen = []

    def encode_image(self, x):
        return torch.nn.functional.one_hot(x[:, 0].long(), len(self.names)).float()

    def encode_text(self, texts, normalize=False):
        self.seen += list(texts)
        out = torch.zeros(len(texts), len(self.names))
        for i, t in enumerate(texts):
            for c, n in enumerate(self.names):
                if f'"{n}"' in t:
                    out[i, c] = 1.0
        return out


def test_a_gtsrb_like_dataset_without_classes_is_scored_with_clip_benchmarks_names(monkeypatch):
    """No ``.classes``: the names and the 3 traffic-sign templates come from clip-benchmark; each image
    matches its own class, so top-1 is 1 and the loss is log(1 + 42 e^-tau) (43 classes, cosine 1 to
    the true class and 0 to the others)."""
    import synscale.measure.probes as probes

    b = Z.benchmark()
    names = b.classnames["gtsrb"]
    assert len(names) == 43 and names[:2] == GTSRB_FIRST
    labels = [0, 5, 42, 7, 7]
    monkeypatch.setattr(probes, "torchvision_split", lambda spec, split, tf, key: FakeGTSRB(labels))
    loader, own, src = Z.probe_test_set("gtsrb", GTSRB, lambda im: im, None, batch=2, workers=0)
    assert own is None
    model = OneHotCLIP(names)
    tau = 10.0
    out = Z.evaluate_downstream(model, Texts, "gtsrb", GTSRB, ZS, loader, own, src, IMAGENET_LIKE, tau)
    assert out["top1"] == 1.0 and out["mean_per_class"] == 1.0 and out["n"] == 5
    assert out["loss"] == pytest.approx(math.log1p(42 * math.exp(-tau)), abs=1e-6)  # float32 softmax
    assert out["classes"] == 43 and out["templates"] == 3 and out["benchmark_key"] == "gtsrb"
    assert out["classnames_source"] == f"clip-benchmark {b.version}: en_classnames.json[gtsrb]"
    assert out["templates_source"] == f"clip-benchmark {b.version}: en_zeroshot_classification_templates.json[gtsrb]"
    # every class name in each of the 3 templates, the class name quoted as clip-benchmark writes it
    assert len(model.seen) == 43 * 3
    assert 'a zoomed in photo of a "red and white circle 20 kph speed limit" traffic sign.' in model.seen
    assert not any("{" in t for t in model.seen)


def test_country211_gets_country_names_not_iso_codes():
    iso = [f"C{i:03d}" for i in range(211)]  # torchvision's Country211.classes: 211 ISO codes
    spec = {"torchvision": "Country211", "root": "/x", "test": {"split": "test"}}
    p = Z.downstream_prompts("country211", spec, ZS, iso, "torchvision Country211.classes", IMAGENET_LIKE)
    assert list(p.classnames[:3]) == COUNTRY_FIRST and len(p.classnames) == 211
    assert p.templates[0] == "a photo i took in {}." and len(p.templates) == 5


def test_a_dataset_without_names_anywhere_is_an_error_naming_it_and_the_key():
    spec = {"torchvision": "SignsOfMyOwn", "root": "/x", "test": {"split": "test"}}
    with pytest.raises(ValueError, match=r"'mysigns'.*clip\.zero_shot\.probe_classnames\.mysigns"):
        Z.downstream_prompts("mysigns", spec, ZS, None, None, IMAGENET_LIKE)


def test_the_config_override_wins_and_is_recorded(tmp_path):
    zs = {**ZS, "probe_classnames": {"gtsrb": ["stop", "yield"]}}
    p = Z.downstream_prompts("gtsrb", GTSRB, zs, None, None, IMAGENET_LIKE)
    assert p.classnames == ("stop", "yield") and p.classnames_source == "config: clip.zero_shot.probe_classnames.gtsrb"
    assert len(p.templates) == 3  # still GTSRB's templates
    f = tmp_path / "names.json"
    f.write_text(json.dumps(["left", "right", "ahead"]))
    p = Z.downstream_prompts("gtsrb", GTSRB, {**ZS, "probe_classnames": {"gtsrb": str(f)}}, None, None, IMAGENET_LIKE)
    assert p.classnames == ("left", "right", "ahead")
    with pytest.raises(ValueError, match=r"clip\.zero_shot\.probe_classnames\.gtsrb"):
        Z.downstream_prompts("gtsrb", GTSRB, {**ZS, "probe_classnames": {"gtsrb": []}}, None, None, IMAGENET_LIKE)


def test_a_class_count_unlike_clip_benchmarks_is_refused():
    with pytest.raises(ValueError, match=r"3 classes.*lists 43.*benchmark_keys\.gtsrb: null"):
        Z.downstream_prompts("gtsrb", GTSRB, ZS, ["a", "b", "c"], "torchvision GTSRB.classes", IMAGENET_LIKE)


def test_no_benchmark_key_gives_the_datasets_names_and_the_configured_templates():
    dtd = {"torchvision": "DTD", "root": "/x", "test": {"split": "test"}}
    own = ["banded", "bubbly_thing"]
    p = Z.downstream_prompts("dtd", dtd, {**ZS, "benchmark_keys": {"dtd": None}}, own, "torchvision DTD.classes",
                             IMAGENET_LIKE)
    assert p.classnames == ("banded", "bubbly thing") and p.templates == tuple(IMAGENET_LIKE)
    assert p.templates_source == "clip.zero_shot.templates" and p.benchmark_key is None
    # clip-benchmark has DTD's templates but not its names: the dataset's names, DTD's 8 templates
    p = Z.downstream_prompts("dtd", dtd, ZS, own, "torchvision DTD.classes", IMAGENET_LIKE)
    assert p.classnames == ("banded", "bubbly thing") and len(p.templates) == 8
    p = Z.downstream_prompts("dtd", dtd, {**ZS, "benchmark": False}, own, "torchvision DTD.classes", IMAGENET_LIKE)
    assert p.templates == tuple(IMAGENET_LIKE) and p.benchmark_key is None


def test_webdataset_probes_keep_their_file_names_unless_mapped():
    """Shards carry the user's label order: their classnames file names the classes unless
    clip.zero_shot.benchmark_keys maps the dataset; clip-benchmark's templates apply either way."""
    spec = {"train_shards": "a.tar", "test_shards": "b.tar", "classnames": "names.json"}
    own = [f"Folder{i}" for i in range(10)]
    p = Z.downstream_prompts("eurosat", spec, ZS, own, "probes.eurosat.classnames", IMAGENET_LIKE)
    assert p.classnames[0] == "Folder0" and p.templates[0] == "a centered satellite photo of {}."
    mapped = Z.downstream_prompts("eurosat", spec, {**ZS, "benchmark_keys": {"eurosat": "eurosat"}}, own, "f",
                                  IMAGENET_LIKE)
    assert mapped.classnames[:2] == ("annual crop land", "forest")
    with pytest.raises(ValueError, match=r"clip\.zero_shot\.benchmark_keys\.eurosat' = 'eurosatt'.*known: .*gtsrb"):
        Z.downstream_prompts("eurosat", spec, {**ZS, "benchmark_keys": {"eurosat": "eurosatt"}}, own, "f",
                             IMAGENET_LIKE)


def test_labels_beyond_the_names_are_refused():
    p = Z.Prompts(("a", "b"), ("{}",), "x", "y")
    Z.check_labels(torch.tensor([0, 1, 1]), p, "two")
    with pytest.raises(ValueError, match=r"'two': labels up to 2.*probe_classnames\.two"):
        Z.check_labels(torch.tensor([0, 2]), p, "two")


def test_a_missing_clip_benchmark_says_how_to_install_it(monkeypatch):
    import importlib.metadata as md

    def missing(name):
        raise md.PackageNotFoundError(name)

    Z.benchmark.cache_clear()
    monkeypatch.setattr(md, "distribution", missing)
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install --no-deps clip-benchmark==1.6.2"):
            Z.benchmark()
    finally:
        monkeypatch.undo()
        Z.benchmark.cache_clear()


def test_the_zero_shot_step_scores_a_probe_without_classes(tmp_path, monkeypatch):
    """The evaluation job on a tiny CLIP: val shards, no OOD set, a GTSRB-like probe without
    ``.classes`` (PIL images through the model's own transform); the JSON records the probe's
    clip-benchmark names and templates and the val set's sources."""
    from PIL import Image

    import synscale.measure.probes as probes
    from synscale.clip.model import build_model
    from synscale.data.shards import Sample, write_shard
    from synscale.steps.clip import zero_shot_eval

    tiny = {"name": "synscale-test-clip-zs",
            "config": {"embed_dim": 16, "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                                                       "head_width": 8},
                       "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}}
    model, _ = build_model(tiny, seed=0)
    ckpt = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(),
                "meta": {"captions": 100, "arm": "real", "model": tiny, "recipe": "S"}}, ckpt)
    rng = np.random.default_rng(0)
    val = tmp_path / "val-00000.tar"
    write_shard(val, (Sample(f"{i:04d}", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), i % 2) for i in range(6)))
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps(["zero", "one"]))

    class PilGTSRB(torch.utils.data.Dataset):
        def __init__(self, transform):
            self.t = transform

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return self.t(Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))), [3, 40, 0, 12][i]

    monkeypatch.setattr(probes, "torchvision_split", lambda spec, split, tf, key: PilGTSRB(tf))
    cfg = {"results": str(tmp_path), "seed": 0, "data": {"ood": {}}, "probes": {"gtsrb": GTSRB},
           "clip": {"model": {"name": "ViT-B-16"}, "train": {"amp": None, "workers": 0},
                    "zero_shot": {**ZS, "templates": "simple_imagenet"}}}
    out = zero_shot_eval(cfg, "real_x", 100, str(ckpt), [str(val)], {}, {}, str(classes), str(tmp_path / "e.json"))
    g = out["probes"]["gtsrb"]
    assert g["n"] == 4 and g["classes"] == 43 and g["templates"] == 3 and 0 <= g["top1"] <= 1
    assert g["classnames_source"].endswith("en_classnames.json[gtsrb]")
    assert out["prompts"]["val"]["classnames_source"].startswith("data.class_index")
    assert out["templates"] == 7 and out["val"]["n"] == 6 and out["model"] == tiny["name"] and out["recipe"] == "S"
    assert out["downstream_sets"] == ["gtsrb"] and out["downstream_average"] == g["top1"]
    assert json.loads((tmp_path / "e.json").read_text())["prompts"]["gtsrb"]["templates_source"].endswith("[gtsrb]")
