"""Throughput of a detector config: training step, end-to-end training, inference, data loading.

:func:`run_benchmark` builds the config's model (random weights, no downloads), its optimizer
wrapper and, for data on disk, its data loaders, and times iterations after a warm-up:

* ``train`` + synthetic data: the model step alone (preprocessor with the host-to-device copy,
  forward, losses, backward, optimizer) on a fixed random batch;
* ``train`` + ``ANN.json,IMG_DIR``: end to end, each iteration's time including waiting for the
  config's data loader (decode from PNG files, resize, flip, collate);
* ``infer``: ``test_step`` under ``torch.no_grad`` (and autocast with ``amp``; by default the
  precision tools/test.py and tools/infer.py run the config in), synthetic or from disk;
* ``data``: the training data loader alone, for comparison with what the training step consumes.

Reported: ms/iter (median for a fixed synthetic batch; mean when a data loader feeds the step,
after draining the batches its workers queue ahead), img/s (batch size / that), peak memory
(CUDA: allocated by tensors; CPU: resident set size sampled during the timed phase, and the
process's lifetime maximum from ``getrusage``). :func:`run_comparison` runs the same
measurement for stock MMDetection's ``retinanet_r101_fpn_1x_coco.py`` (with this config's
number of classes, input size, data set and settings) in the same process and gives the ratio.
``tools/benchmark.py`` is the command line.
"""
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
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import InstanceData

import tbmm.models  # noqa: F401  (the fast configs' parts, also while the plugin lacks them)
import tbmm.plugin  # noqa: F401  (data set, loader and optimizer wrapper of the configs)
from tbmm.apis.precision import inference_amp, training_amp
from tbmm.apis.runner import load_config
from tbmm.utils import UserInputError

AMP_MODES = ('none', 'fp16', 'bf16')
TASKS = ('train', 'infer', 'data')
STOCK_CONFIG = 'mmdet::retinanet/retinanet_r101_fpn_1x_coco.py'
_AUTOCAST_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
_SYNTHETIC_BOXES_PER_IMAGE = 3


class BenchmarkSettingsError(UserInputError):
    """Settings that cannot be measured (a user mistake: the CLI prints one line)."""


@dataclass
class BenchmarkSettings:
    """What to measure; the same settings apply to the config and, when compared, to stock."""
    task: str = 'train'
    device: str = 'cpu'
    data: str = 'synthetic'  # or 'ANN.json,IMG_DIR'
    batch_size: Optional[int] = None  # None: the config's
    amp: Optional[str] = None  # None: as the config's optimizer wrapper trains
    image_size: int = 1024
    iters: int = 10
    warmup: int = 3
    num_workers: Optional[int] = None  # None: the config's
    seed: int = 0

    def __post_init__(self):
        if self.task not in TASKS:
            raise BenchmarkSettingsError(f'task must be one of {TASKS}, got {self.task!r}')
        if self.amp is not None and self.amp not in AMP_MODES:
            raise BenchmarkSettingsError(f'amp must be one of {AMP_MODES}, got {self.amp!r}')
        if self.iters < 1 or self.warmup < 0:
            raise BenchmarkSettingsError(
                f'need iters >= 1 and warmup >= 0, got {self.iters} / {self.warmup}')
        if self.task == 'data' and self.data == 'synthetic':
            raise BenchmarkSettingsError(
                'task data times the data loader: give --data ANN.json,IMG_DIR')
        if self.data != 'synthetic':
            self.data_files()  # checks the format and that both exist

    def data_files(self):
        """``(annotation file, image folder)`` of ``data``, absolute."""
        parts = self.data.split(',')
        if len(parts) != 2:
            raise BenchmarkSettingsError(
                f"data must be 'synthetic' or 'ANN.json,IMG_DIR', got {self.data!r}")
        ann_file, img_dir = (osp.abspath(p) for p in parts)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'annotation file not found: {ann_file}')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        return ann_file, img_dir


@dataclass
class BenchmarkResult:
    name: str
    task: str
    data: str
    device: str
    amp: str
    batch_size: int
    image_size: int
    iters: int
    warmup: int
    ms_per_iter: float  # median (synthetic) or mean (data loader) over the timed iterations
    img_per_s: float
    peak_memory_mb: float
    memory_kind: str  # 'cuda_max_allocated' or 'cpu_peak_rss'
    process_max_rss_mb: float
    ms_per_iter_all: List[float] = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


# --- configs --------------------------------------------------------------------------------------


def prepare_config(config, settings: BenchmarkSettings, cfg_options=None):
    """The config with the benchmark's batch size, input size, data, precision and no downloads."""
    cfg = config if isinstance(config, Config) else load_config(config, cfg_options)
    cfg = copy.deepcopy(cfg)
    _drop_pretrained(cfg.model)
    if settings.batch_size is not None:
        for key in ('train_dataloader', 'test_dataloader'):
            cfg[key].batch_size = settings.batch_size
    if settings.num_workers is not None:
        for key in ('train_dataloader', 'test_dataloader'):
            cfg[key].num_workers = settings.num_workers
            if settings.num_workers == 0:  # torch refuses persistent workers without workers
                cfg[key].persistent_workers = False
    scale = (settings.image_size, settings.image_size)
    for key in ('train_dataloader', 'test_dataloader'):
        for transform in _dataset_cfg(cfg[key]).pipeline:
            if transform['type'] in ('Resize', 'mmdet.Resize'):
                transform['scale'] = scale
    if settings.data != 'synthetic':
        ann_file, img_dir = settings.data_files()
        for key in ('train_dataloader', 'test_dataloader'):
            dataset = _dataset_cfg(cfg[key])
            dataset.ann_file = ann_file
            dataset.data_prefix = dict(img=img_dir)
    if settings.amp is not None:
        amp = settings.amp
    elif settings.task == 'infer':
        amp = inference_amp(cfg, settings.device)
    else:
        amp = training_amp(cfg)
    set_amp(cfg, amp)
    return cfg


def stock_config(reference_cfg, settings: BenchmarkSettings):
    """MMDetection's R-101 RetinaNet config, set up like ``reference_cfg`` for a fair comparison.

    Same number of classes, input size (its pipelines' ``Resize``), data set (this project's data
    set class with the stock pipelines: 3-channel decode with ``LoadImageFromFile``) and whatever
    ``settings`` sets (device, precision, and batch size and workers when given); everything else,
    including its batch sizes (2 for training, 1 for testing) and data loaders, is stock.
    """
    cfg = get_config(STOCK_CONFIG)  # resolves mmdet:: in the installed package (no download)
    cfg.model.bbox_head.num_classes = reference_cfg.model.bbox_head.num_classes
    for key in ('train_dataloader', 'test_dataloader'):
        stock_pipeline = _dataset_cfg(cfg[key]).pipeline
        dataset = copy.deepcopy(_dataset_cfg(reference_cfg[key]))
        dataset.pipeline = stock_pipeline
        cfg[key].dataset = dataset
    return prepare_config(cfg, settings)


def set_amp(cfg, amp):
    """Switch the config's optimizer wrapper to ``amp`` (its optimizer and clipping stay)."""
    wrapper = cfg.optim_wrapper
    for key in ('dtype', 'loss_scale'):
        wrapper.pop(key, None)
    if amp == 'fp16':
        wrapper.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    elif amp == 'bf16':
        # bfloat16 needs no loss scale, and MMEngine's AmpOptimWrapper refuses the CPU.
        wrapper.type = 'BF16AutocastOptimWrapper'
    else:
        wrapper.type = 'OptimWrapper'


def _drop_pretrained(model_cfg):
    # Random weights: throughput does not depend on them, and the GPU machine has no internet.
    model_cfg.backbone.init_cfg = None


def _dataset_cfg(dataloader_cfg):
    dataset = dataloader_cfg.dataset
    while 'dataset' in dataset:  # wrappers such as ClassBalancedDataset
        dataset = dataset.dataset
    return dataset


def _loader_channels(cfg):
    first = _dataset_cfg(cfg.train_dataloader).pipeline[0]
    if first['type'].endswith('LoadXRayImageFromFile'):
        channels = first.get('channels')
        if channels is None:
            channels = 1 if first.get('color_type') == 'grayscale' else 3
        return channels
    return 3


# --- measurement ----------------------------------------------------------------------------------


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


def _synchronize(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def _time_ms(fn, device):
    """Milliseconds ``fn()`` takes, including the device work it queued."""
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return (time.perf_counter() - start) * 1000


def _autocast(device, amp):
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


class _Workload:
    """One config's timed step (model step, end-to-end step, inference or data fetch), built once."""

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
                self.batch_size, settings.image_size, _loader_channels(cfg),
                num_classes=cfg.model.bbox_head.num_classes, with_boxes=settings.task == 'train',
                seed=settings.seed,
                pin_memory=device.startswith('cuda') and loader_cfg.get('pin_memory', False))
            self._next_batch = lambda: batch
        else:
            self.loader = Runner.build_dataloader(_endless(loader_cfg), seed=settings.seed)
            batches = iter(self.loader)
            self._next_batch = lambda: next(batches)
        if settings.task != 'data':
            self.model = _build_model(cfg, device)
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
            with torch.no_grad(), _autocast(self.device, self.amp):
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
        _synchronize(self.device)

    def timed_step(self):
        with _PeakMemory(self.device) as memory:
            self.times.append(_time_ms(self.step, self.device))
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


def _build_model(cfg, device):
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    with _quiet_logger():  # init_weights logs every parameter's initialiser
        model.init_weights()
    return model.to(device)


@contextlib.contextmanager
def _quiet_logger():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def measure(cfg, settings: BenchmarkSettings, name='config'):
    """Time ``settings.task`` for a prepared config (see :func:`prepare_config`)."""
    workload = _Workload(cfg, settings, name)
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

    ours = _Workload(cfg, settings, name)
    stock = None
    try:
        ours.warm_up()
        try:
            stock = _Workload(stock_config(cfg, stock_settings), stock_settings, 'mmdet-stock')
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


def step_breakdown(config, settings: BenchmarkSettings, cfg_options=None, profile_path=None):
    """Median ms of the parts of a training or inference step (``settings.task``), synthetic batch.

    Training: ``train_step`` (all of it), ``data_preprocessor`` (copy and normalisation),
    ``network`` (backbone, neck and head forward, backward and optimizer step, with a dummy loss:
    no targets), ``targets_and_loss`` (the head's ``loss_by_feat`` on fixed outputs: anchor
    assignment, target encoding, focal and box losses). Inference: ``test_step``,
    ``data_preprocessor``, ``network`` (forward only) and ``postprocess`` (the head's
    ``predict_by_feat`` on fixed outputs: decoding, score threshold, NMS). When the parts add up to
    far less than the whole step on a GPU, the GPU waits for the host. ``profile_path``: also write
    torch.profiler's tables of three whole steps there (by time, and the copies by tensor shape)
    and a gzipped Chrome trace of one step to ``profile_path + '.trace.json.gz'``. For
    single-stage detectors.
    """
    settings = copy.copy(settings)
    training = settings.task != 'infer'
    settings.task = 'train' if training else 'infer'
    cfg = prepare_config(config, settings, cfg_options)
    device = settings.device
    torch.manual_seed(settings.seed)
    torch.backends.cudnn.benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    model = _build_model(cfg, device).train(training)
    loader_cfg = cfg.train_dataloader if training else cfg.test_dataloader
    batch = synthetic_batch(loader_cfg.batch_size, settings.image_size, _loader_channels(cfg),
                            num_classes=cfg.model.bbox_head.num_classes, with_boxes=training,
                            seed=settings.seed, pin_memory=device.startswith('cuda'))
    packed = model.data_preprocessor(batch, training)
    inputs, samples = packed['inputs'], packed['data_samples']
    metas = [sample.metainfo for sample in samples]
    if training:
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        autocast = lambda: optim_wrapper.optim_context(model)  # noqa: E731
    else:
        autocast = lambda: _autocast(device, training_amp(cfg))  # noqa: E731
    with torch.no_grad(), autocast():
        head_outputs = model.bbox_head(model.extract_feat(inputs))

    if training:
        def network():
            with autocast():
                cls_scores, bbox_preds = model.bbox_head(model.extract_feat(inputs))
                loss = sum(x.float().mean() for x in cls_scores + bbox_preds)
            optim_wrapper.update_params(loss)

        def targets_and_loss():
            with torch.no_grad():
                model.bbox_head.loss_by_feat(*head_outputs, [s.gt_instances for s in samples],
                                             metas)

        parts = dict(train_step=lambda: model.train_step(batch, optim_wrapper),
                     data_preprocessor=lambda: model.data_preprocessor(batch, True),
                     network=network, targets_and_loss=targets_and_loss)
    else:
        def test_step():
            with torch.no_grad(), autocast():
                model.test_step(batch)

        def network():
            with torch.no_grad(), autocast():
                model.bbox_head(model.extract_feat(inputs))

        def postprocess():
            with torch.no_grad(), autocast():
                model.bbox_head.predict_by_feat(*head_outputs, batch_img_metas=metas,
                                                rescale=True)

        parts = dict(test_step=test_step,
                     data_preprocessor=lambda: model.data_preprocessor(batch, False),
                     network=network, postprocess=postprocess)
    medians = {}
    for name, part in parts.items():
        for _ in range(settings.warmup):
            part()
        _synchronize(device)
        medians[name] = statistics.median(_time_ms(part, device) for _ in range(settings.iters))
    if profile_path:
        _write_profile(next(iter(parts.values())), device, profile_path)
    return medians


def _write_profile(step, device, path):
    """torch.profiler's tables of three steps at ``path``, a gzipped Chrome trace of one beside."""
    import gzip
    import shutil
    from torch.profiler import ProfilerActivity, profile
    cuda = device.startswith('cuda')
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(3):
            step()
        _synchronize(device)
    sort_keys = (['self_cuda_time_total'] if cuda else []) + ['self_cpu_time_total']

    def self_time(event):  # torch >= 2.4 calls an event's CUDA time self_device_time_total
        if cuda:
            return getattr(event, 'self_device_time_total',
                           getattr(event, 'self_cuda_time_total', 0))
        return event.self_cpu_time_total

    with open(path, 'w') as f:
        for key in sort_keys:
            f.write(f'three steps, sorted by {key}\n')
            f.write(prof.key_averages().table(sort_by=key, row_limit=25,
                                              max_name_column_width=60) + '\n')
        # Which tensors the conversions copy (the H200 profile had 26 ms of aten::copy_ a step).
        f.write(f'copies by input shape, sorted by {sort_keys[0]}\n')
        copies = [event for event in prof.key_averages(group_by_input_shape=True)
                  if event.key in ('aten::copy_', 'aten::_to_copy', 'aten::contiguous')]
        copies.sort(key=self_time, reverse=True)
        for event in copies[:20]:
            f.write(f'{event.key:16s} x{event.count:<5d} '
                    f'{self_time(event) / 1000:9.2f} ms  {event.input_shapes}\n')
    with profile(activities=activities) as one_step:
        step()
        _synchronize(device)
    trace = path + '.trace.json'
    one_step.export_chrome_trace(trace)
    with open(trace, 'rb') as raw, gzip.open(trace + '.gz', 'wb') as packed:
        shutil.copyfileobj(raw, packed)
    os.remove(trace)


def format_result(result: BenchmarkResult):
    memory = 'GPU max allocated' if result.memory_kind == 'cuda_max_allocated' else 'peak RSS'
    return (f'{result.name}: {result.task} ({result.data}), {result.device}, amp={result.amp}, '
            f'batch {result.batch_size}, {result.image_size}px: {result.img_per_s:.2f} img/s, '
            f'{result.ms_per_iter:.1f} ms/iter '
            f'({"median" if result.data == "synthetic" else "mean"} of {result.iters}, '
            f'{result.warmup} warm-up), '
            f'{memory} {result.peak_memory_mb:.0f} MiB')


def markdown_table(jsonl_path):
    """The records ``tools/benchmark.py --json`` appended to ``jsonl_path``, as a markdown table."""
    import json
    lines = ['| run | task | data | amp (ours / stock) | batch (ours / stock) | ours img/s | '
             'stock img/s | ratio | ours ms/iter | peak MiB (ours / stock) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    with open(jsonl_path) as f:
        for line in f:
            record = json.loads(line)
            if 'ours' not in record:  # a suite run that failed or was skipped
                lines.append(f"| {record.get('label') or record['config']} | failed: "
                             f"{record.get('error', '?')[:100]} |" + ' |' * 8)
                continue
            ours, stock = record['ours'], record.get('stock')
            ratio = record.get('ratio')
            if stock:
                stock_cells = (f"{ours['amp']} / {stock['amp']}",
                               f"{ours['batch_size']} / {stock['batch_size']}",
                               f"{stock['img_per_s']:.2f}", f'{ratio:.2f}x',
                               f"{ours['peak_memory_mb']:.0f} / {stock['peak_memory_mb']:.0f}")
            else:
                failed = record.get('stock_error')
                stock_cells = (ours['amp'], str(ours['batch_size']),
                               f'failed: {failed}'[:80] if failed else '-', '-',
                               f"{ours['peak_memory_mb']:.0f}")
            amp_cell, batch_cell, stock_rate, ratio_cell, memory_cell = stock_cells
            lines.append(f"| {record.get('label') or record['config']} | {ours['task']} | "
                         f"{ours['data']} | {amp_cell} | {batch_cell} | {ours['img_per_s']:.2f} | "
                         f"{stock_rate} | {ratio_cell} | {ours['ms_per_iter']:.1f} | "
                         f"{memory_cell} |")
    return '\n'.join(lines) + '\n'
