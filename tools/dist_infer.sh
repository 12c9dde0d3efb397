#!/usr/bin/env bash
# Archive inference with torchrun: tools/dist_infer.sh CONFIG CHECKPOINT INPUT NUM_PROCS --out-dir D
# [tools/archive_infer.py options]. One process per GPU (NCCL), or NUM_PROCS CPU processes (gloo).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as in tools/dist_train.sh.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  echo "Usage: see the comment at the top of $0:"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0
fi
CONFIG=$1
CHECKPOINT=$2
INPUT=$3
PROCS=$4
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$PROCS" --master_port="$PORT" \
    "$(dirname "$0")/archive_infer.py" "$CONFIG" "$CHECKPOINT" "$INPUT" --launcher pytorch "${@:5}"
