"""ImageNet-1k class information from what ships with the installed packages: wnids, WordNet lemmas
and glosses (timm's bundled ImageNet info), class names (open_clip's cleaned CLIP names).

Label order is the standard one: the 1,000 wnids sorted, ``0 = n01440764 (tench)``.

    python -m synscale.imagenet classes.json    # writes {"names": [...], "ids": [wnids]} for data.class_index
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

N_CLASSES = 1000


@dataclass(frozen=True)
class ImageNetClasses:
    ids: tuple[str, ...]          # wnids, label order
    names: tuple[str, ...]        # open_clip's class names ('tench', 'Golden Retriever', ...)
    lemmas: tuple[str, ...]       # WordNet lemmas, comma-separated ('tench, Tinca tinca')
    glosses: tuple[str, ...]      # WordNet definitions

    def __len__(self) -> int:
        return len(self.ids)


@functools.lru_cache(maxsize=1)
def imagenet1k() -> ImageNetClasses:
    import open_clip
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    ids = tuple(info.label_names())
    names = tuple(open_clip.IMAGENET_CLASSNAMES)
    if len(ids) != N_CLASSES or len(names) != N_CLASSES:
        raise RuntimeError(f"timm ships {len(ids)} ImageNet-1k wnids and open_clip {len(names)} class names; "
                           f"expected {N_CLASSES} each (reinstall timm and open-clip-torch)")
    lemmas, glosses = [], []
    for w in ids:
        desc = info.label_name_to_description(w, detailed=True)   # 'tench, Tinca tinca: freshwater ...'
        lem, _, gl = desc.partition(": ")
        lemmas.append(lem.strip())
        glosses.append(gl.strip())
    return ImageNetClasses(ids, names, tuple(lemmas), tuple(glosses))


def class_index() -> dict:
    """{'names': open_clip names, 'ids': wnids} in label order: the format of classes.json."""
    c = imagenet1k()
    return {"names": list(c.names), "ids": list(c.ids)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m synscale.imagenet OUT.json", file=sys.stderr)
        return 2
    from synscale.io import write_json

    write_json(argv[0], class_index())
    print(f"wrote the {N_CLASSES} ImageNet-1k class names and wnids to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
