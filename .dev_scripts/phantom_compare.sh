#!/usr/bin/env bash
# Train configs on one phantom data set, side by side, and compare their last validation per class
# (AP50 and FROC) with tools/analysis_tools/compare.py: the accuracy checks in docs/benchmarks.md (fast levers)
# and docs/anchors.md (small anchors).
#
#   bash .dev_scripts/phantom_compare.sh OUT_DIR IMAGE_SIZE "SEEDS" CONFIG [CONFIG ...]
#
#   # the fast levers cost no accuracy (256 px, the demo's set, two seeds)
#   PARALLEL=4 bash .dev_scripts/phantom_compare.sh work_dirs/fast_check 256 "0 1" \
#       configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py \
#       configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py
#   # small anchors at the real geometry (1024 px)
#   PARALLEL=2 WORKERS=3 bash .dev_scripts/phantom_compare.sh work_dirs/anchors_1024 1024 0 \
#       configs/tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024.py \
#       configs/tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024_small-anchors.py
#
# The data set is the demo's mix (tools/misc/make_phantom.py --demo-mix, seed 0) at IMAGE_SIZE, written
# to DATA_ROOT (default data/phantom-IMAGE_SIZE) unless there. Each run trains in
# OUT_DIR/CONFIG_NAME-seedS with randomness.seed=S; OUT_DIR/AP50-seedS.md and FROC-seedS.md hold
# the tables. Env: PARALLEL (runs at a time, default 1; on a GPU all of them fit), WORKERS (data
# workers per run, default 1), NUM_TRAIN / NUM_TEST (500 / 80), EXTRA (more --cfg-options for
# every run), PYTHON, TIME_LIMIT_S (stop the trainings this many seconds after the start; runs
# not started by then are left out). The tables compare the runs of a seed at the last epoch all
# of them validated at (the schedule's end, unless the time limit stopped them).
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  echo "Usage: see the comment at the top of $0:"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0
fi
set -uo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
cd "$(dirname "$0")/.."
OUT_DIR=$1; IMAGE_SIZE=$2; SEEDS=$3; shift 3
CONFIGS=("$@")
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
PARALLEL=${PARALLEL:-1}
WORKERS=${WORKERS:-1}
DATA_ROOT=${DATA_ROOT:-data/phantom-$IMAGE_SIZE}
EXTRA=${EXTRA:-}
mkdir -p "$OUT_DIR"

if [ ! -f "$DATA_ROOT/annotation/test.json" ]; then
  "$PYTHON" tools/misc/make_phantom.py "$DATA_ROOT" --num-train "${NUM_TRAIN:-500}" \
    --num-test "${NUM_TEST:-80}" --image-size "$IMAGE_SIZE" --demo-mix || exit 1
fi

work_dir() { echo "$OUT_DIR/$(basename "${1%.py}")-seed$2"; }

failures=0
cut=0
pids=()
TIME_LIMIT_S=${TIME_LIMIT_S:-0}
deadline=$((SECONDS + TIME_LIMIT_S))
# With a time limit each training runs under `timeout` until the common deadline.
limited() {
  if [ "$TIME_LIMIT_S" -gt 0 ]; then timeout -k 10 "$((deadline - SECONDS))" "$@"; else "$@"; fi
}
for seed in $SEEDS; do
  for config in "${CONFIGS[@]}"; do
    if [ "$TIME_LIMIT_S" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then
      echo "time limit: $config seed $seed not started"
      continue
    fi
    dir=$(work_dir "$config" "$seed")
    mkdir -p "$dir"
    echo "train $config seed $seed -> $dir"
    # shellcheck disable=SC2086  (EXTRA is a list of options)
    limited "$PYTHON" tools/train.py "$config" --work-dir "$dir" --cfg-options randomness.seed="$seed" \
      train_dataloader.num_workers="$WORKERS" val_dataloader.num_workers="$WORKERS" \
      train_dataloader.dataset.data_root="$DATA_ROOT/" val_dataloader.dataset.data_root="$DATA_ROOT/" \
      test_dataloader.dataset.data_root="$DATA_ROOT/" $EXTRA > "$dir/train.out" 2>&1 &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
  done
done
for pid in "${pids[@]}"; do
  wait "$pid"
  case $? in
    0) ;;
    124|137) cut=$((cut + 1)) ;;  # stopped at TIME_LIMIT_S
    *) failures=$((failures + 1)) ;;
  esac
done
if [ "$cut" -gt 0 ]; then
  echo "$cut run(s) stopped at the time limit ($TIME_LIMIT_S s): the tables compare the last epoch all runs of a seed validated at"
fi

for seed in $SEEDS; do
  dirs=()
  for config in "${CONFIGS[@]}"; do dirs+=("$(work_dir "$config" "$seed")"); done
  for metric in AP50 FROC; do
    "$PYTHON" tools/analysis_tools/compare.py "${dirs[@]}" --metric "$metric" --val-at common \
      --out "$OUT_DIR/$metric-seed$seed.md" || failures=$((failures + 1))
  done
done
echo "failures: $failures; tables in $OUT_DIR"
exit $((failures > 0))
