"""Class-specific prompt sets of the paper and the per-image prompt choice of generation.

A prompt table has one row per prompt: class_index, class_id, class_name, prompt, source.

The nine prompt sets, for ImageNet class 0 (wnid n01440764, 'tench'):

* ``classname``: ``tench``
* ``classname_desc``: class name + WordNet gloss:
  ``tench, freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water``
* ``classname_hyper``: class name + the class's other WordNet lemmas + the lemmas of its WordNet
  hypernyms (``prompts.hypernym_depth`` levels, 1 by default): ``tench, Tinca tinca, cyprinid, cyprinid fish``
* ``classname_desc_places`` / ``classname_hyper_places``: the above + `` inside <Places365 scene>``,
  one row per scene (``... inside ice skating rink (indoor)``); ``prompts.places_per_class`` keeps a
  seeded subset of the 365 scenes per class instead
* ``word2sen``: sentences a local sequence-to-sequence model writes from the class name, 100 distinct
  per class (synscale/word2sen.py)
* ``clip7`` / ``clip80``: open_clip's 7 / 80 ImageNet templates (``a photo of the large tench.``)
* ``incap``: ``classname, caption`` for each captioned real training image (synscale/captioners.py)

Glosses and lemmas of ImageNet-1k classes come from timm's bundled ImageNet info (the WordNet 3.0
text), hypernyms and the synsets of other classes from nltk's WordNet reader (synscale/wordnet.py),
scenes from data/places365_categories.txt. Every table is a pure function of its inputs and the seed.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from synscale.config import PROMPT_SETS
from synscale.seeds import seed_for

log = logging.getLogger("synscale.prompts")

from synscale.prompts.places import N_PLACES, PLACES_FILE, places365_categories, places_table, scene_text  # noqa: F401,E402,E501

COLUMNS = ["class_index", "class_id", "class_name", "prompt", "source"]
REPO = Path(__file__).resolve().parents[2]
WORDNET_SETS = ("classname_desc", "classname_hyper", "classname_desc_places", "classname_hyper_places")

# WordNet 3.0 synsets of the embedded dataset's classes (data.DIGIT_NAMES): zero.n.02, one.n.01, ...
DIGIT_WNIDS = {"zero": "n13742358", "one": "n13742573", "two": "n13743269", "three": "n13744044",
               "four": "n13744304", "five": "n13744521", "six": "n13744722", "seven": "n13744916",
               "eight": "n13745086", "nine": "n13745270"}


class PromptSetUnavailable(NotImplementedError):
    """A prompt set that cannot be built from what was given (a model path, captions, WordNet ids)."""


# --------------------------------------------------------------------------- tables


def _table(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["class_index"] = df["class_index"].astype("int64")
    return df


def clip_templates(which: str) -> list[str]:
    """The CLIP zero-shot templates shipped by open_clip, as format strings with '{}'."""
    import open_clip

    fns = {"clip7": open_clip.SIMPLE_IMAGENET_TEMPLATES, "clip80": open_clip.OPENAI_IMAGENET_TEMPLATES}[which]
    return [f("{}") for f in fns]


def classname_table(class_names: Sequence[str], class_ids: Sequence[str]) -> pd.DataFrame:
    return _table([(i, cid, n, n, "classname") for i, (cid, n) in enumerate(zip(class_ids, class_names))])


def template_table(which: str, class_names: Sequence[str], class_ids: Sequence[str]) -> pd.DataFrame:
    temps = clip_templates(which)
    return _table([(i, cid, n, t.format(n), f"{which}:{j}")
                   for i, (cid, n) in enumerate(zip(class_ids, class_names)) for j, t in enumerate(temps)])


def incap_table(class_names: Sequence[str], class_ids: Sequence[str], labels: Sequence[int],
                captions: Sequence[str], keys: Sequence[str], captioner: str) -> pd.DataFrame:
    """'classname, caption' for each captioned real training image (the class name alone where the
    caption is empty)."""
    n = len(class_names)
    rows = []
    for lab, cap, key in zip(labels, captions, keys):
        lab = int(lab)
        if not 0 <= lab < n:
            raise ValueError(f"caption of sample {key!r} has class {lab}, outside the {n} classes")
        name = class_names[lab]
        cap = str(cap).strip()
        rows.append((lab, class_ids[lab], name, f"{name}, {cap}" if cap else name, f"{captioner}:{key}"))
    df = _table(rows)
    return df.sort_values(["class_index", "source"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- WordNet senses of classes


def class_wnids(class_names: Sequence[str], class_ids: Sequence[str]) -> list[str]:
    """The WordNet 3.0 noun synset (as a wnid) of every class.

    Class ids that are wnids are used as they are; the embedded dataset's digit names map to the
    numeral synsets; 1,000 classes without wnids are taken to be ImageNet-1k in its standard label order.
    """
    from synscale.prompts.wordnet import is_wnid

    ids = [str(c) for c in class_ids]
    if ids and all(is_wnid(c) for c in ids):
        return ids
    if list(class_names) == list(DIGIT_WNIDS):
        return list(DIGIT_WNIDS.values())
    from synscale.data.imagenet import N_CLASSES, imagenet1k

    if len(ids) == N_CLASSES:
        log.warning("class ids are not wnids: taking the 1,000 classes to be ImageNet-1k in its standard "
                    "label order (n01440764 tench first)")
        return list(imagenet1k().ids)
    raise PromptSetUnavailable(
        f"the WordNet prompt sets ({', '.join(WORDNET_SETS)}) need a WordNet 3.0 synset per class, but the "
        f"class ids {ids[:3]}... are not wnids; give data.class_index as a JSON object "
        '{"names": [...], "ids": ["n01440764", ...]} (python -m synscale.data.imagenet writes it for ImageNet-1k)')


def class_synset(wnid: str, index: int, name: str):
    """The WordNet synset of class ``index`` (``name``), or an error naming the id, the class and
    the key it comes from."""
    from synscale.prompts import wordnet as W

    try:
        return W.synset_for_wnid(wnid)
    except ValueError as e:
        raise PromptSetUnavailable(
            f"data.class_index: class {index} ({name!r}) has id {wnid!r}, which WordNet 3.0 does not know "
            f"({e}). The WordNet prompt sets ({', '.join(WORDNET_SETS)}) need a WordNet 3.0 noun id per "
            "class: correct that entry of 'ids', or leave these prompt sets out of the runs") from None


def class_senses(class_names: Sequence[str], class_ids: Sequence[str]) -> list[dict]:
    """Per class: wnid, WordNet lemmas and gloss. ImageNet-1k classes read timm's bundled WordNet text
    (no WordNet install needed); other classes read WordNet through nltk."""
    from synscale.data.imagenet import imagenet1k

    wnids = class_wnids(class_names, class_ids)
    inet = imagenet1k()
    where = {w: i for i, w in enumerate(inet.ids)}
    out = []
    for i, (w, name) in enumerate(zip(wnids, class_names)):
        if w in where:
            i = where[w]
            out.append({"wnid": w, "lemmas": [x.strip() for x in inet.lemmas[i].split(", ")],
                        "gloss": inet.glosses[i], "from": "timm ImageNet info (WordNet 3.0)"})
        else:
            from synscale.prompts import wordnet as W

            s = class_synset(w, i, name)
            out.append({"wnid": w, "lemmas": W.lemma_names(s), "gloss": W.gloss(s), "from": "WordNet 3.0 (nltk)"})
    return out


def _join_terms(first: str, terms: Sequence[str]) -> str:
    parts, seen = [first], {first.lower()}
    for t in terms:
        if t.lower() not in seen:
            seen.add(t.lower())
            parts.append(t)
    return ", ".join(parts)


def desc_table(class_names: Sequence[str], class_ids: Sequence[str]) -> pd.DataFrame:
    """'classname, WordNet gloss'."""
    senses = class_senses(class_names, class_ids)
    return _table([(i, cid, n, f"{n}, {s['gloss']}", f"wordnet:{s['wnid']}")
                   for i, (cid, n, s) in enumerate(zip(class_ids, class_names, senses))])


def hyper_table(class_names: Sequence[str], class_ids: Sequence[str], depth: int = 1) -> pd.DataFrame:
    """'classname, other lemmas of its synset, lemmas of its hypernyms' (``depth`` levels up)."""
    from synscale.prompts import wordnet as W

    if depth < 1:
        raise ValueError(f"prompts.hypernym_depth must be at least 1, got {depth}")
    wnids = class_wnids(class_names, class_ids)
    rows = []
    for i, (cid, n, w) in enumerate(zip(class_ids, class_names, wnids)):
        s = class_synset(w, i, n)
        terms = W.lemma_names(s) + W.hypernym_terms(s, depth)
        rows.append((i, cid, n, _join_terms(n, terms), f"wordnet:{w}"))
    return _table(rows)


# --------------------------------------------------------------------------- Places365


# --------------------------------------------------------------------------- word2sen


def word2sen_table(class_names: Sequence[str], class_ids: Sequence[str],
                   sentences: Sequence[Sequence[str]]) -> pd.DataFrame:
    if len(sentences) != len(class_names):
        raise ValueError(f"word2sen: {len(sentences)} sentence lists for {len(class_names)} classes")
    return _table([(i, cid, n, s, f"word2sen:{j}")
                   for i, (cid, n, ss) in enumerate(zip(class_ids, class_names, sentences)) for j, s in enumerate(ss)])


# --------------------------------------------------------------------------- dispatch


def build_table(prompt_set: str, class_names: Sequence[str], class_ids: Sequence[str], **kw) -> pd.DataFrame:
    """The prompt table of ``prompt_set``.

    Keyword arguments, by set: ``hypernym_depth`` (classname_hyper*), ``seed`` and
    ``places_per_class`` (*_places), ``sentences`` (one list per class) or ``model`` (a local
    seq2seq directory) with ``seed`` and ``options`` (word2sen), ``labels``, ``captions``, ``keys``
    and ``captioner`` (incap).
    """
    class_names, class_ids = list(class_names), [str(c) for c in class_ids]
    if len(class_names) != len(class_ids):
        raise ValueError(f"{len(class_names)} class names but {len(class_ids)} class ids")
    if prompt_set == "classname":
        return classname_table(class_names, class_ids)
    if prompt_set in ("clip7", "clip80"):
        return template_table(prompt_set, class_names, class_ids)
    if prompt_set == "classname_desc":
        return desc_table(class_names, class_ids)
    if prompt_set == "classname_hyper":
        return hyper_table(class_names, class_ids, int(kw.get("hypernym_depth") or 1))
    if prompt_set in ("classname_desc_places", "classname_hyper_places"):
        base = build_table(prompt_set[: -len("_places")], class_names, class_ids, **kw)
        return places_table(base, int(kw.get("seed", 0)), kw.get("places_per_class"), kw.get("places"))
    if prompt_set == "word2sen":
        sentences = kw.get("sentences")
        if sentences is None:
            if not kw.get("model"):
                raise PromptSetUnavailable(
                    "prompt set 'word2sen' needs a local sequence-to-sequence model (a T5 fine-tuned for "
                    "concept-to-sentence, e.g. t5-base-finetuned-common_gen): set config key "
                    "'prompts.word2sen.path' to its save_pretrained directory")
            from synscale.prompts.word2sen import generate_sentences

            sentences, _ = generate_sentences(kw["model"], class_names, class_ids, int(kw.get("seed", 0)),
                                              progress=kw.get("progress"), **(kw.get("options") or {}))
        return word2sen_table(class_names, class_ids, sentences)
    if prompt_set == "incap":
        need = [k for k in ("labels", "captions", "keys", "captioner") if k not in kw]
        if need:
            raise PromptSetUnavailable(f"prompt set 'incap' needs captions of real training images "
                                       f"(missing arguments: {', '.join(need)})")
        return incap_table(class_names, class_ids, kw["labels"], kw["captions"], kw["keys"], kw["captioner"])
    raise ValueError(f"unknown prompt set {prompt_set!r}; known: {', '.join(PROMPT_SETS)}")


def check_table(df: pd.DataFrame, n_classes: int, path: str = "<table>") -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: prompt table lacks columns {missing}; rebuild it with snakemake")
    have = set(df["class_index"].unique())
    lack = sorted(set(range(n_classes)) - have)
    if lack:
        raise ValueError(f"{path}: no prompts for classes {lack[:10]}; rebuild the prompt table")


def pick_prompts(df: pd.DataFrame, labels: np.ndarray, seed: int, run: str, shard: int | str) -> list[str]:
    """One prompt per image, uniformly among its class's prompts: a pure function of
    (table, labels, seed, run, shard)."""
    rng = np.random.default_rng(seed_for(seed, run, shard, "prompts"))
    by_class = {c: g["prompt"].tolist() for c, g in df.groupby("class_index", sort=True)}
    u = rng.random(len(labels))
    out = []
    for lab, x in zip(labels, u):
        pool = by_class[int(lab)]
        out.append(pool[int(x * len(pool))])
    return out


# --------------------------------------------------------------------------- the workflow step


def summarize(df: pd.DataFrame, n_classes: int) -> dict:
    counts = df.groupby("class_index").size().reindex(range(n_classes), fill_value=0)
    return {"n_prompts": int(len(df)), "n_distinct": int(df["prompt"].nunique()),
            "per_class_min": int(counts.min()), "per_class_max": int(counts.max()),
            "per_class_counts": counts.astype(int).tolist(),
            "examples": df.groupby("class_index").head(1)["prompt"].tolist()[:10]}


def _incap_inputs(cfg: dict, class_names, class_ids, inputs: Sequence[str | Path]) -> tuple[dict, dict]:
    """Captions for incap from per-shard caption tables (.parquet) or from the train shards (.tar)."""
    from synscale.prompts import captioners as K

    paths = [Path(p) for p in inputs]
    if not paths:
        raise PromptSetUnavailable("prompt set 'incap' needs the real train shards or their caption tables")
    if all(p.suffix == ".parquet" for p in paths):
        caps = K.read_caption_tables(paths)
        notes = [p.with_suffix(".json") for p in paths]
        desc = None
        if notes[0].is_file():
            from synscale.io import read_json

            desc = read_json(notes[0]).get("captioner")
        name = (desc or {}).get("name", "captioner")
        return ({"labels": caps["class_index"].to_numpy(), "captions": caps["caption"].tolist(),
                 "keys": caps["key"].tolist(), "captioner": name},
                {"captioner": desc, "caption_tables": len(paths)})
    if not all(p.suffix == ".tar" for p in paths):
        raise ValueError(f"incap inputs must be caption tables (.parquet) or train shards (.tar), got {paths[:3]}")
    captioner = K.load_captioner(cfg)
    if isinstance(captioner, K.ImageStatsCaptioner):
        from synscale.data.shards import read_shards

        data = read_shards(paths, size=cfg["data"]["image_size"], channels=cfg["data"]["channels"])
        keys, labels, caps = data.keys, data.labels, captioner.caption(data.images)
    else:
        keys, labels, caps = [], [], []
        for p in paths:
            k, ims, lab = K.read_shard_images(p)
            keys += k
            labels += lab.tolist()
            caps += captioner.caption(ims)
    return ({"labels": labels, "captions": caps, "keys": keys, "captioner": captioner.name},
            {"captioner": captioner.describe()})


def build_prompt_set(cfg: dict, prompt_set: str, class_names: Sequence[str], class_ids: Sequence[str],
                     inputs: Sequence[str | Path] = (), progress: Callable[[int, str], None] | None = None
                     ) -> tuple[pd.DataFrame, dict]:
    """The prompt table of ``prompt_set`` for the config, and what to record about it: the sources
    it was built from, the models (with their labels, e.g. a tiny test model) and the per-class counts.

    ``inputs``: for incap, the per-shard caption tables or the real train shards; unused otherwise.
    """
    t0 = time.time()
    # the job's config slice holds prompts.* only for the sets that read them (dict.get: its absence
    # is declared, not a forgotten key; the options themselves are read with the slice's checks)
    opt = dict.get(cfg, "prompts") or {}
    seed = cfg["seed"]
    class_names, class_ids = list(class_names), [str(c) for c in class_ids]
    kw: dict = {"seed": seed}
    if "hyper" in prompt_set:
        kw["hypernym_depth"] = opt["hypernym_depth"]
    if prompt_set.endswith("_places"):
        kw["places_per_class"] = opt["places_per_class"]
    details: dict = {}
    models: dict = {}
    if prompt_set in WORDNET_SETS:
        senses = class_senses(class_names, class_ids)
        details["senses_from"] = sorted({s["from"] for s in senses})
        if "hyper" in prompt_set:
            from synscale.prompts import wordnet as W

            details["wordnet"] = {"location": str(W.find_wordnet()), "version": W.load_wordnet().get_version(),
                                  "hypernym_depth": opt["hypernym_depth"]}
        if prompt_set.endswith("_places"):
            details["places"] = {"file": str(PLACES_FILE), "categories": N_PLACES,
                                 "per_class": opt["places_per_class"] or N_PLACES}
    elif prompt_set in ("clip7", "clip80"):
        details["templates"] = {"source": "open_clip", "n": len(clip_templates(prompt_set))}
    elif prompt_set == "word2sen":
        w = opt["word2sen"]
        if not w.get("path"):
            build_table("word2sen", class_names, class_ids)   # raises PromptSetUnavailable, naming the key
        from synscale.logs import Progress
        from synscale.prompts.word2sen import generate_sentences

        options = {k: w[k] for k in w if k != "path"}
        prog = progress or Progress("word2sen classes", len(class_names))
        sentences, winfo = generate_sentences(w["path"], class_names, class_ids, seed, progress=prog, **options)
        kw["sentences"] = sentences
        models["word2sen"] = winfo.pop("model")
        details["word2sen"] = winfo
    elif prompt_set == "incap":
        ikw, iinfo = _incap_inputs(cfg, class_names, class_ids, inputs)
        kw.update(ikw)
        described = iinfo.pop("captioner", None)
        if described:
            models["captioner"] = described
        details["incap"] = iinfo
    df = build_table(prompt_set, class_names, class_ids, **kw)
    check_table(df, len(class_names), f"prompt set {prompt_set}")
    info = {"prompt_set": prompt_set, **summarize(df, len(class_names)), "seed": seed, "sources": details,
            "models": models,
            "test_models": sorted(k for k, m in models.items() if isinstance(m, dict) and m.get("test_model")),
            "build_time_s": round(time.time() - t0, 3)}
    return df, info
