#!/usr/bin/env bash
# The GPU checks of docs/benchmarks.md and docs/anchors.md, in parts that each fit a 10-minute
# window on one H100/H200 (the 2026-11-26 H200 runs' timings):
#
#   bash .dev_scripts/gpu_checks.sh pytest     # not timed yet: the GPU-only tests (marker cuda,
#                                       #   tests/gpu/): fp16 AMP steps, mmcv's CUDA focal loss,
#                                       #   the batched heads on CUDA; log and JUnit XML to OUT_DIR
#   bash .dev_scripts/gpu_checks.sh speed      # ~6 min: the benchmark suite and the training step's
#                                       #   breakdown
#   bash .dev_scripts/gpu_checks.sh compile    # ~6 min: the torch.compile rows (fp16 first), appended
#                                       #   to the suite's records
#   bash .dev_scripts/gpu_checks.sh accuracy   # ~6 min: small vs default anchors at 1024 px, seeds 0
#                                       #   and 1, the full 12 epochs, side by side
#   bash .dev_scripts/gpu_checks.sh precision  # ~8 min: phantom AP50 of float32, bf16 and fp16 training
#                                       #   (the fast levers), seeds 0-2 (SEEDS=...)
#   bash .dev_scripts/gpu_checks.sh fp16       # <10 min: what issue #5's end-to-end target is decided
#                                       #   on: phantom AP50 of float32 vs fp16 (seeds 0-2), then
#                                       #   the fp16 torch.compile rows (end to end, model step)
#
# Each fits one 15-minute GPU lease with one machine start. The fast levers' accuracy check
# (256 px) ran on the 2-core CPU in ~35 min (docs/benchmarks.md); FAST_LEVERS=1 adds it here
# (the runs then share the GPU: longer).
#
# Results go to OUT_DIR (default $OUT, else work_dirs/gpu_checks). Needs a CUDA torch with
# mmcv 2.1.0's CUDA ops, mmdet 3.3.0 and this package on the path (pytest too for `pytest`); no
# internet. What to carry to an offline GPU machine: .dev_scripts/gpu_checks.md.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  echo "Usage: see the comment at the top of $0:"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0
fi
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT_DIR=${OUT_DIR:-${OUT:-work_dirs/gpu_checks}}
mkdir -p "$OUT_DIR"
export PYTHON OUT_DIR

# The end-to-end rows' data set (as .dev_scripts/gpu_benchmark.sh's): 96 phantom PNGs at 1024², made once
# (BENCHMARK_DATA; DATA_ROOT is the phantom comparisons' data set).
benchmark_data() {
  local data=${BENCHMARK_DATA:-work_dirs/gpu_benchmark_phantom}
  if [ ! -f "$data/annotation/train.json" ]; then
    "$PYTHON" tools/misc/make_phantom.py "$data" --num-train 96 --num-test 0 --image-size 1024 \
      > /dev/null || return 1
  fi
  echo "$data"
}

case "${1:-}" in
  pytest)
    # CI=true: a GPU test that skips (no CUDA device, mmcv without CUDA ops) fails the run instead
    # of passing unnoticed, and without a device they are deselected: "no tests ran", exit 5.
    # Only the folder of the GPU tests (CUDA_TESTS): collecting the whole suite would import the
    # test modules of extras (onnx, pydicom, ...) the GPU machine may not have.
    CI=true "$PYTHON" -m pytest -m cuda -p no:cacheprovider -rA ${CUDA_TESTS:-tests/gpu} \
      --junitxml "$OUT_DIR/pytest_cuda.xml" 2>&1 | tee "$OUT_DIR/pytest_cuda.log"
    status=${PIPESTATUS[0]}
    echo "pytest -m cuda: exit $status" | tee -a "$OUT_DIR/pytest_cuda.log"
    exit "$status"
    ;;
  speed)
    # 2026-11-26 on the H200: suite ~290 s, breakdown ~40 s.
    bash .dev_scripts/gpu_benchmark.sh
    "$PYTHON" tools/analysis_tools/benchmark.py configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py \
      --breakdown --task train --device cuda --batch-size 16 --iters 10 --warmup 3 \
      --profile "$OUT_DIR/train_step_profile.txt" 2>&1 | tee "$OUT_DIR/train_step_breakdown.log"
    ;;
  compile)
    # torch.compile (about a minute of compiling in each run's warm-up; 2026-11-26 on the H200
    # ~190 s for three bf16 rows): end to end and model step in fp16, then bf16's three rows.
    # Appended to the suite's records, and the table rewritten with them.
    data=$(benchmark_data) || exit 1
    "$PYTHON" tools/analysis_tools/benchmark.py --suite compile --device cuda --iters 15 --warmup 5 \
      --data "$data/annotation/train.json,$data/train_data" \
      --json "$OUT_DIR/gpu_benchmark.jsonl" --markdown "$OUT_DIR/gpu_benchmark.md" \
      2>&1 | tee "$OUT_DIR/compile.log"
    ;;
  accuracy)
    # Six runs side by side went at ~0.21 s/iteration each on the H200 (1,500 iterations a run).
    export OMP_NUM_THREADS=2 EXTRA="default_hooks.checkpoint.interval=3"
    if [ "${FAST_LEVERS:-0}" = 1 ]; then
      PARALLEL=4 WORKERS=2 bash .dev_scripts/phantom_compare.sh "$OUT_DIR/fast_levers" 256 "0 1" \
        configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py \
        configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py \
        > "$OUT_DIR/fast_levers.log" 2>&1 &
    fi
    PARALLEL=4 WORKERS=3 bash .dev_scripts/phantom_compare.sh "$OUT_DIR/anchors_1024" 1024 "0 1" \
      configs/tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024.py \
      configs/tb_retinanet/anchors/retinanet_r18_fpn_phantom-1024_small-anchors.py \
      > "$OUT_DIR/anchors_1024.log" 2>&1 &
    wait
    cat "$OUT_DIR"/*/AP50-seed*.md
    ;;
  precision)
    # bf16 cost ~0.03 mAP50 against float32 on the phantom (CPU, 4 seeds); is fp16 free of it?
    # Nine 256-px phantom trainings side by side (estimated ~8 min from the six-run timing).
    export OMP_NUM_THREADS=1 EXTRA="default_hooks.checkpoint.interval=3"
    PARALLEL=9 WORKERS=1 bash .dev_scripts/phantom_compare.sh "$OUT_DIR/precision" 256 "${SEEDS:-0 1 2}" \
      configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py \
      configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py \
      configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_fp16.py \
      > "$OUT_DIR/precision.log" 2>&1
    cat "$OUT_DIR"/precision/AP50-seed*.md
    ;;
  fp16)
    # The two questions left, in one call: does fp16 training keep the float32 phantom AP50 on a
    # GPU, and is the compiled fp16 config >= 1.5x stock fp16 end to end? The trainings stop at
    # PRECISION_LIMIT_S (their last validation is then compared), so the second part has its time.
    export OMP_NUM_THREADS=2 EXTRA="default_hooks.checkpoint.interval=3"
    PARALLEL=6 WORKERS=1 TIME_LIMIT_S=${PRECISION_LIMIT_S:-330} \
      bash .dev_scripts/phantom_compare.sh "$OUT_DIR/precision_fp16" 256 "${SEEDS:-0 1 2}" \
      configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py \
      configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_fp16.py \
      > "$OUT_DIR/precision_fp16.log" 2>&1
    echo "precision part: exit $?"
    cat "$OUT_DIR"/precision_fp16/AP50-seed*.md 2>/dev/null
    unset OMP_NUM_THREADS
    data=$(benchmark_data) || exit 1
    "$PYTHON" tools/analysis_tools/benchmark.py --suite compile-fp16 --device cuda --iters 15 --warmup 5 \
      --data "$data/annotation/train.json,$data/train_data" \
      --json "$OUT_DIR/gpu_benchmark_fp16.jsonl" --markdown "$OUT_DIR/gpu_benchmark_fp16.md" \
      2>&1 | tee "$OUT_DIR/compile_fp16.log"
    # Last and short: tools/infer.py with the fp16 fast config on CUDA (its mixed-precision
    # inference, test_cfg.fp16, has not run on a GPU before), random R-101 weights, 10 PNGs.
    timeout -k 5 60 "$PYTHON" - "$OUT_DIR/r101_random.pth" <<'PY' && \
      timeout -k 5 60 "$PYTHON" tools/infer.py \
        configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py \
        "$OUT_DIR/r101_random.pth" "$data/train_data/0000*.png" --out-dir "$OUT_DIR/infer_fp16" \
        --device cuda --batch-size 8 --no-progress 2>&1 | tail -4 | tee "$OUT_DIR/infer_fp16.log"
import sys, torch, tbmm.plugin  # noqa
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope
from tbmm.apis.runner import load_config
cfg = load_config('configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py')
cfg.model.backbone.init_cfg = None
init_default_scope('mmdet')
model = MODELS.build(cfg.model)
model.init_weights()
classes = tuple(cfg.train_dataloader.dataset.metainfo.classes)
torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': classes}}},
           sys.argv[1])
PY
    ;;
  *)
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 2
    ;;
esac
