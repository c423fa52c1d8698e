"""The configuration edits of README's "Editing the configuration re-runs exactly what the edit
invalidates", with the jobs each must re-run on the tiny config (tests/configs/tiny.yaml). The
fast test (workflow/test_config_edit_plan.py) derives them from the DAG's params; the slow one
(workflow/test_workflow.py) from Snakemake's dry run on the built workspace."""
from __future__ import annotations

import re

# what follows any new fit: the per-class analysis of the synthetic run, the report's figures and the
# cost ledger (which reads every job's benchmark)
DOWNSTREAM = {"analysis": 1, "report_figures": 1, "ledger": 1, "all": 1}
FULL_BUILD = {"data_embedded": 1, "index_real_data": 1, "real_subsets": 1, "prompts": 1, "train_t2i": 1,
              "train_reference": 1, "val_features": 1, "train_features": 1, "generate_shard": 4, "generate_testset": 1,
              "quality": 1, "per_class_fid": 1, "sample_grid": 1, "train_classifier": 6, "evaluate": 6, "fit": 2,
              **DOWNSTREAM}
SD_SAMPLES = {"generate_shard": 4, "generate_testset": 1, "quality": 1, "per_class_fid": 1, "sample_grid": 1,
              "train_classifier": 3, "evaluate": 3, "fit": 1, **DOWNSTREAM}

# a config edit -> exactly the jobs it invalidates
EDITS = [
    ("classifier.lr", 0.003, {"train_classifier": 6, "evaluate": 6, "fit": 2, **DOWNSTREAM}),
    ("classifier.eval_batch_size", 64, {"evaluate": 6, "fit": 2, **DOWNSTREAM}),
    ("models.sd.steps", 3, SD_SAMPLES),
    ("models.sd.train.unet_steps", 21, {"train_t2i": 1, **SD_SAMPLES}),
    ("generation.testset_per_class", 4, {"generate_testset": 1, "quality": 1, "sample_grid": 1, "fit": 1,
                                         **DOWNSTREAM}),
    ("fit.reference_scale", 800, {"fit": 2, **DOWNSTREAM}),
    ("prompts.places_per_class", 5, {}),   # no run of the tiny config uses a places set
    ("reference_classifier.steps", 50, {"train_reference": 1, "val_features": 1, "train_features": 1,
                                        "quality": 1, "per_class_fid": 1, "fit": 1, **DOWNSTREAM}),
    ("quality.per_class_fid.min_images_per_class", 10, {"per_class_fid": 1, "analysis": 1, "ledger": 1, "all": 1}),
    ("quality.lpips.pairs_per_class", 20, {"quality": 1, "fit": 1, **DOWNSTREAM}),
    ("analysis.groups.k_quantile", 0.5, {"analysis": 1, "ledger": 1, "all": 1}),
    ("threads", 2, {}),
    ("generation.gpus", 2, {"ledger": 1, "all": 1}),  # a SLURM request: no image depends on it; the ledger
                                                       # reads the generation config
    ("seed", 1, FULL_BUILD),
]


def set_key(cfg: dict, key: str, value) -> None:
    """Set the dotted ``key`` of a loaded YAML config in place."""
    *parents, last = key.split(".")
    for p in parents:
        cfg = cfg.setdefault(p, {})
    cfg[last] = value


def job_stats(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run."""
    stats = {}
    m = re.search(r"Job stats:\n(.*?)\n\n", output + "\n\n", re.S)
    if not m:
        return stats
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            stats[parts[0]] = int(parts[1])
    return stats
