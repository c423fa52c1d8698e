#!/usr/bin/env bash
# GPU benchmark at real size (bench/gpu.py): SD-1.5-shaped generation at 512 px in fp16 and ViT-B/16
# training at 224 px through the real loader, each with images/s beside a bare baseline.
#   bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
exec .venv/bin/python bench/gpu.py "$@"
