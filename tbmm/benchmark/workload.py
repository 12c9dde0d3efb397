"""Timing one config: :class:`Workload` builds the timed step once (model step, end-to-end
step, inference or data fetch) and times its iterations with the peak memory; :func:`measure`,
:func:`run_benchmark` and :func:`run_comparison` (ours and stock in one process) drive it."""
import contextlib
import copy
import gc
import logging
import os
import os.path as osp
import resource
import statistics
import threading
import time

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import InstanceData

import tbmm.plugin  # noqa: F401  (data set, loader, models and optimizer wrapper of the configs)
from tbmm.apis.precision import training_amp
from tbmm.benchmark.configs import loader_channels, prepare_config, stock_config
from tbmm.benchmark.settings import BenchmarkResult, BenchmarkSettings, BenchmarkSettingsError
from tbmm.utils import logger_level

__all__ = ['synthetic_batch', 'Workload', 'build_model', 'measure', 'run_benchmark',
           'run_comparison', 'synchronize', 'time_ms', 'autocast_context']


_AUTOCAST_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
_SYNTHETIC_BOXES_PER_IMAGE = 3


class _PeakMemory:
    """Peak memory during a ``with`` block: CUDA tensors' high-water mark, or sampled CPU RSS."""

    def __init__(self, device):
        self.device = device
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self):
        if self.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._sample_rss, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.startswith('cuda'):
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, _current_rss_mb())

    @property
    def kind(self):
        return 'cuda_max_allocated' if self.device.startswith('cuda') else 'cpu_peak_rss'

    def _sample_rss(self):
        # getrusage's maximum covers the whole process (an earlier run's peak hides a later
        # run's), so the timed phase is sampled too.
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, _current_rss_mb())


def _current_rss_mb():
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError:  # not Linux: the lifetime maximum is the best there is
        return _process_max_rss_mb()


def _process_max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synchronize(device):
    """Wait for the work queued on a CUDA ``device`` (nothing to wait for on the CPU)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def time_ms(fn, device):
    """Milliseconds ``fn()`` takes, including the device work it queued."""
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1000


def autocast_context(device, amp):
    """Autocast to ``amp`` (``'fp16'`` / ``'bf16'``) on ``device``; a no-op for ``'none'``."""
    if amp == 'none':
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=_AUTOCAST_DTYPES[amp])


def synthetic_batch(batch_size, image_size, channels=3, num_classes=9, with_boxes=True, seed=0,
                    pin_memory=False):
    """A batch as the data loader gives it: uint8 images (C, S, S) and packed data samples."""
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        image = torch.randint(0, 256, (channels, image_size, image_size), dtype=torch.uint8,
                              generator=generator)
        inputs.append(image.pin_memory() if pin_memory else image)
        sample = DetDataSample(metainfo=dict(
            img_id=i, img_path=f'synthetic_{i}.png', ori_shape=(image_size, image_size),
            img_shape=(image_size, image_size), scale_factor=(1.0, 1.0), flip=False,
            flip_direction=None))
        if with_boxes:
            n = _SYNTHETIC_BOXES_PER_IMAGE
            corner = torch.rand(n, 2, generator=generator) * image_size * 0.8
            size = 16 + torch.rand(n, 2, generator=generator) * image_size * 0.15
            boxes = torch.cat([corner, (corner + size).clamp(max=image_size)], dim=1)
            sample.gt_instances = InstanceData(
                bboxes=HorizontalBoxes(boxes),
                labels=torch.randint(0, num_classes, (n, ), generator=generator))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _endless(loader_cfg):
    """``loader_cfg`` with mmengine's ``InfiniteSampler``: batches without epoch boundaries.

    At the end of an epoch the workers start over and the next batch waits for a whole batch to be
    decoded (~300 ms on the H200 machine); with a small benchmark set (96 images, 6 batches an
    epoch) that wait would be every sixth iteration, where a real epoch (ChestX-Det: ~190 batches
    of 16) has it once. Training's sustained rate is between the restarts.
    """
    loader_cfg = copy.deepcopy(loader_cfg)
    sampler = loader_cfg.get('sampler') or {}
    loader_cfg['sampler'] = dict(type='InfiniteSampler', shuffle=sampler.get('shuffle', True))
    return loader_cfg


class Workload:
    """One config's timed step (model step, end-to-end step, inference or data fetch), built
    once."""

    def __init__(self, cfg, settings: BenchmarkSettings, name):
        self.cfg, self.settings, self.name = cfg, settings, name
        self.device = device = settings.device
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        torch.manual_seed(settings.seed)
        self.amp = training_amp(cfg)  # prepare_config put the measured autocast there (infer too)
        if self.amp == 'fp16' and not device.startswith('cuda'):
            raise BenchmarkSettingsError('fp16 autocast is for CUDA; on the CPU use --amp bf16')
        self.cudnn_benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
        train_side = settings.task in ('train', 'data')
        loader_cfg = cfg.train_dataloader if train_side else cfg.test_dataloader
        self.batch_size = loader_cfg.batch_size
        self.synthetic = settings.data == 'synthetic'
        self.model = self.optim_wrapper = self.loader = None
        if self.synthetic:
            batch = synthetic_batch(
                self.batch_size, settings.image_size, loader_channels(cfg),
                num_classes=cfg.model.bbox_head.num_classes, with_boxes=settings.task == 'train',
                seed=settings.seed,
                pin_memory=device.startswith('cuda') and loader_cfg.get('pin_memory', False))
            self._next_batch = lambda: batch
        else:
            self.loader = Runner.build_dataloader(_endless(loader_cfg), seed=settings.seed)
            batches = iter(self.loader)
            self._next_batch = lambda: next(batches)
        if settings.task != 'data':
            self.model = build_model(cfg, device)
            if settings.task == 'train':
                self.model.train()
                self.optim_wrapper = build_optim_wrapper(self.model, cfg.optim_wrapper)
            else:
                self.model.eval()
        self.times, self.peak_mb, self.memory_kind = [], 0.0, None

    def step(self):
        # cudnn.benchmark is process-wide: set it for whichever workload runs now.
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if self.settings.task == 'data':
            self._next_batch()
        elif self.settings.task == 'train':
            self.model.train_step(self._next_batch(), self.optim_wrapper)
        else:
            with torch.no_grad(), autocast_context(self.device, self.amp):
                self.model.test_step(self._next_batch())

    @property
    def warmup_iters(self):
        # A data loader's workers fill a queue of num_workers x prefetch_factor batches ahead;
        # batches timed out of that queue measure nothing. Drain it first, so every timed batch
        # waits for the workers when they are the bottleneck.
        if self.loader is None or not self.loader.num_workers:
            return self.settings.warmup
        queued = self.loader.num_workers * (self.loader.prefetch_factor or 2)
        return max(self.settings.warmup, queued + 1)

    def warm_up(self):
        for _ in range(self.warmup_iters):
            self.step()
        synchronize(self.device)

    def timed_step(self):
        with _PeakMemory(self.device) as memory:
            self.times.append(time_ms(self.step, self.device))
        self.peak_mb = max(self.peak_mb, memory.peak_mb)
        self.memory_kind = memory.kind

    def result(self):
        # Fed by a data loader, iteration times alternate between fast (batch ready) and slow
        # (waiting for a worker): the mean is the sustained rate. A fixed batch: the median.
        typical_ms = (statistics.median(self.times) if self.synthetic
                      else statistics.fmean(self.times))
        return BenchmarkResult(
            name=self.name, task=self.settings.task,
            data='synthetic' if self.synthetic else 'disk', device=self.device, amp=self.amp,
            batch_size=self.batch_size, image_size=self.settings.image_size,
            iters=len(self.times), warmup=self.warmup_iters, ms_per_iter=typical_ms,
            img_per_s=self.batch_size * 1000 / typical_ms, peak_memory_mb=self.peak_mb,
            memory_kind=self.memory_kind, process_max_rss_mb=_process_max_rss_mb(),
            ms_per_iter_all=list(self.times))

    def close(self):
        self.model = self.optim_wrapper = self.loader = self._next_batch = None
        gc.collect()
        if self.device.startswith('cuda'):
            torch.cuda.empty_cache()


def build_model(cfg, device):
    """The config's model with freshly initialised (random) weights, on ``device``."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    # init_weights logs every parameter's initialiser.
    with logger_level(logging.WARNING, MMLogger.get_current_instance()):
        model.init_weights()
    return model.to(device)


def measure(cfg, settings: BenchmarkSettings, name='config'):
    """Time ``settings.task`` for a prepared config (see :func:`prepare_config`)."""
    workload = Workload(cfg, settings, name)
    try:
        workload.warm_up()
        for _ in range(settings.iters):
            workload.timed_step()
        return workload.result()
    finally:
        workload.close()


def run_benchmark(config, settings: BenchmarkSettings, cfg_options=None):
    """Measure ``config`` (a path or a ``Config``) under ``settings``."""
    cfg = prepare_config(config, settings, cfg_options)
    name = osp.basename(config) if isinstance(config, str) else 'config'
    return measure(cfg, settings, name=name)


def run_comparison(config, settings: BenchmarkSettings, cfg_options=None, stock_amp=None,
                   interleave=None):
    """Measure ``config`` and stock MMDetection in this process.

    Returns ``(ours, stock, ratio)``: ratio is ours' img/s over stock's. ``stock_amp`` sets
    stock's autocast (default: the same as ours). If stock fails (e.g. bfloat16 training on CUDA,
    where mmcv's focal loss kernel has no bfloat16 version), ``stock`` is the error message and
    ``ratio`` None.

    ``interleave`` (default: on the CPU) builds both and alternates their timed iterations, so
    load from other processes on a shared machine slows both alike; on a GPU they run one after
    the other, so each one's peak memory is its own.
    """
    cfg = prepare_config(config, settings, cfg_options)
    name = osp.basename(config) if isinstance(config, str) else 'config'
    stock_settings = copy.copy(settings)
    stock_settings.amp = stock_amp if stock_amp is not None else training_amp(cfg)
    if interleave is None:
        interleave = not settings.device.startswith('cuda')
    if not interleave:
        ours = measure(cfg, settings, name=name)
        try:
            stock = measure(stock_config(cfg, stock_settings), stock_settings, name='mmdet-stock')
        except Exception as error:  # noqa: BLE001  (reported, not hidden: the caller prints it)
            return ours, f'{type(error).__name__}: {error}', None
        return ours, stock, ours.img_per_s / stock.img_per_s

    ours = Workload(cfg, settings, name)
    stock = None
    try:
        ours.warm_up()
        try:
            stock = Workload(stock_config(cfg, stock_settings), stock_settings, 'mmdet-stock')
            stock.warm_up()
        except Exception as error:  # noqa: BLE001
            for _ in range(settings.iters):
                ours.timed_step()
            return ours.result(), f'{type(error).__name__}: {error}', None
        for _ in range(settings.iters):
            ours.timed_step()
            stock.timed_step()
        ours_result, stock_result = ours.result(), stock.result()
        return ours_result, stock_result, ours_result.img_per_s / stock_result.img_per_s
    finally:
        ours.close()
        if stock is not None:
            stock.close()
