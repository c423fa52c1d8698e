"""word2sen: a sequence-to-sequence model turns a class name into sentences (the paper's recipe: a T5
fine-tuned for concept-to-sentence generation on CommonGen, e.g. ``t5-base-finetuned-common_gen``),
``per_class`` distinct sentences per class.

The model is loaded from a local ``save_pretrained`` directory through transformers; nothing is
downloaded. Sampling is seeded per (seed, class id, round), so a class's sentences do not depend on
the other classes, on the order they are processed in, or on how many classes there are.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Callable, Sequence

from synscale.seeds import seed_for

log = logging.getLogger("synscale.word2sen")

MODEL_NOTE = "synscale_model.json"   # optional note a model directory carries (e.g. 'tiny test model')
DEFAULTS = {
    "per_class": 100,          # distinct sentences per class
    "batch_size": 128,         # sentences sampled per generate call
    "max_rounds": 20,          # generate calls per class at most
    "max_new_tokens": 32,
    "top_k": 0,                # 0: no top-k filtering
    "top_p": 0.95,
    "temperature": 1.0,
    "input_template": "{}",    # model input; '{}' is the class name
    "device": "auto",
}


class ModelPathError(FileNotFoundError):
    """A local model directory is missing or is not a transformers save_pretrained directory."""


def check_model_dir(path: str | Path | None, key: str, what: str) -> Path:
    """The model directory, or a ModelPathError naming the config key and the fix."""
    if path is None or str(path) == "":
        raise ModelPathError(f"config key '{key}' is not set: {what} needs a local model directory "
                             "(transformers save_pretrained); synscale never downloads weights at run time")
    p = Path(path)
    if not p.is_dir():
        raise ModelPathError(f"config key '{key}' = {str(path)!r}: directory not found; point it at a local "
                             f"copy of the {what} (a transformers save_pretrained directory)")
    if not (p / "config.json").is_file():
        raise ModelPathError(f"config key '{key}' = {str(path)!r}: no config.json inside; expected a "
                             f"transformers save_pretrained directory of the {what}")
    return p


def describe_model(path: str | Path, model=None) -> dict:
    """Provenance of a local model: path, model_type, architectures, parameter count and the note
    of ``synscale_model.json`` (e.g. that it is a tiny randomly initialised test model)."""
    p = Path(path)
    out: dict = {"path": str(p.resolve())}
    try:
        cfg = json.loads((p / "config.json").read_text())
        out["model_type"] = cfg.get("model_type")
        out["architectures"] = cfg.get("architectures")
        out["name_or_path"] = cfg.get("_name_or_path") or None
    except (OSError, ValueError):
        pass
    if model is not None:
        out["n_parameters"] = int(sum(t.numel() for t in model.parameters()))
    note = p / MODEL_NOTE
    if note.is_file():
        try:
            out.update(json.loads(note.read_text()))
        except ValueError:
            out["label"] = f"unreadable {MODEL_NOTE}"
    out.setdefault("label", "local model")
    return out


def resolve_device(device: str | None) -> str:
    """``auto``: the job's device (``synscale.device.job_device``); else the device named."""
    if device in (None, "", "auto"):
        from synscale.device import job_device

        return str(job_device())
    return device


def normalise(sentence: str) -> str:
    return re.sub(r"\s+", " ", sentence).strip()


def load_seq2seq(path: str | Path, device: str = "cpu", key: str = "prompts.word2sen.path"):
    p = check_model_dir(path, key, "word2sen sequence-to-sequence model")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelPathError(f"config key '{key}' = {str(path)!r}: not a loadable sequence-to-sequence model "
                             f"with its tokenizer ({e})") from None
    return tok, model.to(device).eval()


def generate_sentences(path: str | Path, class_names: Sequence[str], class_keys: Sequence[str], seed: int,
                       progress: Callable[[int, str], None] | None = None, **options) -> tuple[list[list[str]], dict]:
    """For each class, ``per_class`` distinct sentences sampled from the model.

    Returns (sentences per class, info). A class that stays short of ``per_class`` after
    ``max_rounds`` generate calls keeps the distinct sentences it has (listed in info['short']);
    a class without a single non-empty sentence is an error.
    """
    import torch

    opt = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    unknown = sorted(set(opt) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown word2sen options {unknown}; known: {sorted(DEFAULTS)}")
    device = resolve_device(opt["device"])
    tok, model = load_seq2seq(path, device)
    n, bs = int(opt["per_class"]), int(opt["batch_size"])
    gen_kw = {"do_sample": True, "max_new_tokens": int(opt["max_new_tokens"]), "top_p": float(opt["top_p"]),
              "top_k": int(opt["top_k"]), "temperature": float(opt["temperature"])}
    out, short, calls = [], {}, 0
    for ci, (name, key) in enumerate(zip(class_names, class_keys)):
        text = opt["input_template"].format(name)
        enc = tok([text], return_tensors="pt").to(device)
        have: list[str] = []
        seen: set[str] = set()
        for rnd in range(int(opt["max_rounds"])):
            torch.manual_seed(seed_for(seed, "word2sen", key, rnd))
            with torch.no_grad():
                ids = model.generate(**enc, num_return_sequences=bs, **gen_kw)
            calls += 1
            for s in tok.batch_decode(ids, skip_special_tokens=True):
                s = normalise(s)
                if s and s.lower() not in seen:
                    seen.add(s.lower())
                    have.append(s)
            if len(have) >= n:
                break
        if not have:
            raise RuntimeError(f"word2sen: the model at {path} produced no non-empty sentence for class "
                               f"{ci} ({name!r}) in {opt['max_rounds']} rounds of {bs}")
        if len(have) < n:
            short[str(key)] = len(have)
            log.warning("word2sen: class %d (%s): only %d distinct sentences after %d rounds of %d",
                        ci, name, len(have), opt["max_rounds"], bs)
        out.append(have[:n])
        if progress:
            progress(ci + 1, name)
    total = sum(len(ss) for ss in out)
    hits = sum(nm.lower() in s.lower() for nm, ss in zip(class_names, out) for s in ss)
    info = {"model": describe_model(path, model), "device": device, "generate_calls": calls,
            "options": {k: opt[k] for k in sorted(opt)}, "short": short,
            "fraction_with_class_name": round(hits / max(1, total), 4)}
    return out, info
