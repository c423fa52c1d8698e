"""WordNet 3.0 through nltk's reader, from a local nltk data directory (never downloaded at run time).

ImageNet wnids are WordNet 3.0 noun offsets (``n01440764`` -> ``tench.n.01``). The data directory
is searched in this order: ``$SYNSCALE_NLTK_DATA``, the project's ``.venv/nltk_data``, then nltk's
own search path (``$NLTK_DATA``, ``<sys.prefix>/nltk_data``, ``~/nltk_data``, ...).
``envs/install_wordnet.sh``, run once by ``install.sh``, puts it there (from Debian's
``wordnet-base`` + ``wordnet-sense-index``; only where those are unavailable does that install step
fetch nltk's copy). The workflow itself only reads it.
"""
from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WNID_RE = re.compile(r"^n[0-9]{8}$")
INSTALL_HINT = ("install it once with `envs/install_wordnet.sh` (Debian's wordnet-base + wordnet-sense-index "
                "into .venv/nltk_data), or set SYNSCALE_NLTK_DATA to an nltk data directory holding "
                "corpora/wordnet")


class WordNetMissing(FileNotFoundError):
    """WordNet 3.0 is not installed where nltk can read it."""


def data_dirs() -> list[str]:
    """nltk data directories searched for corpora/wordnet, first match wins."""
    import nltk

    dirs = []
    env = os.environ.get("SYNSCALE_NLTK_DATA")
    if env:
        dirs.append(env)
    dirs.append(str(REPO / ".venv" / "nltk_data"))
    dirs += [d for d in nltk.data.path if isinstance(d, str)]
    out: list[str] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def find_wordnet() -> Path:
    """The corpora/wordnet directory (or wordnet.zip) nltk will read; WordNetMissing if none."""
    for d in data_dirs():
        base = Path(d) / "corpora"
        if (base / "wordnet" / "lexnames").is_file() and (base / "wordnet" / "data.noun").is_file():
            return base / "wordnet"
        if (base / "wordnet.zip").is_file():
            return base / "wordnet.zip"
    raise WordNetMissing(
        "WordNet 3.0 for nltk not found (looked for corpora/wordnet in: " + ", ".join(data_dirs()) + "); "
        + INSTALL_HINT)


@functools.lru_cache(maxsize=None)
def _reader(location: str):
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    loc = Path(location)
    data_dir = str(loc.parent.parent)
    if data_dir not in nltk.data.path:
        nltk.data.path.insert(0, data_dir)   # nltk's readers refuse roots outside nltk.data.path
    if loc.suffix == ".zip":
        root = nltk.data.find(f"corpora/{loc.name}/wordnet/", paths=[data_dir])
    else:
        root = nltk.data.FileSystemPathPointer(str(loc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed here
        try:
            wn = WordNetCorpusReader(root, None)
        except (OSError, LookupError, AssertionError, ValueError) as e:
            raise WordNetMissing(f"{location}: incomplete WordNet for nltk ({type(e).__name__}: {e}); "
                                 + INSTALL_HINT) from None
    version = wn.get_version()
    if version != "3.0":
        raise WordNetMissing(f"{location}: WordNet {version} found, but ImageNet wnids are WordNet 3.0 "
                             "offsets; " + INSTALL_HINT)
    return wn


def load_wordnet():
    """nltk's WordNetCorpusReader over the local WordNet 3.0."""
    return _reader(str(find_wordnet()))


def available() -> bool:
    try:
        load_wordnet()
    except WordNetMissing:
        return False
    return True


def is_wnid(s: str) -> bool:
    return bool(WNID_RE.match(str(s)))


def synset_for_wnid(wnid: str):
    """The noun synset of an ImageNet wnid (``n01440764`` -> Synset('tench.n.01'))."""
    if not is_wnid(wnid):
        raise ValueError(f"{wnid!r} is not a wnid (an 'n' and 8 digits, a WordNet 3.0 noun offset)")
    from nltk.corpus.reader.wordnet import WordNetError

    try:
        s = load_wordnet().synset_from_pos_and_offset("n", int(wnid[1:]))
    except WordNetError as e:
        raise ValueError(f"{wnid}: no WordNet 3.0 noun synset at this offset ({e})") from None
    if s is None:  # nltk returns None for an offset inside the data file that starts no synset
        raise ValueError(f"{wnid}: no WordNet 3.0 noun synset at this offset")
    return s


def synset(name_or_wnid: str):
    """A synset from a wnid or an nltk synset name such as ``seven.n.01``."""
    if is_wnid(name_or_wnid):
        return synset_for_wnid(name_or_wnid)
    return load_wordnet().synset(name_or_wnid)


def wnid_of(s) -> str:
    return f"{s.pos()}{s.offset():08d}"


def lemma_names(s) -> list[str]:
    """The synset's lemmas as words: underscores become spaces, case kept (``Tinca tinca``)."""
    return [name.replace("_", " ") for name in s.lemma_names()]


def gloss(s) -> str:
    """The WordNet definition, e.g. tench: 'freshwater dace-like game fish of Europe and western Asia
    noted for ability to survive outside water'."""
    return s.definition().strip()


def hypernym_levels(s, depth: int = 1) -> list[list]:
    """Hypernyms by level: [[direct hypernyms], [their hypernyms], ...] up to ``depth`` levels,
    instance hypernyms included, each synset once. nltk keeps a synset's pointers in a set, whose
    order changes from one process to the next, so each synset's hypernyms are sorted by name."""
    levels, seen, frontier = [], {s}, [s]
    for _ in range(max(0, depth)):
        nxt = []
        for x in frontier:
            for h in sorted(x.hypernyms() + x.instance_hypernyms(), key=lambda y: y.name()):
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
        if not nxt:
            break
        levels.append(nxt)
        frontier = nxt
    return levels


def hypernym_terms(s, depth: int = 1) -> list[str]:
    """The lemmas of the hypernyms up to ``depth`` levels, de-duplicated in order
    (tench, depth 1: ['cyprinid', 'cyprinid fish'])."""
    out: list[str] = []
    for level in hypernym_levels(s, depth):
        for h in level:
            for name in lemma_names(h):
                if name.lower() not in {o.lower() for o in out}:
                    out.append(name)
    return out
