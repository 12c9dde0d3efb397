#!/usr/bin/env bash
# The GPU suite (tools/analysis_tools/benchmark_suites.py: every mode and speed lever, each against stock
# MMDetection's retinanet_r101_fpn_1x_coco.py with 9 classes at 1024x1024, random init) in one
# process, and its table with the machine's description for docs/benchmarks.md.
# About 5 minutes on one H200 (2026-11-26). Writes $OUT_DIR/gpu_benchmark.jsonl (one record per
# run, appended as measured), gpu_benchmark.log and gpu_benchmark.md.
#
#   bash .dev_scripts/gpu_benchmark.sh                 # OUT_DIR defaults to $OUT, else work_dirs/gpu_benchmark
#   ITERS=20 WARMUP=5 SUITE=gpu-compile bash .dev_scripts/gpu_benchmark.sh   # with torch.compile (minutes more)
#
# Needs: a CUDA torch with mmcv 2.1.0's CUDA ops, mmdet 3.3.0 and this package (pip install -e .).
# No internet: weights are random, the disk runs read phantom PNGs written here.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  echo "Usage: see the comment at the top of $0:"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0
fi
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT_DIR=${OUT_DIR:-${OUT:-work_dirs/gpu_benchmark}}
ITERS=${ITERS:-15}
WARMUP=${WARMUP:-5}
SUITE=${SUITE:-gpu}
DATA_ROOT=${DATA_ROOT:-work_dirs/gpu_benchmark_phantom}
mkdir -p "$OUT_DIR"
JSON="$OUT_DIR/gpu_benchmark.jsonl"
: > "$JSON"

# 1024x1024 phantom PNGs for the end-to-end and data-loader runs (page-cached after the first read).
if [ ! -f "$DATA_ROOT/annotation/train.json" ]; then
  "$PYTHON" tools/misc/make_phantom.py "$DATA_ROOT" --num-train 96 --num-test 0 --image-size 1024 \
    > /dev/null || exit 1
fi

"$PYTHON" tools/analysis_tools/benchmark.py --suite "$SUITE" --device cuda --iters "$ITERS" --warmup "$WARMUP" \
  --data "$DATA_ROOT/annotation/train.json,$DATA_ROOT/train_data" --json "$JSON" \
  2>&1 | tee "$OUT_DIR/gpu_benchmark.log"
status=${PIPESTATUS[0]}

"$PYTHON" - "$JSON" "$OUT_DIR/gpu_benchmark.md" <<'PY'
import datetime, os, platform, sys
import torch, mmcv, mmdet, mmengine
from tbmm.benchmark import markdown_table
jsonl, md = sys.argv[1:3]
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
head = (f"GPU benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: {gpu}, "
        f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
        f"mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmengine {mmengine.__version__}, "
        f"CPU {cpu}, nproc {os.cpu_count()}\n\n")
open(md, 'w').write(head + markdown_table(jsonl))
print(head + markdown_table(jsonl))
PY
echo "results in $OUT_DIR"
exit "$status"
