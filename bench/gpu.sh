#!/usr/bin/env bash
# GPU benchmark at real size (bench/gpu.py): SD-1.5-shaped generation at 512 px in fp16, SDXL-shaped
# generation at 1024 px in fp16, FLUX.1-dev-shaped generation at 1024 px in bf16 (random weights with the
# real models' shapes; needs about 80 GB of GPU memory) and ViT-B/16 training at 224 px through the real
# loader, each with images/s beside a bare baseline.
#   bash bench/gpu.sh                     # every case
#   bash bench/gpu.sh --cases sdxl,flux   # some of them: sd15, sdxl, flux, training
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
exec .venv/bin/python bench/gpu.py "$@"
