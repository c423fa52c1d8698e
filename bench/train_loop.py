"""Benchmark: synscale's training step rate (synscale.classifier.train_loop with the embedded
default's recipe: timm AdamW, cosine schedule, Mixup, binary cross-entropy) against a bare
timm/torch loop (forward, loss, backward, AdamW step) on the same in-memory batch and model.

    .venv/bin/python bench/train_loop.py [--steps 60]

Both run in this process, alternately, best of 3. Goal: ratio >= 0.9.
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch
from _common import ROOT, alternate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    from synscale import config as C
    from synscale.config import recipes as R
    from synscale.train.classifier import build_model, train_loop

    torch.set_num_threads(1)
    cfg = C.validate(C.load_yaml(ROOT / "config" / "config.yaml"))
    cc = cfg["classifier"]
    r = R.build(cc, iters=a.steps, warmup=5)
    kw = R.model_kwargs(cc["arch"], cc)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(r.micro_batch, 1, 16, 16, generator=g)
    y = torch.randint(0, 10, (r.micro_batch,), generator=g)

    def ours():
        m = build_model(cc["arch"], 10, 1, kw, seed=0)
        t0 = time.perf_counter()
        train_loop(m, itertools.repeat((x, y)), r, 10, seed=0)
        return time.perf_counter() - t0

    def bare():
        m = build_model(cc["arch"], 10, 1, kw, seed=0)
        opt = torch.optim.AdamW(m.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        crit = torch.nn.BCEWithLogitsLoss()
        target = torch.nn.functional.one_hot(y, 10).float()
        m.train()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            opt.zero_grad(set_to_none=True)
            crit(m(x), target).backward()
            opt.step()
        return time.perf_counter() - t0

    t_ours, t_bare = alternate(ours, bare)
    ratio = t_bare / t_ours
    verdict = "met" if ratio >= 0.9 else "NOT met"
    print(f"{cc['arch']} {kw}, batch {r.micro_batch}: synscale {a.steps / t_ours:6.1f} steps/s | "
          f"bare loop {a.steps / t_bare:6.1f} steps/s | ratio {ratio:.3f} (goal >= 0.9: {verdict})")


if __name__ == "__main__":
    main()
