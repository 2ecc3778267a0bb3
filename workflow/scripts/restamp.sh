#!/usr/bin/env bash
# After `dvc pull` or `dvc checkout`, mark the restored artifacts as finished for Snakemake (`make pull` runs this).
#
# Why: DVC writes every restored file with a fresh modification time, in no particular order, so Snakemake's mtime
# trigger would see inputs "newer" than outputs and rerun finished jobs (hours of GPU time on the paper grid).
# `snakemake --touch --forceall` re-stamps every existing output in DAG order and records Snakemake's metadata
# (params, code), so later changes to params or code still trigger exactly the jobs they affect. Outputs that are
# absent are left absent: their jobs, and everything downstream of them, still run.
#
# It only re-stamps what DVC confirms matches dvc.lock (`dvc status` clean: same params, code and data as the run
# that produced them); otherwise touching would bless stale artifacts, so it stops and says why.
# Usage: workflow/scripts/restamp.sh [snakemake targets; default: the whole pipeline of params.yaml's grid]
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! dvc status --quiet; then
  echo "restamp: the workspace differs from dvc.lock (see \`dvc status\`); run \`dvc repro\` (or snakemake) instead" >&2
  exit 1
fi
snakemake --touch --forceall --cores 1 "$@" --quiet rules
echo "restamp: Snakemake now takes the restored artifacts as finished (snakemake -n plans nothing)"
