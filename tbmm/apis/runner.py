"""Config preparation and runs behind ``tools/train.py`` and ``tools/test.py``.

MMEngine's Runner does the work (training loop, checkpoints, distributed runs, evaluation hooks);
these functions only turn command-line choices into config changes, as MMDetection's tools do.
"""
import contextlib
import json
import logging
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.runner import Runner

from tbmm.apis.config import CONFIG_SUFFIXES, RunConfigError, config_classes, load_config  # noqa: F401

AMP_DTYPES = ('float16', 'bfloat16')
def _runner_device():
    # The device MMEngine's Runner puts the model on (and its loops autocast on).
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def _apply_inference_amp(cfg, amp=None):
    from mmengine.logging import print_log

    from tbmm.apis.precision import apply_inference_amp
    notice = apply_inference_amp(cfg, _runner_device(), amp)
    if notice:
        print_log(f'validation/testing: {notice}', logger='current', level=logging.WARNING)


def _check_class_count(cfg, config):
    """The head predicts as many classes as the data sets name, or a one-line error.

    A head with fewer outputs than the data set's classes would silently train the extra classes'
    boxes as background (label ``num_classes`` is mmdet's background), e.g. a 10-class metainfo
    set by ``--cfg-options`` without ``model.bbox_head.num_classes``.
    """
    num_classes = ((cfg.get('model') or {}).get('bbox_head') or {}).get('num_classes')
    if num_classes is None:
        return
    for dataloader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        classes = config_classes(cfg, dataloader) if cfg.get(dataloader) else None
        if classes is not None and len(classes) != num_classes:
            raise RunConfigError(
                f'{config}: {dataloader} names {len(classes)} classes but '
                f'model.bbox_head.num_classes is {num_classes}; set them to agree, e.g. '
                f'--cfg-options model.bbox_head.num_classes={len(classes)}')


def _set_work_dir(cfg, config, work_dir):
    # Priority as in MMDetection: CLI > config > ./work_dirs/<config name>.
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


#: ``--vis`` names: MMEngine's visualization backend type and the package it needs (module, extra).
VIS_BACKENDS = {'tensorboard': ('TensorboardVisBackend', 'tensorboard', 'tensorboard')}


def add_vis_backends(cfg, names):
    """Add MMEngine visualization backends (``'tensorboard'``) to ``cfg.visualizer``, in place.

    The config's own backends (``LocalVisBackend``: ``vis_data/scalars.json``) stay; a backend
    the config already has is not added twice. Everything the logger writes (losses, LR, every
    validation metric, per class too: ``chestxdet/AP50/<class>``, ``chestxdet/FROC/<class>``) then
    also goes to the new backend, into ``WORK_DIR/<timestamp>/vis_data/``. A backend whose package
    is missing is a :class:`~tbmm.utils.MissingExtraError` now, not after the first epoch.
    """
    import importlib.util

    from tbmm.errors import MissingExtraError
    if cfg.get('visualizer') is None:
        raise RunConfigError('the config has no visualizer to add a visualization backend to')
    backends = list(cfg.visualizer.get('vis_backends') or [])
    for name in names:
        if name not in VIS_BACKENDS:
            raise RunConfigError(f'unknown visualization backend {name!r} (known: '
                                 f'{", ".join(VIS_BACKENDS)})')
        backend_type, module, extra = VIS_BACKENDS[name]
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(f'--vis {name} needs the {module} package, which is not '
                                    f"installed: pip install {module} (or 'tbmm[{extra}]')")
        if not any(str(b.get('type', '')).split('.')[-1] == backend_type for b in backends):
            backends.append(dict(type=backend_type))
    cfg.visualizer.vis_backends = backends
    return cfg


def prepare_train_config(config, work_dir=None, cfg_options=None, amp=False, amp_dtype='float16',
                         auto_scale_lr=None, resume=None, load_from=None, launcher='none',
                         vis=()):
    """Return the training config with the CLI's choices applied.

    Args:
        amp: train with automatic mixed precision (``AmpOptimWrapper``, dynamic loss scale).
        amp_dtype: ``'float16'`` or ``'bfloat16'``.
        auto_scale_lr: ``True``/``False`` forces scaling the LR by total batch size on/off;
            ``None`` keeps the config's setting.
        resume: ``'auto'`` resumes from the latest checkpoint in the work dir, a path resumes
            from that checkpoint, ``None`` starts fresh.
        vis: extra visualization backends by name, e.g. ``('tensorboard',)``
            (:func:`add_vis_backends`).
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    _set_work_dir(cfg, config, work_dir)
    if amp:
        if amp_dtype not in AMP_DTYPES:
            raise RunConfigError(f'amp dtype must be one of {AMP_DTYPES}, got {amp_dtype!r}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
        cfg.optim_wrapper.dtype = amp_dtype
    if auto_scale_lr is not None:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RunConfigError(
                f'{config}: auto_scale_lr.base_batch_size is not set, cannot scale the LR')
        cfg.auto_scale_lr.enable = bool(auto_scale_lr)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
        from mmengine.runner import find_latest_checkpoint
        if find_latest_checkpoint(cfg.work_dir) is None:
            # MMEngine says "Auto resumed from the latest checkpoint None." and starts afresh.
            from mmengine.logging import print_log
            print_log(f'--resume: no checkpoint in {cfg.work_dir} yet, so training starts from '
                      f'scratch', logger='current', level=logging.WARNING)
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'checkpoint to resume from not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume
    if load_from is not None:
        if not osp.isfile(load_from):
            raise FileNotFoundError(f'checkpoint to load not found: {load_from}')
        cfg.load_from = load_from
    if vis:
        add_vis_backends(cfg, vis)
    _check_class_count(cfg, config)
    _check_training_precision(cfg, config)
    _apply_inference_amp(cfg)
    return cfg


def _check_training_precision(cfg, config):
    """Mixed-precision training that can run on this machine, or a one-line error.

    MMEngine's ``AmpOptimWrapper`` asserts a GPU. On the CPU, bfloat16 needs no loss scale and
    trains with ``BF16AutocastOptimWrapper`` instead; float16 has no CPU kernels worth the name
    (a float16 convolution is ~90x slower than float32 here), so it is refused.
    """
    from mmengine.logging import print_log

    from tbmm.apis.precision import AMP_OPTIM_WRAPPERS, training_amp
    if _runner_device() != 'cpu':
        return
    wrapper = cfg.optim_wrapper
    if wrapper.get('type') in AMP_OPTIM_WRAPPERS:
        if training_amp(cfg) == 'fp16':
            raise RunConfigError(
                f'{config}: float16 mixed precision (AmpOptimWrapper) trains on CUDA only; on '
                f'the CPU use --amp --amp-dtype bfloat16 (fast on CPUs with AMX or AVX512-BF16) '
                f'or no --amp')
        for key in ('dtype', 'loss_scale'):
            wrapper.pop(key, None)
        wrapper.type = 'BF16AutocastOptimWrapper'
        print_log('training: AmpOptimWrapper needs a GPU; bfloat16 autocast on the CPU with '
                  'BF16AutocastOptimWrapper (no loss scale needed)', logger='current')
    if wrapper.get('type') == 'BF16AutocastOptimWrapper':
        from tbmm.engine.optimizers import bf16_autocast
        if not bf16_autocast.cpu_has_fast_bf16():
            print_log('training: this CPU has no bfloat16 hardware (AMX or AVX512-BF16), so '
                      'bfloat16 autocast is slower than float32 here', logger='current',
                      level=logging.WARNING)


def prepare_test_config(config, checkpoint, work_dir=None, cfg_options=None, out=None,
                        show_dir=None, metrics_prefix=None, tta=False, launcher='none', amp=None):
    """Return the test config: load ``checkpoint``, optionally dump raw results and draw overlays.

    Args:
        checkpoint: a checkpoint path, or several of the same config (a fold ensemble): their
            detections are fused per image with weighted boxes fusion, class by class
            (:func:`tbmm.apis.ensemble.apply_ensemble_config`); one path in a list is the same
            as the path alone.
        out: path of a ``.pkl`` with MMDetection's raw results (``DumpDetResults``).
        show_dir: folder (under the work dir's timestamp folder) for prediction overlays.
        metrics_prefix: the evaluator writes ``{prefix}.metrics.json`` (per class), ``.froc.png``
            and ``.predictions.json``; default ``WORK_DIR/test``.
        tta: test with horizontal-flip test-time augmentation merged by weighted boxes fusion
            (the config's ``tta_model``/``tta_pipeline`` when it has them), see
            :func:`tbmm.apis.inference.apply_tta_config`.
        amp: test under mixed precision (float16 on CUDA, bfloat16 on CPUs with bfloat16
            hardware) or not; None: as the config's ``test_cfg.fp16`` says
            (:mod:`tbmm.apis.precision`).
    """
    cfg = load_config(config, cfg_options)
    checkpoints = ([os.fspath(checkpoint)] if isinstance(checkpoint, (str, os.PathLike))
                   else [os.fspath(c) for c in checkpoint])
    if not checkpoints:
        raise RunConfigError('no checkpoint given')
    for path in checkpoints:
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint not found: {path}')
    _check_class_count(cfg, config)
    cfg.launcher = launcher
    _set_work_dir(cfg, config, work_dir)
    if len(checkpoints) > 1:
        # The ensemble loads and checks its checkpoints itself when the Runner builds it.
        from tbmm.apis.ensemble import apply_ensemble_config  # registers WBFEnsembleModel
        apply_ensemble_config(cfg, checkpoints, tta=tta)
    else:
        cfg.load_from = checkpoints[0]
        # Every tested weight must come from the checkpoint (MMEngine loads non-strictly).
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='CheckpointFitsModelHook')]
        if tta:
            from tbmm.apis.inference import apply_tta_config
            apply_tta_config(cfg)
    evaluators = (cfg.test_evaluator if isinstance(cfg.test_evaluator, list)
                  else [cfg.test_evaluator])
    for evaluator in evaluators:
        if evaluator.get('type') == 'ChestXDetMetric':
            evaluator.outfile_prefix = metrics_prefix or osp.join(cfg.work_dir, 'test')
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise RunConfigError(f'--out must be a .pkl file, got {out}')
        evaluators = list(evaluators) + [dict(type='DumpDetResults', out_file_path=out)]
    cfg.test_evaluator = evaluators
    if show_dir is not None:
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.test_out_dir = show_dir
    _apply_inference_amp(cfg, amp)
    return cfg


@contextlib.contextmanager
def _cpu_distributed(cfg):
    """Make ``--launcher pytorch`` work without CUDA (torchrun with the gloo backend on CPUs).

    MMEngine 0.10.7 starts the process group with ``torch.cuda.set_device``, which a CPU-only torch
    lacks, and wraps the model in DDP with ``device_ids``, which CPU modules refuse. The group is
    started here instead (the Runner then skips its own start), the model is wrapped without
    device ids, and the group is closed at the end: gloo aborts the process at exit otherwise
    ("terminate called without an active exception").
    """
    import torch
    import torch.distributed as dist
    started = False
    if cfg.get('launcher', 'none') != 'none' and not torch.cuda.is_available():
        if not dist.is_initialized():
            backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
            dist.init_process_group(backend='gloo' if backend == 'nccl' else backend)
            started = True
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    try:
        yield
    finally:
        if started:
            # A rank that closes its connections while its peer is still finishing can make
            # gloo abort the peer (SIGABRT); leave together.
            try:
                dist.barrier()
            finally:
                dist.destroy_process_group()


def build_runner(cfg):
    """The config's runner: its registered ``runner_type`` if it names one, else MMEngine's."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_train(cfg):
    """Train with MMEngine's Runner; returns the runner (its work_dir holds logs and
    checkpoints)."""
    os.makedirs(cfg.work_dir, exist_ok=True)
    with _cpu_distributed(cfg):
        runner = build_runner(cfg)
        runner.train()
    return runner


def run_test(cfg):
    """Evaluate ``cfg.load_from`` on the test set.

    Returns ``(metrics, result)``: MMEngine's flat metrics dict, and the structured per-class result
    written by ``ChestXDetMetric`` (``None`` when the config evaluates with another metric).
    """
    with _cpu_distributed(cfg):
        runner = build_runner(cfg)
        metrics = runner.test()
        main_process = is_main_process()  # asked before the process group is closed
    result = None
    if not main_process:  # only rank 0 evaluates and writes the JSON
        return metrics, result
    evaluators = (cfg.test_evaluator if isinstance(cfg.test_evaluator, list)
                  else [cfg.test_evaluator])
    for evaluator in evaluators:
        prefix = evaluator.get('outfile_prefix')
        if (evaluator.get('type') == 'ChestXDetMetric' and prefix
                and osp.isfile(prefix + '.metrics.json')):
            with open(prefix + '.metrics.json') as f:
                result = json.load(f)
    return metrics, result


def test_ensemble(config, checkpoints, work_dir=None, cfg_options=None, tta=False,
                  metrics_prefix=None, amp=None):
    """Evaluate the fused detections of ``checkpoints`` on ``config``'s test set, as
    ``tools/test.py CONFIG CKPT1 CKPT2 ...`` does; returns ``(metrics, result)`` of
    :func:`run_test` (``WORK_DIR/test.metrics.json`` etc. written)."""
    cfg = prepare_test_config(config, checkpoints, work_dir=work_dir, cfg_options=cfg_options,
                              metrics_prefix=metrics_prefix, tta=tta, amp=amp)
    return run_test(cfg)


test_ensemble.__test__ = False  # not a pytest test, whatever imports it
