"""An offline CLIP tokenizer for the tiny aMUSEd: the byte-level BPE vocabulary of CLIP's shape,
written as ``vocab.json`` / ``merges.txt`` so ``CLIPTokenizer`` loads it from a local directory
(nothing is fetched from a hub)."""
from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

CLIP_VOCAB_SIZE = 49408  # 256 bytes + 256 bytes</w> + 48894 merges + 2 special tokens


CLIP_MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map of the 256 bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_bpe_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's tokenizer vocabulary (49408 entries) and BPE merges, built offline from the
    ``bpe_simple_vocab_16e6.txt.gz`` that open_clip ships, exactly as CLIP's SimpleTokenizer builds
    them: the 256 byte symbols, the same with ``</w>``, one token per merge, then
    ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407)."""
    spec = importlib.util.find_spec("open_clip")  # locate the file without importing open_clip (slow)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the CLIP BPE vocabulary comes with the 'open_clip_torch' package")
    bpe = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE:
        raise ValueError(f"{bpe}: built a vocabulary of {len(vocab)} tokens, expected {CLIP_VOCAB_SIZE}")
    return vocab, merges


def write_clip_vocab_files(out_dir: str | Path) -> None:
    """Write ``vocab.json`` and ``merges.txt`` (the files a slow/older-transformers CLIP tokenizer loads)
    next to the ``tokenizer.json`` that ``save_pretrained`` writes, as Stable Diffusion 1.5 ships them."""
    vocab, merges = clip_bpe_vocab()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")


def clip_tokenizer(max_length: int = CLIP_MAX_LENGTH):
    """A real CLIP tokenizer (as Stable Diffusion 1.5 and aMUSEd ship it), built offline, padding and
    truncating prompts to ``max_length`` tokens."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe_vocab()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
