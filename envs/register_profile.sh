#!/usr/bin/env bash
# Make `snakemake --profile slurm` find this project's profiles/slurm: link it into the user's
# snakemake profile directory ($XDG_CONFIG_HOME/snakemake, usually ~/.config/snakemake), unless a
# profile named `slurm` already exists there (then it is left alone and this says so).
# `--profile profiles/slurm` works from the project directory either way.
set -euo pipefail
cd "$(dirname "$0")/.."
here="$(pwd -P)/profiles/slurm"
dir="$(.venv/bin/python -c 'from snakemake.cli import get_appdirs; print(get_appdirs().user_config_dir)')"
target="$dir/slurm"
if [ -L "$target" ] && [ "$(readlink -f "$target")" = "$here" ]; then
    echo "snakemake profile 'slurm': $target -> $here (already registered)"
elif [ -L "$target" ] && [ ! -e "$target" ]; then
    ln -sfn "$here" "$target"
    echo "snakemake profile 'slurm': $target pointed nowhere; now -> $here"
elif [ -e "$target" ] || [ -L "$target" ]; then
    echo "snakemake profile 'slurm': $target already exists and is not this project's; left it alone." \
         "Use --profile $here (or --profile profiles/slurm from this directory)."
else
    mkdir -p "$dir"
    ln -s "$here" "$target"
    echo "snakemake profile 'slurm': registered $target -> $here"
fi
