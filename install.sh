#!/usr/bin/env bash
# Install synscale's Python environment into ./.venv (idempotent; re-running is cheap).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r envs/requirements.txt
# clip-benchmark only for its per-dataset class names and templates (data files, never imported);
# its own dependencies (pycocotools, pycocoevalcap's Java jars) are not needed
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps clip-benchmark==1.6.2
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
envs/install_wordnet.sh   # WordNet 3.0 for nltk into .venv/nltk_data (the WordNet prompt sets)
envs/register_profile.sh  # `snakemake --profile slurm` finds profiles/slurm
envs/install_browser.sh   # headless Chromium for the test that opens the HTML report (Debian packages)
.venv/bin/python -c "import synscale, torch, diffusers, timm, snakemake; print('synscale environment ready:', '.venv')"
