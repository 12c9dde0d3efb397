#!/usr/bin/env bash
# Every benchmark mode and speed lever on one GPU, each compared with stock MMDetection
# (retinanet_r101_fpn_1x_coco.py, 9 classes, 1024x1024, random init) in the same process.
# About 6-8 minutes on one H100. Writes $OUT_DIR/gpu_benchmark.jsonl (one record per run) and
# $OUT_DIR/gpu_benchmark.md (table + environment) for docs/benchmarks.md; each run's output is in
# $OUT_DIR/runs/LABEL.log ("+" in labels written "_").
#
#   bash tools/gpu_benchmark.sh                 # OUT_DIR defaults to $OUT, else work_dirs/gpu_benchmark
#   ITERS=20 WARMUP=5 COMPILE=1 bash tools/gpu_benchmark.sh
#   DEVICE=cpu IMAGE_SIZE=128 ITERS=1 WARMUP=1 bash tools/gpu_benchmark.sh   # plumbing check only
#                                                        (the fp16 runs fail on the CPU by design)
#
# Needs: a CUDA torch with mmcv 2.1.0's CUDA ops, mmdet 3.3.0 and this package (pip install -e .).
# No internet: weights are random, data is a phantom set written here (tools/make_phantom.py).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT_DIR=${OUT_DIR:-${OUT:-work_dirs/gpu_benchmark}}
ITERS=${ITERS:-15}
WARMUP=${WARMUP:-5}
WORKERS=${WORKERS:-8}
DEVICE=${DEVICE:-cuda}
IMAGE_SIZE=${IMAGE_SIZE:-1024}
DATA_ROOT=${DATA_ROOT:-work_dirs/gpu_benchmark_phantom}
mkdir -p "$OUT_DIR/runs"
JSON="$OUT_DIR/gpu_benchmark.jsonl"
LOG="$OUT_DIR/gpu_benchmark.log"
: > "$JSON"
: > "$LOG"

MAIN=configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py
FAST=configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast.py
AMP=configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_amp.py
FP16=configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_amp-fp16.py
COMPILED=configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_amp_compile.py

# 1024x1024 phantom PNGs for the end-to-end and data-loader runs (page-cached after the first read).
if [ ! -f "$DATA_ROOT/annotation/train.json" ]; then
  "$PYTHON" tools/make_phantom.py "$DATA_ROOT" --num-train 64 --num-test 0 --image-size 1024 \
    >> "$LOG" 2>&1
fi
DISK="$DATA_ROOT/annotation/train.json,$DATA_ROOT/train_data"

failures=0
bench() {  # bench LABEL CONFIG ARGS...: one run with --compare-stock, logged, failures counted
  local label=$1; shift
  local run_log="$OUT_DIR/runs/${label//+/_}.log"  # no "+" in file names
  echo "== $label" | tee -a "$LOG"
  # The run's own arguments come last, so they override the defaults (e.g. a longer --warmup).
  if "$PYTHON" tools/benchmark.py --device "$DEVICE" --image-size "$IMAGE_SIZE" --iters "$ITERS" \
      --warmup "$WARMUP" --compare-stock --json "$JSON" --label "$label" "$@" > "$run_log" 2>&1; then
    grep -E '^(ratio|mmdet-stock: failed)' "$run_log" | tee -a "$LOG"
  else
    echo "   FAILED (see $run_log)" | tee -a "$LOG"; tail -3 "$run_log" >> "$LOG"
    failures=$((failures + 1))
  fi
}

# Training step on synthetic batches (model only). Baselines, then one lever at a time on the
# main config under fp16 (stock fp16 is the reference), then the fast family.
bench train-main-fp32            $MAIN --task train --amp none --stock-amp none
bench train-main-fp16            $MAIN --task train --amp fp16 --stock-amp fp16
bench train-main-fp16+channels_last $MAIN --task train --amp fp16 --stock-amp fp16 --cfg-options model.type=FastRetinaNet
bench train-main-fp16+cudnn_benchmark $MAIN --task train --amp fp16 --stock-amp fp16 --cfg-options env_cfg.cudnn_benchmark=True
bench train-main-fp16+fused_sgd  $MAIN --task train --amp fp16 --stock-amp fp16 --cfg-options optim_wrapper.optimizer.fused=True
bench train-main-fp16+batch4     $MAIN --task train --amp fp16 --stock-amp fp16 --cfg-options train_dataloader.batch_size=4
bench train-main-bf16+f32_focal  $MAIN --task train --amp bf16 --stock-amp fp16 --cfg-options model.bbox_head.loss_cls.type=Float32FocalLoss
bench train-stock-bf16-check     $MAIN --task train --amp fp16 --stock-amp bf16
bench train-fast-fp32            $FAST --task train --stock-amp fp16
bench train-fast_amp-fp16        $FP16 --task train --stock-amp fp16
bench train-fast_amp-bf16        $AMP  --task train --stock-amp fp16

# End to end from PNG files (decode, resize, flip, collate, copy, step).
bench e2e-main-fp16              $MAIN --task train --data "$DISK" --amp fp16 --stock-amp fp16
bench e2e-fast_amp-fp16          $FP16 --task train --data "$DISK" --num-workers "$WORKERS" --stock-amp fp16
bench e2e-fast_amp-bf16          $AMP  --task train --data "$DISK" --num-workers "$WORKERS" --stock-amp fp16

# Inference: throughput at the configs' test batch (stock: 1) and latency at batch 1.
bench infer-main-fp16            $MAIN --task infer --amp fp16 --stock-amp fp16
bench infer-fast_amp-fp16        $FP16 --task infer --stock-amp fp16
bench infer-fast_amp-bf16        $AMP  --task infer --stock-amp fp16
bench infer-fast_amp-bf16-batch1 $AMP  --task infer --batch-size 1 --stock-amp fp16

# Data loader alone: gray decode vs stock's 3-channel pipeline; compare with e2e img/s above
# (target: >= 2x what training consumes).
bench data-fast-gray             $FAST --task data --data "$DISK" --num-workers "$WORKERS"
bench data-main-3ch              $MAIN --task data --data "$DISK" --num-workers "$WORKERS"

if [ "${COMPILE:-0}" = 1 ]; then  # compiling takes minutes: opt-in
  bench train-fast_amp_compile   $COMPILED --task train --stock-amp fp16 --warmup 10
  bench infer-fast_amp_compile   $COMPILED --task infer --stock-amp fp16 --warmup 10
fi

"$PYTHON" - "$JSON" "$OUT_DIR/gpu_benchmark.md" <<'PY'
import datetime, os, platform, subprocess, sys
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
echo "failures: $failures; results in $OUT_DIR"
exit $((failures > 0))
