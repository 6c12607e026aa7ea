#!/bin/bash
# Slurm: a job array of `nas worker` processes, one per array task. Each claims trials from the
# coordinator's PostgreSQL store until none arrive for 10 minutes.
#   sbatch --array=0-15 docs/deploy/slurm-workers.sh
# The coordinator runs elsewhere: nas search --store "$NAS_STORE" --remote-workers …
#SBATCH --job-name=nas-workers
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=24:00:00
#SBATCH --output=nas-worker-%A_%a.log
set -euo pipefail
: "${NAS_STORE:?export NAS_STORE=postgres://user:password@host:5432/db (or put the password in PGPASSWORD)}"
exec nas worker --store "$NAS_STORE" --idle-exit 600 --lease-seconds 120 \
    --name "slurm-${SLURM_ARRAY_JOB_ID}-${SLURM_ARRAY_TASK_ID}"
