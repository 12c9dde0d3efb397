"""The benchmark suites of this repository's configs, for
``tools/analysis_tools/benchmark.py --suite NAME``.

``gpu`` (:data:`GPU_SUITE`): baselines, one speed lever at a time on the main config, then the
fast configs, for the training step, end-to-end training from PNG files, inference and the data
loader, each against stock MMDetection. The lists name config files of this checkout, so they live
beside the tool; :mod:`tbmm.benchmark.suite` measures any list of :class:`SuiteRun`.
"""
from typing import List

from tbmm.benchmark import SuiteRun

MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'
FAST = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast.py'
FAST_BF16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'
FAST_FP16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'
FAST_BF16_COMPILE = ('configs/tb_retinanet/fast/'
                     'retinanet_r101_fpn_10e_chestxdet_fast_bf16_compile.py')
FAST_FP16_COMPILE = ('configs/tb_retinanet/fast/'
                     'retinanet_r101_fpn_10e_chestxdet_fast_fp16_compile.py')


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
# `bash .dev_scripts/gpu_checks.sh fp16` runs both checks in one 10-minute call.
GPU_COMPILE_FP16_SUITE: List[SuiteRun] = [run for run in GPU_COMPILE_SUITE
                                          if run.config == FAST_FP16_COMPILE]


SUITES = {'gpu': GPU_SUITE, 'gpu-compile': GPU_SUITE + GPU_COMPILE_SUITE,
          'compile': GPU_COMPILE_SUITE, 'compile-fp16': GPU_COMPILE_FP16_SUITE}
