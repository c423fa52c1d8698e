"""The nine prompt sets of the paper, for ImageNet-1k and for the embedded dataset's ten classes:
the paper's examples, the properties every table must have, word2sen and incap end to end with
tiny randomly initialised models built offline, and the errors for what is missing."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from support.assets import save_tiny_blip2, save_tiny_t5
from support.repo import repo_env

from synscale.data import imagenet
from synscale.data.embedded import DIGIT_NAMES
from synscale.data.shards import Sample, write_shard
from synscale.prompts import captioners as K
from synscale.prompts import sets as P
from synscale.prompts import word2sen as W2
from synscale.prompts import wordnet as W

torch.set_num_threads(1)

DIGIT_IDS = [str(i) for i in range(10)]
STATIC_SETS = ("classname", "classname_desc", "classname_hyper", "classname_desc_places",
               "classname_hyper_places", "clip7", "clip80")
TENCH, GOLDFISH, GOLDEN_RETRIEVER, SHOPPING_CART = 0, 1, 207, 791


@pytest.fixture(scope="module")
def inet():
    return imagenet.class_index()


@pytest.fixture(scope="module")
def inet_tables(inet):
    return {ps: P.build_table(ps, inet["names"], inet["ids"]) for ps in STATIC_SETS}


def prompts_of(df, cls):
    return df.loc[df["class_index"] == cls, "prompt"].tolist()


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    return save_tiny_t5(tmp_path_factory.mktemp("t5"), words=DIGIT_NAMES)


@pytest.fixture(scope="module")
def tiny_blip2(tmp_path_factory):
    return save_tiny_blip2(tmp_path_factory.mktemp("blip2"), words=["fish", "swimming", "water"])


def with_prompts(cfg, **section):
    """``cfg`` (validated, so with every default) with the given prompts options set."""
    cfg = copy.deepcopy(cfg)
    for k, v in section.items():
        cfg["prompts"][k] = {**cfg["prompts"][k], **v} if isinstance(v, dict) else v
    return cfg


# --------------------------------------------------------------------------- ImageNet-1k classes


def test_imagenet_classes_from_packages(inet):
    assert len(inet["ids"]) == len(inet["names"]) == 1000
    assert inet["ids"] == sorted(inet["ids"]) and len(set(inet["ids"])) == 1000
    assert (inet["ids"][TENCH], inet["names"][TENCH]) == ("n01440764", "tench")
    assert (inet["ids"][GOLDFISH], inet["names"][GOLDFISH]) == ("n01443537", "goldfish")
    assert inet["names"][GOLDEN_RETRIEVER] == "Golden Retriever"
    assert inet["names"][SHOPPING_CART] == "shopping cart"


def test_wnids_are_wordnet_offsets_and_timm_glosses_match_wordnet(inet):
    info = imagenet.imagenet1k()
    for i, wnid in enumerate(inet["ids"]):
        s = W.synset_for_wnid(wnid)
        assert W.wnid_of(s) == wnid
        assert info.glosses[i] == s.definition()
        assert info.lemmas[i] == ", ".join(W.lemma_names(s))
    assert W.synset_for_wnid("n01440764").name() == "tench.n.01"


# --------------------------------------------------------------------------- the paper's examples


def test_paper_examples_imagenet(inet_tables):
    t = inet_tables
    assert prompts_of(t["classname"], TENCH) == ["tench"]
    assert prompts_of(t["classname"], GOLDEN_RETRIEVER) == ["Golden Retriever"]
    assert prompts_of(t["classname_desc"], TENCH) == [
        "tench, freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water"]
    assert prompts_of(t["classname_desc"], SHOPPING_CART) == [
        "shopping cart, a handcart that holds groceries or other goods while shopping"]
    assert prompts_of(t["classname_hyper"], TENCH) == ["tench, Tinca tinca, cyprinid, cyprinid fish"]
    [gold] = prompts_of(t["classname_hyper"], GOLDFISH)
    assert gold.startswith("goldfish, Carassius auratus, cyprinid")
    assert prompts_of(t["classname_hyper"], GOLDEN_RETRIEVER) == ["Golden Retriever, retriever"]
    assert prompts_of(t["classname_hyper"], SHOPPING_CART) == ["shopping cart, handcart, pushcart, cart, go-cart"]
    assert ("goldfish, small golden or orange-red freshwater fishes of Eurasia used as pond or aquarium fishes "
            "inside ice skating rink (indoor)") in prompts_of(t["classname_desc_places"], GOLDFISH)
    assert "tench, Tinca tinca, cyprinid, cyprinid fish inside ice skating rink (outdoor)" in \
        prompts_of(t["classname_hyper_places"], TENCH)
    assert "a photo of the large tench." in prompts_of(t["clip7"], TENCH)
    assert "a photo of the large tench." in prompts_of(t["clip80"], TENCH)
    inet = imagenet.class_index()
    inc = P.build_table("incap", inet["names"], inet["ids"], labels=[GOLDFISH],
                        captions=["fish is swimming in the water"], keys=["img1"], captioner="blip2")
    assert inc["prompt"].tolist() == ["goldfish, fish is swimming in the water"]
    assert inc["class_id"].tolist() == ["n01443537"] and inc["source"].tolist() == ["blip2:img1"]


# --------------------------------------------------------------------------- properties


def test_every_class_has_prompts_and_columns(inet, inet_tables):
    expect = {"classname": 1, "classname_desc": 1, "classname_hyper": 1, "classname_desc_places": 365,
              "classname_hyper_places": 365, "clip7": 7, "clip80": 80}
    for ps, df in inet_tables.items():
        assert list(df.columns) == P.COLUMNS
        P.check_table(df, 1000, ps)
        counts = df.groupby("class_index").size()
        assert (counts == expect[ps]).all(), ps
        assert df.groupby("class_index")["prompt"].nunique().eq(expect[ps]).all(), ps
        ids = df["class_index"].to_numpy()
        assert (df["class_id"].to_numpy() == np.asarray(inet["ids"])[ids]).all()
        assert (df["class_name"].to_numpy() == np.asarray(inet["names"])[ids]).all()
        # every prompt of these sets names its class
        assert all(p.startswith(n) or n in p for n, p in zip(df["class_name"], df["prompt"])), ps


def test_places_variants_use_only_places365_scenes(inet_tables):
    cats = P.places365_categories()
    assert len(cats) == 365 and cats[0] == "/a/airfield" and cats[188] == "/i/ice_skating_rink/indoor"
    assert len({P.scene_text(c) for c in cats}) == 365
    for ps in ("classname_desc_places", "classname_hyper_places"):
        df = inet_tables[ps]
        plain = inet_tables[ps[: -len("_places")]]
        base = dict(zip(plain["class_index"], plain["prompt"]))
        cat_of = df["source"].str.split("+places365:", regex=False).str[1]
        assert cat_of.isin(cats).all()
        # the scene as text: the path without its letter folder, '_' as ' ', a sub-category in brackets
        parts = [k.split("/")[2:] for k in cat_of]
        scene = [p[0].replace("_", " ") + (f" ({p[1].replace('_', ' ')})" if len(p) > 1 else "") for p in parts]
        assert df["prompt"].tolist() == [f"{base[c]} inside {t}" for c, t in zip(df["class_index"], scene)]
    # hand-written rows: tench's first three scenes, goldfish's first, 189th and last
    rows = {"classname_desc_places": (
        "tench, freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water",
        "goldfish, small golden or orange-red freshwater fishes of Eurasia used as pond or aquarium fishes"),
        "classname_hyper_places": ("tench, Tinca tinca, cyprinid, cyprinid fish",
                                   "goldfish, Carassius auratus, cyprinid, cyprinid fish")}
    for ps, (tench, goldfish) in rows.items():
        df = inet_tables[ps]
        got = df[df["class_index"] == TENCH].iloc[:3][["prompt", "source"]].values.tolist()
        assert got == [[f"{tench} inside airfield", "wordnet:n01440764+places365:/a/airfield"],
                       [f"{tench} inside airplane cabin", "wordnet:n01440764+places365:/a/airplane_cabin"],
                       [f"{tench} inside airport terminal", "wordnet:n01440764+places365:/a/airport_terminal"]]
        got = df[df["class_index"] == GOLDFISH].iloc[[0, 188, 364]][["prompt", "source"]].values.tolist()
        assert got == [[f"{goldfish} inside airfield", "wordnet:n01443537+places365:/a/airfield"],
                       [f"{goldfish} inside ice skating rink (indoor)",
                        "wordnet:n01443537+places365:/i/ice_skating_rink/indoor"],
                       [f"{goldfish} inside zen garden", "wordnet:n01443537+places365:/z/zen_garden"]]
    for ps in ("classname_desc_places", "classname_hyper_places"):
        df = inet_tables[ps]
        assert (df.groupby("class_index")["source"].apply(lambda s: set(s.str.split("+places365:", regex=False).str[1]))
                .apply(lambda s: s == set(cats))).all()


def test_scene_text():
    assert P.scene_text("/i/ice_skating_rink/indoor") == "ice skating rink (indoor)"
    assert P.scene_text("/a/airfield") == "airfield"
    assert P.scene_text("/a/arena/hockey") == "arena (hockey)"
    with pytest.raises(ValueError, match="not a Places365 category"):
        P.scene_text("airfield")


def test_hypernym_chains_come_from_wordnet(inet, inet_tables):
    df = inet_tables["classname_hyper"]
    for i, (wnid, name, prompt) in enumerate(zip(inet["ids"], inet["names"], df["prompt"])):
        s = W.synset_for_wnid(wnid)
        allowed = {name.lower()} | {x.lower().replace("_", " ") for x in s.lemma_names()}  # nltk's own lemmas
        hyper = {x.lower().replace("_", " ") for h in s.hypernyms() + s.instance_hypernyms() for x in h.lemma_names()}
        terms = prompt.split(", ")
        assert terms[0] == name
        # lemma names never contain ', ', so splitting recovers the terms
        assert all(t.lower() in allowed | hyper for t in terms), prompt
        assert any(t.lower() in hyper for t in terms), prompt
    # two levels: the terms climb one more step of the WordNet hierarchy
    deep = P.build_table("classname_hyper", inet["names"][:1], inet["ids"][:1], hypernym_depth=2)
    assert deep["prompt"].tolist() == ["tench, Tinca tinca, cyprinid, cyprinid fish, cypriniform fish"]


@pytest.mark.subprocess
def test_hypernym_order_is_the_same_in_every_process(inet, inet_tables):
    """nltk keeps hypernym pointers in a set (string hashing differs between processes): classes with
    several hypernyms must still get the same prompt in every process."""
    several = [i for i, w in enumerate(inet["ids"]) if len(W.synset_for_wnid(w).hypernyms()) > 1]
    assert len(several) > 30 and 401 in several   # accordion: free-reed and keyboard instrument
    code = ("import json, sys; from synscale.prompts import sets as P; names, ids = json.loads(sys.argv[1]); "
            "print(json.dumps(P.hyper_table(names, ids)['prompt'].tolist()))")
    arg = json.dumps([[inet["names"][i] for i in several], [inet["ids"][i] for i in several]])
    other = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"   # string hashing unlike this process's
    env = repo_env({"PYTHONHASHSEED": other})
    r = subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    here = inet_tables["classname_hyper"].set_index("class_index").loc[several, "prompt"].tolist()
    assert json.loads(r.stdout.strip().splitlines()[-1]) == here
    assert here[several.index(401)] == \
        "accordion, piano accordion, squeeze box, free-reed instrument, keyboard instrument"


def test_embedded_classes_build_every_static_set():
    expect = {"classname": 1, "classname_desc": 1, "classname_hyper": 1, "classname_desc_places": 365,
              "classname_hyper_places": 365, "clip7": 7, "clip80": 80}
    for ps, n in expect.items():
        df = P.build_table(ps, DIGIT_NAMES, DIGIT_IDS)
        P.check_table(df, 10, ps)
        assert (df.groupby("class_index").size() == n).all(), ps
    hyper = P.build_table("classname_hyper", DIGIT_NAMES, DIGIT_IDS)
    assert prompts_of(hyper, 7) == ["seven, 7, VII, sevener, heptad, septet, septenary, digit, figure"]
    desc = P.build_table("classname_desc", DIGIT_NAMES, DIGIT_IDS)
    assert prompts_of(desc, 0) == [
        "zero, a mathematical element that when added to another number yields the same number"]
    assert desc["source"].tolist()[7] == "wordnet:n13744916"


def test_same_seed_same_tables(embedded_cfg):
    cfg = with_prompts(embedded_cfg, places_per_class=20)
    a, ia = P.build_prompt_set(cfg, "classname_hyper_places", DIGIT_NAMES, DIGIT_IDS)
    b, _ = P.build_prompt_set(cfg, "classname_hyper_places", DIGIT_NAMES, DIGIT_IDS)
    assert a.equals(b)
    assert (a.groupby("class_index").size() == 20).all() and ia["per_class_counts"] == [20] * 10
    # classes draw their own scenes; another seed draws others
    scenes = a.groupby("class_index")["source"].apply(lambda s: tuple(s.str.split("+places365:", regex=False).str[1]))
    assert scenes.nunique() > 1
    cfg1 = copy.deepcopy(cfg)
    cfg1["seed"] = 1
    c, _ = P.build_prompt_set(cfg1, "classname_hyper_places", DIGIT_NAMES, DIGIT_IDS)
    assert not a.equals(c) and (c.groupby("class_index").size() == 20).all()
    with pytest.raises(ValueError, match="places_per_class"):
        P.build_prompt_set(with_prompts(embedded_cfg, places_per_class=400), "classname_desc_places",
                           DIGIT_NAMES, DIGIT_IDS)


def test_generation_samples_any_set_deterministically(inet_tables):
    df = inet_tables["classname_desc_places"]
    labels = np.arange(400) % 1000
    a = P.pick_prompts(df, labels, 0, "sd_cfg2_classname_desc_places", 0)
    assert a == P.pick_prompts(df, labels, 0, "sd_cfg2_classname_desc_places", 0)
    assert a != P.pick_prompts(df, labels, 0, "sd_cfg2_classname_desc_places", 1)
    by_class = df.groupby("class_index")["prompt"].apply(set)
    assert all(p in by_class[int(lab)] for lab, p in zip(labels, a))


def test_class_ids_without_wnids():
    # 1,000 classes without wnids are ImageNet-1k in label order
    names = imagenet.class_index()["names"]
    df = P.build_table("classname_desc", names, [str(i) for i in range(1000)])
    assert df["source"][0] == "wordnet:n01440764"
    with pytest.raises(P.PromptSetUnavailable, match="wnids"):
        P.build_table("classname_hyper", ["cat", "dog"], ["0", "1"])


@pytest.mark.parametrize("bad", ["n01440765", "n99999999"])  # inside tench's entry; past the file's end
@pytest.mark.parametrize("build", ["desc_table", "hyper_table"])
def test_an_id_wordnet_does_not_know_names_the_id_the_class_and_the_key(bad, build):
    """{names, ids} with an id that is wnid-shaped but no synset: an error naming the id, the class
    and data.class_index (nltk returns None for such offsets, which used to surface as an
    AttributeError deep inside the table builder)."""
    with pytest.raises(P.PromptSetUnavailable, match=rf"data\.class_index: class 1 \('mystery'\) has id '{bad}'"):
        getattr(P, build)(["tench", "mystery"], ["n01440764", bad])


def test_wordnet_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "data_dirs", lambda: [str(tmp_path)])
    with pytest.raises(W.WordNetMissing, match=r"envs/install_wordnet\.sh.*SYNSCALE_NLTK_DATA"):
        P.build_table("classname_hyper", DIGIT_NAMES, DIGIT_IDS)
    assert not W.available()
    # ImageNet glosses ship with timm: classname_desc builds without WordNet
    inet = imagenet.class_index()
    assert len(P.build_table("classname_desc", inet["names"], inet["ids"])) == 1000


@pytest.mark.subprocess
def test_install_wordnet_script(tmp_path):
    """The script copies a Debian-layout WordNet (no lexnames) into an nltk data dir, writes lexnames,
    checks that nltk reads it, and does nothing on a second run."""
    src = tmp_path / "debian"
    src.mkdir()
    have = W.find_wordnet()
    assert have.is_dir(), "expects the unzipped WordNet that envs/install_wordnet.sh installs"
    for f in ("cntlist.rev index.sense index.adj index.adv index.noun index.verb data.adj data.adv data.noun "
              "data.verb adj.exc adv.exc noun.exc verb.exc").split():
        os.symlink(have / f, src / f)
    dest = tmp_path / "nltk_data"
    env = {**os.environ, "SYNSCALE_WORDNET_SRC": str(src), "PYTHON": sys.executable}
    script = P.REPO / "envs" / "install_wordnet.sh"
    r = subprocess.run(["bash", str(script), str(dest)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ready in" in r.stdout
    wn = dest / "corpora" / "wordnet"
    assert not (wn / "data.noun").is_symlink()
    assert (wn / "data.noun").stat().st_size == (have / "data.noun").stat().st_size
    lex = (wn / "lexnames").read_text().splitlines()
    assert len(lex) == 45 and lex[0] == "00\tadj.all\t3" and lex[5] == "05\tnoun.animal\t1"
    assert lex[29] == "29\tverb.body\t2" and lex[44] == "44\tadj.ppl\t3"
    r2 = subprocess.run(["bash", str(script), str(dest)], env=env, capture_output=True, text=True, timeout=60)
    assert r2.returncode == 0 and "already" in r2.stdout


# --------------------------------------------------------------------------- word2sen


def test_word2sen_end_to_end_with_tiny_t5(embedded_cfg, tiny_t5):
    cfg = with_prompts(embedded_cfg, word2sen={"path": str(tiny_t5), "max_new_tokens": 12, "batch_size": 64})
    seen = []
    df, info = P.build_prompt_set(cfg, "word2sen", DIGIT_NAMES, DIGIT_IDS, progress=lambda i, n: seen.append(i))
    P.check_table(df, 10, "word2sen")
    assert seen == list(range(1, 11))
    assert (df.groupby("class_index").size() == 100).all()
    assert (df.groupby("class_index")["prompt"].nunique() == 100).all()
    assert df["source"].str.match(r"^word2sen:\d+$").all() and (df["prompt"].str.strip() != "").all()
    assert info["per_class_counts"] == [100] * 10 and info["test_models"] == ["word2sen"]
    assert info["models"]["word2sen"]["test_model"] is True
    assert "tiny randomly initialised T5" in info["models"]["word2sen"]["label"]
    assert info["sources"]["word2sen"]["generate_calls"] >= 20      # 64 per call: at least two per class
    again, _ = P.build_prompt_set(cfg, "word2sen", DIGIT_NAMES, DIGIT_IDS)
    assert again.equals(df)
    # a class's sentences depend on (seed, class id) only, not on the other classes
    sub, _ = W2.generate_sentences(tiny_t5, ["seven"], ["7"], cfg["seed"], max_new_tokens=12, batch_size=64)
    assert sub[0] == prompts_of(df, 7)
    other, _ = W2.generate_sentences(tiny_t5, ["seven"], ["7"], cfg["seed"] + 1, max_new_tokens=12, batch_size=64)
    assert other[0] != sub[0]


def test_word2sen_on_imagenet_classes(tiny_t5, inet):
    df = P.build_table("word2sen", inet["names"][:3], inet["ids"][:3], model=str(tiny_t5), seed=0,
                       options={"per_class": 5, "batch_size": 8, "max_new_tokens": 8})
    assert df.groupby("class_index").size().tolist() == [5, 5, 5]
    assert df["class_id"].tolist()[:1] == ["n01440764"]


def test_word2sen_missing_model_is_refused(embedded_cfg, tmp_path):
    with pytest.raises(P.PromptSetUnavailable, match=r"prompts\.word2sen\.path"):
        P.build_prompt_set(embedded_cfg, "word2sen", DIGIT_NAMES, DIGIT_IDS)
    with pytest.raises(NotImplementedError, match="word2sen"):
        P.build_table("word2sen", DIGIT_NAMES, DIGIT_IDS)
    cfg = with_prompts(embedded_cfg, word2sen={"path": str(tmp_path / "nowhere")})
    with pytest.raises(W2.ModelPathError, match=r"'prompts\.word2sen\.path' = .*nowhere.*directory not found"):
        P.build_prompt_set(cfg, "word2sen", DIGIT_NAMES, DIGIT_IDS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2.ModelPathError, match="no config.json"):
        W2.load_seq2seq(tmp_path / "empty")


# --------------------------------------------------------------------------- incap


def _rgb_shards(tmp_path, n_shards=2, per_shard=6, n_classes=10, size=24):
    rng = np.random.default_rng(0)
    paths = []
    for s in range(n_shards):
        samples = [Sample(f"s{s}_{i:03d}", (rng.random((size, size, 3)) * 255).astype(np.uint8),
                          (s * per_shard + i) % n_classes) for i in range(per_shard)]
        p = tmp_path / f"train-{s:05d}.tar"
        write_shard(p, samples)
        paths.append(p)
    return paths


def test_incap_with_tiny_blip2_per_shard(embedded_cfg, tiny_blip2, tmp_path, inet):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["data"] = {"source": "webdataset", "image_size": 224, "channels": 3}
    cfg = with_prompts(cfg, captioner={"path": str(tiny_blip2), "batch_size": 4, "max_new_tokens": 6})
    shards = _rgb_shards(tmp_path)
    tables = []
    for sh in shards:
        out = tmp_path / "captions" / (sh.stem + ".parquet")
        info = K.caption_shard(cfg, sh, out, out.with_suffix(".json"))
        assert info["n"] == 6 and info["captioner"]["test_model"] is True
        tables.append(out)
    caps = K.read_caption_tables(tables)
    assert caps["key"].tolist() == [f"s{s}_{i:03d}" for s in range(2) for i in range(6)]
    assert caps["caption"].nunique() > 1                        # captions follow the image
    # greedy captioning is a pure function of (model, image)
    again = tmp_path / "again.parquet"
    K.caption_shard(cfg, shards[0], again)
    assert K.read_caption_tables([again]).equals(K.read_caption_tables(tables[:1]))
    names, ids = inet["names"][:10], inet["ids"][:10]
    df, pinfo = P.build_prompt_set(cfg, "incap", names, ids, inputs=tables)
    P.check_table(df, 10, "incap")
    assert len(df) == 12 and df["source"].str.startswith("blip2:s").all()
    row = caps.set_index("key").loc["s1_002"]
    prompt = df.loc[df["source"] == "blip2:s1_002", "prompt"].item()
    assert prompt == (f"{names[row.class_index]}, {row.caption}" if row.caption else names[row.class_index])
    assert pinfo["test_models"] == ["captioner"] and "tiny randomly initialised BLIP-2" in \
        pinfo["models"]["captioner"]["label"]
    # captioning the shards in-process gives the same table as the cached per-shard captions
    direct, _ = P.build_prompt_set(cfg, "incap", names, ids, inputs=shards)
    assert direct.equals(df)


def test_incap_embedded_keeps_image_stats_captioner(embedded_cfg, tmp_path):
    from synscale.data.shards import read_shards
    from synscale.prompts.statistics_captioner import caption_images

    rng = np.random.default_rng(1)
    samples = [Sample(f"k{i:03d}", (rng.random((16, 16, 1)) * 255).astype(np.uint8), i % 10) for i in range(40)]
    write_shard(tmp_path / "train-00000.tar", samples)
    paths = [tmp_path / "train-00000.tar"]
    df, info = P.build_prompt_set(embedded_cfg, "incap", DIGIT_NAMES, DIGIT_IDS, inputs=paths)
    data = read_shards(paths, size=16, channels=1)
    expect = P.incap_table(DIGIT_NAMES, DIGIT_IDS, data.labels, caption_images(data.images), data.keys, "image_stats")
    assert df.equals(expect)
    assert info["models"]["captioner"]["name"] == "image_stats" and info["test_models"] == []


def test_incap_without_captioner_for_real_data(embedded_cfg, tmp_path):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["data"] = {"source": "webdataset", "image_size": 224, "channels": 3}
    shards = _rgb_shards(tmp_path, n_shards=1, per_shard=2)
    with pytest.raises(W2.ModelPathError, match=r"'prompts\.captioner\.path' is not set"):
        P.build_prompt_set(cfg, "incap", DIGIT_NAMES, DIGIT_IDS, inputs=shards)
    cfg = with_prompts(cfg, captioner={"path": str(tmp_path / "missing")})
    with pytest.raises(W2.ModelPathError, match="directory not found"):
        K.caption_shard(cfg, shards[0], tmp_path / "c.parquet")


def test_caption_chunk_stage_equals_per_shard_tables(embedded_cfg, tiny_blip2, tmp_path):
    """The workflow's caption job (several shards, one model load) gives the per-shard captions, in order."""
    from synscale.steps import prompts as prompts_step

    cfg = copy.deepcopy(embedded_cfg)
    cfg["data"] = {"source": "webdataset", "image_size": 224, "channels": 3}
    cfg = with_prompts(cfg, captioner={"path": str(tiny_blip2), "batch_size": 4, "max_new_tokens": 6})
    shards = _rgb_shards(tmp_path)
    info = prompts_step.caption_shards(cfg, shards, tmp_path / "chunk.parquet", tmp_path / "chunk.json")
    assert info["n"] == 12 and len(info["per_shard"]) == 2
    per = []
    for sh in shards:
        out = tmp_path / f"{sh.stem}-alone.parquet"
        K.caption_shard(cfg, sh, out)
        per.append(out)
    assert K.read_caption_tables([tmp_path / "chunk.parquet"]).equals(K.read_caption_tables(per))
    assert json.loads((tmp_path / "chunk.json").read_text())["captioner"]["test_model"] is True


@pytest.mark.parametrize("prompt_set", ["classname", "classname_desc", "classname_hyper", "clip7", "clip80",
                                        "classname_desc_places", "classname_hyper_places"])
def test_each_set_builds_from_its_jobs_config_slice(embedded_cfg, prompt_set):
    """The rule hands the job only the keys prompt_keys() names; the set builds from exactly that."""
    from synscale import config as C
    from synscale.steps.keys import prompts as prompt_keys

    job_cfg = C.pick(embedded_cfg, "results", *prompt_keys(prompt_set))
    df, _ = P.build_prompt_set(job_cfg, prompt_set, DIGIT_NAMES, DIGIT_IDS)
    assert sorted(df["class_index"].unique()) == list(range(10))
