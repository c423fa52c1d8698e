# Requests per job on a cluster (ignored by local runs). Runtimes grow with the work a job does
# (shard size, training iterations). A job that keeps its progress asks for the same time on every
# attempt: classifier, CLIP and tiny T2I training write a resume checkpoint on SLURM's warning signal
# (the profile's `--signal=USR1@...`, exit status 75) and on SIGTERM, and their retry continues from
# it; a generation job keeps the part files it finished and samples only the missing ones. Every
# other job (prompts, captions, the index, the reference, CPU jobs) restarts from nothing, so its
# retry asks for more time: runtime x attempt. Memory grows with the attempt for every job, up
# to 3x: a job that keeps its progress may be retried many times (a training job meeting its time
# limit again and again) and must not end up asking for more memory than a node has.
from synscale.train.preempt import ignore_warning_in_job

# In the Snakemake process that runs a job inside a SLURM allocation: SIGUSR1, the warning SLURM
# sends to every process of the job before its time limit, is ignored here and by what this process
# starts, until a training loop sets its own handler (synscale/train/preempt.py).
ignore_warning_in_job()


def mem_mb(wildcards, attempt):
    return RESOURCES["mem_mb"] * min(attempt, 3)


def runtime_generate(wildcards, attempt):
    """Minutes for a shard, a test set or a caption block's twins, spread over generation.gpus."""
    if "shard" not in wildcards.keys():
        n = CFG["generation"]["testset_per_class"] * 1000
    elif is_twins(data_run(wildcards)):
        ds = CLIP["datasets"][data_run(wildcards).prompt]
        n = ds["shard_size"] * ds["shards_per_block"]
    else:
        n = GEN_SHARD
    per_gpu = n / CFG["generation"]["gpus"]
    return int(10 + RESOURCES["generate_minutes_per_1k_images"] * per_gpu / 1000)  # parts kept: no growth


def runtime_train(wildcards, attempt):
    # resumes from the checkpoint it wrote on the signal: the same time on every attempt
    iters, _ = C.iterations(int(wildcards.scale), CFG["classifier"]["schedule"])
    return int(10 + RESOURCES["train_minutes_per_1k_iters"] * iters / 1000)


def runtime_t2i(wildcards, attempt):
    # resumes from the checkpoint it wrote on the signal (synscale/train/stages.py): no growth
    return RESOURCES["t2i_minutes"]


def runtime_index(wildcards, attempt):
    # reading every real train shard once: ImageNet's 1.28M images, about 140 GB, in well under 2 h
    return 120 * attempt


def runtime_reference(wildcards, attempt):
    return RESOURCES["reference_minutes"] * attempt


def runtime_prompts(wildcards, attempt):
    # word2sen samples 100+ sentences for each class; the other sets take seconds
    return (120 if wildcards.prompt == "word2sen" else 30) * attempt


def runtime_captions(wildcards, attempt):
    images = REAL_SHARD * CAPTION_SHARDS_PER_JOB
    return int(10 + RESOURCES["caption_minutes_per_1k_images"] * images / 1000) * attempt


def runtime_clip(wildcards, attempt):
    from synscale.config.recipes import pick_recipe

    r = pick_recipe(CLIP["train"], int(wildcards.scale))
    # resumes from the checkpoint it wrote on the signal: the same time on every attempt
    return int(10 + CLIP["train"]["minutes_per_1m_samples"] * r.steps * r.batch_size / 1e6)


def node_request(key, section):
    """SLURM request `key` of a training job whose section (`nodes`, `gpus`) is `section`: one node
    with `gpus` GPUs (--gpus), or `nodes` nodes with `gpus` GPUs each (--nodes, --gres=gpu:G;
    SLURM's default of one task per node is the one srun task per node that starts torchrun)."""
    if key == "nodes":
        return section["nodes"]
    if key == "gpu":
        return section["gpus"] if section["nodes"] == 1 else 0
    if key == "gres":
        return f"gpu:{section['gpus']}" if section["nodes"] > 1 else ""
    raise KeyError(key)


def train_resources(key):
    """A classifier training job's SLURM request `key` (its run's classifier section)."""
    return lambda wildcards: node_request(key, run_classifier(wildcards))


def clip_resources(key):
    """A CLIP training job's SLURM request `key` (clip.train)."""
    return lambda wildcards: node_request(key, CLIP["train"])
