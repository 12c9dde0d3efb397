"""Run a trained detector on image files and turn its output into prediction records.

* :func:`init_model` builds the detector with its checkpoint's weights and classes.
* :func:`iter_predictions` (and the simpler :func:`predict_files`) stream files through the
  config's test pipeline in batches; an unreadable file yields its error, the others go on.
* :func:`sample_to_record` turns a model output into the annotation format plus ``scores``.
* Test-time augmentation: :class:`~tbmm.models.test_time_augs.WBFTTAModel` (registered in
  MMDetection's ``MODELS``) runs the image as is and flipped horizontally and merges the two with
  weighted boxes fusion; :func:`build_tta_model` wraps a loaded detector in it,
  :func:`build_inference_pipeline` with ``tta=True`` gives the matching pipeline and
  :func:`apply_tta_config` turns a test config into a TTA one (what ``tools/test.py --tta`` needs).

The folder driver behind ``tools/infer.py`` is :mod:`tbmm.apis.folder_inference`.
"""
import copy
import os.path as osp
from collections import namedtuple

import torch
from mmcv.transforms import Compose
from mmdet.apis import init_detector
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from tbmm.apis.config import RunConfigError, config_classes, load_config
from tbmm.checkpoint import check_checkpoint_fits_model, load_checkpoint_file
from tbmm.datasets.dataset_cfg import innermost_dataset, is_annotation_loader
from tbmm.datasets.image_io import ImageReadError
from tbmm.deploy.records import prediction_record
from tbmm.errors import MissingExtraError
from tbmm.models.test_time_augs import WBFTTAModel
from tbmm.setup_env import register_all_modules

__all__ = ['Prediction', 'apply_tta_config', 'apply_tta_pipeline', 'build_inference_pipeline',
           'build_tta_model', 'inference_pipeline_cfg', 'init_model', 'iter_predictions',
           'predict_files', 'sample_to_record', 'tta_pipeline_cfg']

_FLIP_META_KEYS = ('flip', 'flip_direction')
_PACK_DEFAULT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                           'flip_direction')


# --- model ----------------------------------------------------------------------------------------


def init_model(config, checkpoint, device='cpu', cfg_options=None):
    """Build the detector of ``config`` with the weights of ``checkpoint``.

    The class names come from the checkpoint (MMEngine stores the data set's metainfo in it); a
    checkpoint without them gets the config's classes instead of mmdet's COCO fallback.
    """
    # tbmm's parts and weights-only loading, also for configs that do not import tbmm.plugin.
    register_all_modules(init_default_scope=False)
    cfg = config if isinstance(config, Config) else load_config(config, cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    # No ImageNet download: the checkpoint holds every weight.
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = init_detector(cfg, checkpoint, device=device)
    # mmdet loads non-strictly: a checkpoint of another model would predict with random layers.
    check_checkpoint_fits_model(model, load_checkpoint_file(checkpoint), checkpoint)
    num_classes = getattr(getattr(model, 'bbox_head', None), 'num_classes', None)
    classes = model.dataset_meta.get('classes')
    if num_classes is not None and (classes is None or len(classes) != num_classes):
        classes_of_config = config_classes(cfg)
        if classes_of_config is None or len(classes_of_config) != num_classes:
            raise RunConfigError(f'{checkpoint}: the checkpoint names {len(classes or ())} classes '
                                 f'and the config none that fit the model\'s {num_classes}')
        model.dataset_meta['classes'] = tuple(classes_of_config)
    return model


# --- pipelines ------------------------------------------------------------------------------------


def inference_pipeline_cfg(cfg, tta=False):
    """The config's test pipeline (list of transform dicts) without annotation loading.

    With ``tta``, its final ``PackDetInputs`` becomes a ``TestTimeAug`` packing the image as is and
    flipped horizontally (see :func:`tta_pipeline_cfg`).
    """
    pipeline = [t for t in copy.deepcopy(get_test_pipeline_cfg(cfg))
                if not is_annotation_loader(t)]
    return tta_pipeline_cfg(pipeline) if tta else pipeline


def build_inference_pipeline(cfg, tta=False):
    """:func:`inference_pipeline_cfg` built into a callable ``Compose``."""
    # The transforms' names (LoadXRayImageFromFile, PackDetInputs) are looked up in the config's
    # registry scope, which nothing may have set yet when this is called first.
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return Compose(inference_pipeline_cfg(cfg, tta))


def tta_pipeline_cfg(test_pipeline):
    """Turn a test pipeline (transform dicts ending in ``PackDetInputs``) into its flip-TTA form.

    The unflipped view comes first: :class:`WBFTTAModel` returns the merged result in the first
    view's data sample, so its ground truth (loaded in original coordinates in our test pipelines,
    which a flip would mirror in resized ones) is the one the metric sees.
    """
    steps = copy.deepcopy(list(test_pipeline))
    if not steps or not str(steps[-1].get('type', '')).endswith('PackDetInputs'):
        raise ValueError('flip TTA needs a test pipeline that ends with PackDetInputs')
    pack = dict(steps[-1])
    meta_keys = tuple(pack.get('meta_keys', _PACK_DEFAULT_META_KEYS))
    pack['meta_keys'] = meta_keys + tuple(k for k in _FLIP_META_KEYS if k not in meta_keys)
    flips = [dict(type='RandomFlip', prob=0.0),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')]
    return steps[:-1] + [dict(type='TestTimeAug', transforms=[flips, [pack]])]


# --- prediction -----------------------------------------------------------------------------------

Prediction = namedtuple('Prediction', ['path', 'sample', 'image', 'error'])
Prediction.__doc__ = """One file's result: the model output (``DetDataSample``) and the image as
loaded (``uint8``, original size; ``None`` unless asked for), or ``error`` (the exception that
stopped the file) with ``sample`` and ``image`` ``None``."""


def _run_pipeline(pipeline, path):
    """Apply ``pipeline`` to one file; return (the image right after loading, the packed data).

    The transforms are run one by one to catch the loaded image on the way: drawing overlays then
    needs no second read of the file.
    """
    results = dict(img_path=str(path), img_id=osp.basename(str(path)))
    loaded = None
    for transform in pipeline.transforms:
        results = transform(results)
        if results is None:
            raise ImageReadError(str(path),
                                 f'dropped by the pipeline at {type(transform).__name__}')
        if loaded is None and 'img' in results:
            loaded = results['img']
    return loaded, results


def iter_predictions(model, paths, batch_size=1, pipeline=None, keep_images=False,
                     autocast_dtype=None):
    """Yield a :class:`Prediction` per path, ``batch_size`` images per forward pass.

    Args:
        model: a detector from :func:`init_model`, or its TTA wrapper from :func:`build_tta_model`
            (then pass the TTA pipeline too).
        paths: image files (any iterable; consumed lazily, so only one batch is in memory).
        pipeline: a ``Compose`` of the inference pipeline; default: the model config's.
        keep_images: also return each loaded image (for overlays).
        autocast_dtype: run the model under autocast to this dtype (``torch.float16`` /
            ``torch.bfloat16``, see :mod:`tbmm.apis.precision`); None: float32.

    A file the pipeline cannot read (:class:`ImageReadError`, or ``MissingExtraError`` for a DICOM
    without pydicom) yields its exception at once; any other exception of the pipeline is raised.
    Results of readable files come when their batch is full (so the order of failures and
    results can differ from ``paths``).
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be at least 1, got {batch_size}')
    pipeline = pipeline or build_inference_pipeline(model.cfg)
    device_type = next(model.parameters(), torch.empty(0)).device.type
    batch = []

    def flush():
        if not batch:
            return []
        data = pseudo_collate([packed for _, _, packed in batch])
        with torch.no_grad(), torch.autocast(device_type, dtype=autocast_dtype,
                                             enabled=autocast_dtype is not None):
            samples = model.test_step(data)
        out = [Prediction(path, sample, image if keep_images else None, None)
               for (path, image, _), sample in zip(batch, samples)]
        batch.clear()
        return out

    for path in paths:
        try:
            image, packed = _run_pipeline(pipeline, path)
        except (ImageReadError, MissingExtraError) as e:
            # An unreadable file (or a DICOM without pydicom) is reported per file by the caller
            # and the others still run; any other error is a bug and stops the run.
            yield Prediction(str(path), None, None, e)
            continue
        batch.append((str(path), image, packed))
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def predict_files(model, paths, batch_size=1, pipeline=None):
    """Yield ``(path, DetDataSample or exception)`` per path, ``batch_size`` images per forward.

    An unreadable file yields its exception instead of stopping the run.
    """
    for result in iter_predictions(model, paths, batch_size, pipeline):
        yield result.path, (result.error if result.error is not None else result.sample)


def sample_to_record(file_name, data_sample, classes, score_thr=0.0):
    """A prediction record (annotation format + ``scores``) from a model output, boxes in image
    pixels (:func:`tbmm.deploy.records.prediction_record`, which the ONNX runtime uses too)."""
    pred = data_sample.pred_instances
    return prediction_record(file_name, pred.bboxes.detach().cpu().numpy(),
                             pred.scores.detach().cpu().numpy(),
                             pred.labels.detach().cpu().numpy(), classes, score_thr)


# --- test-time augmentation: model and config -------------------------------------------------


def build_tta_model(model, **wbf_options):
    """Wrap a detector from :func:`init_model` in
    :class:`~tbmm.models.test_time_augs.WBFTTAModel` (same config and classes)."""
    tta = WBFTTAModel(module=model, **wbf_options)
    tta.cfg = model.cfg
    tta.dataset_meta = model.dataset_meta
    return tta.eval()


def apply_tta_config(cfg):
    """Switch a test config to flip TTA, in place, as MMDetection's ``tools/test.py --tta`` does.

    ``cfg.model`` becomes the config's ``tta_model`` (default ``dict(type='WBFTTAModel')``)
    wrapping the detector, and the test data set's pipeline becomes ``cfg.tta_pipeline`` or, when
    the config has none, the flip form of its test pipeline (:func:`tta_pipeline_cfg`).
    MMEngine loads a plain detector checkpoint into the wrapped detector. Returns ``cfg``.
    """
    tta_model = dict(cfg.get('tta_model') or dict(type='WBFTTAModel'))
    cfg.model = ConfigDict(**tta_model, module=cfg.model)
    return apply_tta_pipeline(cfg)


def apply_tta_pipeline(cfg):
    """Give the test data set of ``cfg`` (in place) the config's ``tta_pipeline`` or, when it has
    none, the flip form of its test pipeline (:func:`tta_pipeline_cfg`). Returns ``cfg``."""
    dataset = innermost_dataset(cfg.test_dataloader.dataset)
    tta_pipeline = cfg.get('tta_pipeline')
    dataset.pipeline = tta_pipeline if tta_pipeline else tta_pipeline_cfg(dataset.pipeline)
    return cfg
