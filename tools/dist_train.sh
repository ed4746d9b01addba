#!/usr/bin/env bash
# Distributed training on one machine with torchrun.
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options...]
# NNODES, NODE_RANK, PORT and MASTER_ADDR are read from the environment.
# Without GPUs the processes use the gloo backend on the CPU; add
# --cfg-options env_cfg.dist_cfg.backend=gloo on CPU-only machines.
set -euo pipefail
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}

PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
