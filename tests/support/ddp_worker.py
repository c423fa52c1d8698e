"""A torchrun worker for tests/workflow/test_distributed.py: trains a tiny ViT on a fixed sequence of global
batches, this rank taking its slice of each, and saves rank 0's weights.

    python -m torch.distributed.run --standalone --nproc-per-node N tests/support/ddp_worker.py OUT MICRO
"""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))   # the repository root

from synscale.config import recipes as R  # noqa: E402
from synscale.train import classifier as K  # noqa: E402

GLOBAL, STEPS = 16, 6
KW = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2}


def global_batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(GLOBAL, 1, 16, 16, generator=g), torch.randint(0, 3, (GLOBAL,), generator=g))
            for _ in range(STEPS)]


def main(out: str, micro: int) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    cc = {"batch_size": GLOBAL, "max_device_batch": micro, "nodes": 1, "gpus": world,
          "optimizer": {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8}, "lr": 3e-3, "weight_decay": 0.05,
          "warmup_lr": 1e-6, "min_lr": 0.0, "loss": "bce", "label_smoothing": 0.0, "mixup": 0.0, "input_size": 16,
          "augment": None}
    r = R.build(cc, iters=STEPS, warmup=1)
    per = GLOBAL // world
    feed = []
    for x, y in global_batches():  # this rank's slice of each global batch, in micro-batches
        xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
        feed += [(xs[i:i + r.micro_batch], ys[i:i + r.micro_batch]) for i in range(0, per, r.micro_batch)]
    model = K.build_model("vit_tiny_patch16_224", 3, 1, KW, seed=0)
    stats = K.train_loop(model, feed, r, 3, seed=0, rank=rank, world_size=world)
    if rank == 0:
        torch.save({"model": model.state_dict(), "stats": stats}, out)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
