"""The configs a benchmark measures: the project config set up for the measurement
(:func:`prepare_config`: batch size, input size, data, precision, no downloads) and stock
MMDetection's R-101 RetinaNet set up the same way (:func:`stock_config`)."""
import copy

from mmengine.config import Config
from mmengine.hub import get_config

from tbmm.apis.config import load_config
from tbmm.apis.precision import inference_amp, training_amp
from tbmm.benchmark.settings import BenchmarkSettings
from tbmm.datasets.dataset_cfg import innermost_dataset, is_resize

__all__ = ['STOCK_CONFIG', 'prepare_config', 'stock_config', 'set_amp', 'loader_channels']

STOCK_CONFIG = 'mmdet::retinanet/retinanet_r101_fpn_1x_coco.py'


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
            if is_resize(transform):
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
    return innermost_dataset(dataloader_cfg.dataset)


def loader_channels(cfg):
    """Channels the config's training loader gives the model (1 for a gray X-ray loader)."""
    first = _dataset_cfg(cfg.train_dataloader).pipeline[0]
    if first['type'].endswith('LoadXRayImageFromFile'):
        channels = first.get('channels')
        if channels is None:
            channels = 1 if first.get('color_type') == 'grayscale' else 3
        return channels
    return 3
