"""A list of benchmark runs measured in one process, each against stock MMDetection.

``tools/benchmark.py --suite gpu`` runs :data:`GPU_SUITE`: baselines, one speed lever at a time on
the main config, then the fast configs, for the training step, end-to-end training from PNG files,
inference and the data loader. One process saves the imports and start-up of each run (the GPU
machine is lent by the minute); every run still builds its own model and stock's, and a run that
fails is recorded and the suite goes on. Each record is appended to the JSON-lines file as soon as
it is measured, so a suite cut short keeps what it measured.
"""
import json
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

from tbmm.benchmark import (BenchmarkResult, BenchmarkSettings, format_result, run_benchmark,
                            run_comparison)
from tbmm.utils import ensure_parent_dir

MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'
FAST = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast.py'
FAST_BF16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'
FAST_FP16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'
FAST_BF16_COMPILE = ('configs/tb_retinanet/fast/'
                     'retinanet_r101_fpn_10e_chestxdet_fast_bf16_compile.py')
FAST_FP16_COMPILE = ('configs/tb_retinanet/fast/'
                     'retinanet_r101_fpn_10e_chestxdet_fast_fp16_compile.py')


@dataclass
class SuiteRun:
    """One run: ``config`` under these settings, compared with stock under the same ones.

    ``batch_size`` and ``num_workers`` apply to both sides (None: each config's own);
    ``stock_amp`` is stock's autocast (None: the same as ours); ``disk`` reads the suite's PNG data
    set instead of a synthetic batch.
    """
    label: str
    config: str
    task: str
    amp: Optional[str] = None
    stock_amp: Optional[str] = None
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    disk: bool = False
    cfg_options: Dict = field(default_factory=dict)
    compare_stock: bool = True
    warmup: Optional[int] = None  # None: the suite's


_LEVER_BATCH = 8  # the reference figures' batch
_BEST_BATCH = 16
_WORKERS = 12  # of the GPU machine's 16 cores

GPU_SUITE: List[SuiteRun] = [
    # The headline runs first (a suite cut short keeps them): the fast bf16 config end to end from
    # PNG files on disk (decode, resize, flip, collate, copy, step), in inference, and the data
    # loader alone (gray decode vs stock's 3-channel pipeline), each against stock fp16.
    SuiteRun('e2e-fast_bf16', FAST_BF16, 'train', None, 'fp16', _BEST_BATCH, _WORKERS,
             disk=True),
    # (Inference rows name their autocast: the _fast_bf16 configs infer in fp16 on CUDA by default,
    # tbmm/apis/precision.py; these rows keep the bf16 that was measured on 2026-11-26.)
    SuiteRun('infer-fast_bf16', FAST_BF16, 'infer', 'bf16', 'fp16', _BEST_BATCH),
    SuiteRun('data-fast-gray', FAST, 'data', None, None, _BEST_BATCH, _WORKERS, disk=True),
    # The fast configs' model step on a fixed synthetic batch, and without channels_last (which
    # measured 0.93x as a single lever on the H200).
    SuiteRun('train-fast_bf16-batch16', FAST_BF16, 'train', None, 'fp16', _BEST_BATCH),
    SuiteRun('train-fast_bf16-batch16-nchw', FAST_BF16, 'train', None, 'fp16', _BEST_BATCH,
             cfg_options={'model.channels_last': False}),
    SuiteRun('e2e-fast_fp16', FAST_FP16, 'train', None, 'fp16', _BEST_BATCH, _WORKERS,
             disk=True),
    # One lever at a time on the main config under fp16 (stock fp16 is the reference; the
    # first row differs from stock only in the data set class and the multi-label head, whose
    # targets on the synthetic batch (no shared boxes) are mmdet's, so it shows the noise).
    SuiteRun('train-main-fp16', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH),
    SuiteRun('train-main-fp16+batched_targets', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'model.bbox_head.type': 'BatchedTargetsRetinaHead'}),
    SuiteRun('train-main-fp16+folded_bn', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'model.type': 'FastRetinaNet', 'model.channels_last': False,
                          'model.fold_frozen_bn': True}),
    SuiteRun('train-main-fp16+fused_sgd', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'optim_wrapper.optimizer.fused': True}),
    # Not a pure speed lever (BN's affine parameters stop training, as in detectron2's FrozenBN):
    # measured to see what BatchNorm's backward costs.
    SuiteRun('train-main-fp16+frozen_bn_affine', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'model.backbone.norm_cfg.requires_grad': False}),
    SuiteRun('infer-main-fp16+batched_head', MAIN, 'infer', 'fp16', 'fp16', _BEST_BATCH,
             cfg_options={'model.bbox_head.type': 'BatchedRetinaHead'}),
    SuiteRun('infer-fast_fp16', FAST_FP16, 'infer', None, 'fp16', _BEST_BATCH),
    SuiteRun('train-fast_bf16-batch32', FAST_BF16, 'train', None, 'fp16', 2 * _BEST_BATCH),
    # Pinned memory + non-blocking copy as a single lever, end to end (stock: pin_memory off).
    # Persistent workers only act at epoch boundaries, which the loader-fed runs no longer have.
    SuiteRun('e2e-fast_fp16-no_pin', FAST_FP16, 'train', None, 'fp16', _BEST_BATCH,
             _WORKERS, disk=True,
             cfg_options={'train_dataloader.pin_memory': False,
                          'model.data_preprocessor.non_blocking': False}),
    # Measured on the H200 on 2026-11-26 (docs/benchmarks.md); last, so a short run skips them.
    SuiteRun('train-main-fp32', MAIN, 'train', 'none', 'none', _LEVER_BATCH),
    SuiteRun('train-main-fp16+channels_last', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'model.type': 'FastRetinaNet'}),
    SuiteRun('train-main-fp16+cudnn_benchmark', MAIN, 'train', 'fp16', 'fp16', _LEVER_BATCH,
             cfg_options={'env_cfg.cudnn_benchmark': True}),
    SuiteRun('train-main-bf16+f32_focal', MAIN, 'train', 'bf16', 'fp16', _LEVER_BATCH,
             cfg_options={'model.bbox_head.type': 'Float32OutputRetinaHead',
                          'model.bbox_head.loss_cls.type': 'Float32FocalLoss'}),
    SuiteRun('train-fast-fp32', FAST, 'train', None, 'none', _LEVER_BATCH),
    SuiteRun('train-fast_fp16', FAST_FP16, 'train', None, 'fp16', _LEVER_BATCH),
    SuiteRun('train-fast_bf16', FAST_BF16, 'train', None, 'fp16', _LEVER_BATCH),
    SuiteRun('e2e-main-fp16', MAIN, 'train', 'fp16', 'fp16', _BEST_BATCH, _WORKERS, disk=True),
    SuiteRun('infer-main-fp16', MAIN, 'infer', 'fp16', 'fp16', _BEST_BATCH),
    SuiteRun('infer-fast_bf16-batch1', FAST_BF16, 'infer', 'bf16', 'fp16', 1),
]

# Compiling takes minutes of warm-up: opt in with --suite compile. float16 first: it kept the
# phantom accuracy in a CPU emulation (docs/benchmarks.md).
GPU_COMPILE_SUITE: List[SuiteRun] = [
    SuiteRun('e2e-fast_fp16_compile', FAST_FP16_COMPILE, 'train', None, 'fp16',
             _BEST_BATCH, _WORKERS, disk=True, warmup=10),
    SuiteRun('train-fast_fp16_compile', FAST_FP16_COMPILE, 'train', None, 'fp16',
             _BEST_BATCH, warmup=10),
    SuiteRun('train-fast_bf16_compile', FAST_BF16_COMPILE, 'train', None, 'fp16', _BEST_BATCH,
             warmup=10),
    SuiteRun('infer-fast_bf16_compile', FAST_BF16_COMPILE, 'infer', 'bf16', 'fp16', _BEST_BATCH,
             warmup=10),
    SuiteRun('e2e-fast_bf16_compile', FAST_BF16_COMPILE, 'train', None, 'fp16', _BEST_BATCH,
             _WORKERS, disk=True, warmup=10),
]

# The two rows issue #5's end-to-end target is decided on (with the float16 phantom accuracy):
# `bash tools/gpu_checks.sh fp16` runs both checks in one 10-minute call.
GPU_COMPILE_FP16_SUITE: List[SuiteRun] = [run for run in GPU_COMPILE_SUITE
                                          if run.config == FAST_FP16_COMPILE]

SUITES = {'gpu': GPU_SUITE, 'gpu-compile': GPU_SUITE + GPU_COMPILE_SUITE,
          'compile': GPU_COMPILE_SUITE, 'compile-fp16': GPU_COMPILE_FP16_SUITE}


def run_suite(runs, device, json_path, data=None, image_size=1024, iters=15, warmup=5,
              log=print):
    """Measure each of ``runs``; append one JSON record per run to ``json_path``.

    ``data`` is ``'ANN.json,IMG_DIR'`` for the runs that read from disk (they are skipped, with a
    record saying so, when it is None). Returns the records.
    """
    ensure_parent_dir(json_path)
    records = []
    for run in runs:
        started = time.perf_counter()
        record = dict(label=run.label, config=run.config, cfg_options=run.cfg_options or None)
        if run.disk and data is None:
            record['error'] = 'skipped: no data on disk given (--data ANN.json,IMG_DIR)'
        else:
            settings = BenchmarkSettings(
                task=run.task, device=device, data=data if run.disk else 'synthetic',
                batch_size=run.batch_size, amp=run.amp, image_size=image_size, iters=iters,
                warmup=warmup if run.warmup is None else run.warmup,
                num_workers=run.num_workers)
            try:
                record.update(_measure(run, settings))
            except Exception as error:  # noqa: BLE001  (recorded; the other runs go on)
                record['error'] = f'{type(error).__name__}: {error}'
                record['traceback'] = traceback.format_exc(limit=-4)
        record['seconds'] = round(time.perf_counter() - started, 1)
        with open(json_path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        log(_summary(record))
        records.append(record)
    return records


def failed_runs(records):
    """The records of runs that failed, ours or the stock side of a comparison (not those skipped
    for want of data on disk)."""
    return [r for r in records
            if ('error' in r and not r['error'].startswith('skipped:')) or r.get('stock_error')]


def _measure(run, settings):
    cfg_options = dict(run.cfg_options) if run.cfg_options else None
    if not run.compare_stock:
        return dict(ours=run_benchmark(run.config, settings, cfg_options).as_dict())
    ours, stock, ratio = run_comparison(run.config, settings, cfg_options,
                                        stock_amp=run.stock_amp)
    if ratio is None:
        return dict(ours=ours.as_dict(), stock_error=stock, ratio=None)
    return dict(ours=ours.as_dict(), stock=stock.as_dict(), ratio=ratio)


def _summary(record):
    head = f"== {record['label']} ({record['seconds']} s)"
    if 'error' in record:
        return f"{head}\n   FAILED: {record['error']}"
    lines = [head, '   ' + format_result(BenchmarkResult(**record['ours']))]
    if record.get('stock'):
        lines.append('   ' + format_result(BenchmarkResult(**record['stock'])))
        lines.append(f"   ratio (img/s vs stock): {record['ratio']:.2f}x")
    elif record.get('stock_error'):
        lines.append(f"   mmdet-stock: failed: {record['stock_error']}")
    return '\n'.join(lines)


def with_overrides(runs, **changes):
    """``runs`` with the same fields changed in each (e.g. a small batch for a CPU check)."""
    return [replace(run, **changes) for run in runs]
