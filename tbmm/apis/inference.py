"""Run a trained detector on image files and turn its output into prediction records.

* :func:`init_model` builds the detector with its checkpoint's weights and classes.
* :func:`iter_predictions` (and the simpler :func:`predict_files`) stream files through the
  config's test pipeline in batches; an unreadable file yields its error, the others go on.
* :func:`sample_to_record` turns a model output into the annotation format plus ``scores``.
* Test-time augmentation: :class:`WBFTTAModel` (registered in MMDetection's ``MODELS``) runs the
  image as is and flipped horizontally and merges the two with weighted boxes fusion;
  :func:`build_tta_model` wraps a loaded detector, :func:`build_inference_pipeline` with
  ``tta=True`` gives the matching pipeline and :func:`apply_tta_config` turns a test config into a
  TTA one (what ``tools/test.py --tta`` needs).
* :func:`find_images` and :func:`run_inference`: the folder/file/glob driver behind
  ``tools/infer.py`` (predictions JSON, one overlay per image, unreadable files reported); given
  several checkpoints it fuses their detections (:mod:`tbmm.apis.ensemble`).
"""
import copy
import glob
import os
import os.path as osp
from collections import Counter, namedtuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import init_detector
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_flip
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import tbmm.plugin  # noqa: F401  (tbmm's mmdet parts and weights-only checkpoint loading, also
#                              for configs dumped before they imported it themselves)
from tbmm.apis.precision import asks_for_inference_amp, inference_autocast_dtype
from tbmm.apis.runner import RunConfigError, config_classes, load_config
from tbmm.checkpoint import check_checkpoint_fits_model, load_checkpoint_file
from tbmm.datasets.image_io import IMAGE_SUFFIXES, ImageReadError
from tbmm.utils import MissingExtraError

#: Suffixes :func:`find_images` picks up in folders and glob matches (case-insensitive).

_ANNOTATION_LOADERS = ('LoadAnnotations', 'mmdet.LoadAnnotations')
_FLIP_META_KEYS = ('flip', 'flip_direction')
_PACK_DEFAULT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                           'flip_direction')


# --- model ----------------------------------------------------------------------------------------


def init_model(config, checkpoint, device='cpu', cfg_options=None):
    """Build the detector of ``config`` with the weights of ``checkpoint``.

    The class names come from the checkpoint (MMEngine stores the data set's metainfo in it); a
    checkpoint without them gets the config's classes instead of mmdet's COCO fallback.
    """
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
                if t['type'] not in _ANNOTATION_LOADERS]
    return tta_pipeline_cfg(pipeline) if tta else pipeline


def build_inference_pipeline(cfg, tta=False):
    """:func:`inference_pipeline_cfg` built into a callable ``Compose``."""
    # The transforms' names (LoadXRayImageFromFile, PackDetInputs) are looked up in the config's
    # registry scope, which nothing may have set yet when this is called first.
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
    pixels."""
    pred = data_sample.pred_instances
    scores = pred.scores.detach().cpu().numpy()
    keep = scores >= score_thr
    boxes = pred.bboxes.detach().cpu().numpy()[keep]
    labels = pred.labels.detach().cpu().numpy()[keep]
    scores = scores[keep]
    order = np.argsort(-scores, kind='stable')
    # Rounded only below what could change a result: 4 decimals made scores tie and moved the
    # image-level threshold away from what tools/test.py computes on the same outputs.
    return dict(
        file_name=file_name,
        syms=[classes[int(labels[i])] for i in order],
        boxes=[[round(float(v), 2) for v in boxes[i]] for i in order],
        scores=[round(float(scores[i]), 6) for i in order])


# --- test-time augmentation -----------------------------------------------------------------------


def _weighted_boxes_fusion():
    try:
        from ensemble_boxes import weighted_boxes_fusion
    except ImportError as e:
        raise MissingExtraError(
            'TTA merges with weighted boxes fusion from the ensemble-boxes package, which is not '
            "installed: pip install ensemble-boxes (or 'tbmm[tta]')") from e
    return weighted_boxes_fusion


def fuse_views(views, image_size, iou_thr=0.55, skip_box_thr=0.0, conf_type='avg'):
    """Merge detections of several views of one image with weighted boxes fusion, class by class.

    Args:
        views: per view ``(boxes (n, 4) in image pixels, scores (n,), labels (n,))``, already
            mapped back to the original image (e.g. unflipped).
        image_size: ``(width, height)`` of the image; WBF works on coordinates normalised by it.
        iou_thr, skip_box_thr, conf_type: ``ensemble_boxes.weighted_boxes_fusion``'s arguments.
            With ``'avg'``, a box found in only one of two views keeps half its score.

    Returns ``(boxes, scores, labels)`` as numpy arrays, highest score first. Classes are fused
    separately, so identical boxes of two classes (Consolidation + Effusion) both survive.
    """
    weighted_boxes_fusion = _weighted_boxes_fusion()
    scale = np.array(image_size * 2, dtype=np.float64)  # (w, h, w, h)
    views = [tuple(np.asarray(a, dtype=np.float64) for a in view) for view in views]
    fused_boxes, fused_scores, fused_labels = [], [], []
    labels_present = np.unique(np.concatenate([view[2] for view in views] + [np.zeros(0)]))
    for label in labels_present:
        boxes_list, scores_list, labels_list = [], [], []
        for boxes, scores, labels in views:
            boxes = np.clip(boxes.reshape(-1, 4)[labels == label] / scale, 0.0, 1.0)
            scores = scores[labels == label]
            # WBF skips zero-area boxes with a warning each; drop them quietly here.
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes_list.append(boxes[keep])
            scores_list.append(scores[keep])
            labels_list.append(np.zeros(int(keep.sum())))
        boxes, scores, _ = weighted_boxes_fusion(boxes_list, scores_list, labels_list,
                                                 iou_thr=iou_thr, skip_box_thr=skip_box_thr,
                                                 conf_type=conf_type)
        fused_boxes.append(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale)
        fused_scores.append(np.asarray(scores, dtype=np.float64))
        fused_labels.append(np.full(len(scores), int(label), dtype=np.int64))
    if not fused_boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    boxes, scores, labels = (np.concatenate(a) for a in (fused_boxes, fused_scores, fused_labels))
    order = np.argsort(-scores, kind='stable')
    return boxes[order], scores[order], labels[order]


def fuse_samples(data_samples, iou_thr=0.55, skip_box_thr=0.0, conf_type='avg', max_per_img=100):
    """Merge the predictions of several ``DetDataSample`` of one image with :func:`fuse_views`.

    The samples are views (flipped ones are flipped back first: ``flip`` and ``flip_direction``
    in their metainfo), models (:class:`tbmm.apis.ensemble.WBFEnsembleModel`), or both; each one
    counts once in the fusion. Returns the first sample with the fused ``pred_instances``
    (``max_per_img`` highest scores), so its metainfo and ground truth are those of the first
    view as it came from the pipeline.
    """
    views = []
    for sample in data_samples:
        pred = sample.pred_instances
        boxes = pred.bboxes
        if sample.metainfo.get('flip', False):
            boxes = bbox_flip(boxes, img_shape=sample.metainfo['ori_shape'],
                              direction=sample.metainfo['flip_direction'])
        views.append((boxes.detach().cpu().numpy(), pred.scores.detach().cpu().numpy(),
                      pred.labels.detach().cpu().numpy()))
    height, width = data_samples[0].metainfo['ori_shape'][:2]
    boxes, scores, labels = fuse_views(views, (width, height), iou_thr, skip_box_thr, conf_type)
    device = data_samples[0].pred_instances.bboxes.device
    merged = InstanceData()
    merged.bboxes = torch.as_tensor(boxes[:max_per_img], dtype=torch.float32, device=device)
    merged.scores = torch.as_tensor(scores[:max_per_img], dtype=torch.float32, device=device)
    merged.labels = torch.as_tensor(labels[:max_per_img], dtype=torch.long, device=device)
    result = data_samples[0]
    result.pred_instances = merged
    return result


@MODELS.register_module()
class WBFTTAModel(DetTTAModel):
    """Test-time augmentation whose views are merged by weighted boxes fusion instead of NMS.

    NMS keeps one of two agreeing boxes; WBF averages them (score-weighted) and lowers the score of
    a box only one view found, which suits flip TTA of lesions with vague borders.

    Config use (``tools/test.py --tta`` wraps the detector in it)::

        tta_model = dict(type='WBFTTAModel', iou_thr=0.55, conf_type='avg', max_per_img=100)

    Args:
        module: the detector (config dict or module).
        iou_thr, skip_box_thr, conf_type: weighted boxes fusion settings (see :func:`fuse_views`).
        max_per_img: detections kept per image after fusion, highest scores first.
    """

    def __init__(self, module, iou_thr=0.55, skip_box_thr=0.0, conf_type='avg', max_per_img=100,
                 data_preprocessor=None):
        _weighted_boxes_fusion()  # fail at build time, not after the first forward pass
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        self.iou_thr = iou_thr
        self.skip_box_thr = skip_box_thr
        self.conf_type = conf_type
        self.max_per_img = max_per_img

    def _merge_single_sample(self, data_samples):
        return fuse_samples(data_samples, self.iou_thr, self.skip_box_thr, self.conf_type,
                            self.max_per_img)


def build_tta_model(model, **wbf_options):
    """Wrap a detector from :func:`init_model` in :class:`WBFTTAModel` (same config and classes)."""
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
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # wrappers such as ClassBalancedDataset
        dataset = dataset.dataset
    tta_pipeline = cfg.get('tta_pipeline')
    dataset.pipeline = tta_pipeline if tta_pipeline else tta_pipeline_cfg(dataset.pipeline)
    return cfg


# --- files in, predictions and overlays out -------------------------------------------------------


def _has_glob_magic(text):
    return any(c in text for c in '*?[')


def _is_image_file(path):
    return path.lower().endswith(IMAGE_SUFFIXES)


def _name_relative_to(path, base):
    return osp.relpath(path, base or '.').replace(os.sep, '/')


def find_images(source, exclude_dirs=()):
    """The image files ``source`` names, as ``(path, file_name)`` sorted by ``file_name``.

    * a folder: every file with an ``IMAGE_SUFFIXES`` suffix (PNG, JPEG, BMP, TIFF, DICOM) below
      it (recursively), named by its path relative to the folder;
    * a file: that file, whatever its suffix, named by its base name;
    * a glob pattern (``'scans/**/*.dcm'``): the matching image files, named relative to the
      pattern's leading folder without wildcards.

    Returns ``(images, n_skipped)``, ``n_skipped`` counting files with other suffixes. Folders in
    ``exclude_dirs`` (e.g. the output folder inside the input one) are not searched.
    """
    source = os.fspath(source)
    excluded = {osp.realpath(d) for d in exclude_dirs}
    if osp.isfile(source):
        return [(source, osp.basename(source))], 0
    if osp.isdir(source):
        candidates, base = [], source
        for root, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if osp.realpath(osp.join(root, d)) not in excluded)
            candidates.extend(osp.join(root, f) for f in files)
    elif _has_glob_magic(source):
        parts = source.replace(os.sep, '/').split('/')
        fixed = []
        for part in parts:
            if _has_glob_magic(part):
                break
            fixed.append(part)
        base = '/'.join(fixed) if fixed != [''] else '/'
        candidates = [p for p in glob.glob(source, recursive=True) if osp.isfile(p)
                      and not any(osp.realpath(p).startswith(d + os.sep) for d in excluded)]
    else:
        raise FileNotFoundError(f'{source}: no such file or folder')
    images = sorted(((p, _name_relative_to(p, base)) for p in candidates if _is_image_file(p)),
                    key=lambda item: item[1])
    return images, len(candidates) - len(images)


def overlay_names(file_names):
    """Overlay PNG name per file name: ``a/b.dcm -> a/b.png``; ``b.png`` and ``b.dcm`` side by side
    become ``b_png.png`` and ``b_dcm.png`` so neither overwrites the other."""
    stems = [osp.splitext(name) for name in file_names]
    counts = Counter(stem.lower() for stem, _ in stems)
    return {name: (f'{stem}_{suffix.lstrip(".")}.png' if counts[stem.lower()] > 1 and suffix
                   else f'{stem}.png')
            for name, (stem, suffix) in zip(file_names, stems)}


InferenceSummary = namedtuple('InferenceSummary', [
    'n_images', 'n_predicted', 'n_abnormal', 'failures', 'n_skipped', 'predictions_path',
    'overlay_dir', 'precision', 'precision_notice'])
InferenceSummary.__doc__ = """What :func:`run_inference` did: images found and predicted, images
with a finding at or above the score threshold, ``failures`` as ``(file_name, reason)``, files
skipped for their suffix, where the outputs are, the precision the model ran in (``'float32'``,
``'float16 autocast'``, ``'bfloat16 autocast'``) and why mixed precision was off where it was
asked for (else None)."""


def _failure_reason(error):
    if isinstance(error, ImageReadError):
        return error.reason
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def run_inference(config, checkpoint, source, out_dir, score_thr=0.3, device='cpu',
                  batch_size=1, tta=False, cfg_options=None, progress=True, amp=None):
    """Predict every image of ``source`` (see :func:`find_images`) and write the results.

    ``checkpoint``: one path, or several of the same config (a fold ensemble) whose detections are
    fused per image by weighted boxes fusion, class by class (:mod:`tbmm.apis.ensemble`; with
    ``tta``, every model's plain and flipped views are fused together).

    Writes ``out_dir/predictions.json`` (annotation format plus ``scores`` per box and an
    image-level ``abnormal_score``: the highest box score, 0 without boxes; every detection the
    model returns is kept, so the file can be evaluated with ``tools/evaluate.py``) and
    ``out_dir/overlays/<file_name>.png`` (boxes scoring at least ``score_thr``). Files that cannot
    be read are listed in ``out_dir/unreadable.txt`` and the summary; the others still run.
    ``amp`` True/False runs the model in mixed precision or float32; None: as the config's
    ``test_cfg.fp16`` says (:mod:`tbmm.apis.precision`).

    Raises:
        FileNotFoundError: ``source`` names no image file.
        ImageReadError: not a single image could be read.
    """
    from tqdm import tqdm

    from tbmm.datasets.annotations import write_annotations
    from tbmm.visualization import draw_boxes, save_image

    out_dir = os.fspath(out_dir)
    overlay_dir = osp.join(out_dir, 'overlays')
    # Both named: with the output folder inside (or equal to) the input, an earlier run's overlays
    # must not be read as new images.
    images, n_skipped = find_images(source, exclude_dirs=[out_dir, overlay_dir])
    if not images:
        others = f' ({n_skipped} file(s) with other suffixes)' if n_skipped else ''
        raise FileNotFoundError(f'{source}: no PNG, JPEG, BMP, TIFF or DICOM files found{others}')
    from tbmm.apis.ensemble import WBFEnsembleModel, init_ensemble_model
    model = init_ensemble_model(config, checkpoint, device=device, cfg_options=cfg_options)
    wanted = asks_for_inference_amp(model.cfg) if amp is None else amp
    autocast_dtype, precision_notice = inference_autocast_dtype(device) if wanted else (None, None)
    precision = ('float32' if autocast_dtype is None
                 else f"{str(autocast_dtype).removeprefix('torch.')} autocast")
    classes = tuple(model.dataset_meta['classes'])
    pipeline = build_inference_pipeline(model.cfg, tta=tta)
    if tta and not isinstance(model, WBFEnsembleModel):  # an ensemble fuses the views itself
        model = build_tta_model(model)

    names = dict(images)
    overlays = overlay_names([name for _, name in images])
    records, failures, n_abnormal = [], [], 0
    with tqdm(total=len(images), unit='img', desc='infer', disable=not progress) as bar:
        for result in iter_predictions(model, (path for path, _ in images), batch_size, pipeline,
                                       keep_images=True, autocast_dtype=autocast_dtype):
            file_name = names[result.path]
            bar.update(1)
            if result.error is not None:
                failures.append((file_name, _failure_reason(result.error)))
                continue
            record = sample_to_record(file_name, result.sample, classes)
            record['abnormal_score'] = max(record['scores'], default=0.0)
            n_abnormal += record['abnormal_score'] >= score_thr
            records.append(record)
            overlay = draw_boxes(result.image, record, classes, score_thr=score_thr,
                                 title=file_name)
            save_image(osp.join(overlay_dir, overlays[file_name]), overlay)

    failures.sort()
    unreadable_path = osp.join(out_dir, 'unreadable.txt')
    if failures:
        os.makedirs(out_dir, exist_ok=True)
        with open(unreadable_path, 'w', encoding='utf-8') as f:
            f.writelines(f'{name}\t{reason}\n' for name, reason in failures)
    elif osp.isfile(unreadable_path):
        os.remove(unreadable_path)  # left over from an earlier run on the same folder
    if not records:
        raise ImageReadError(source, f'none of the {len(images)} image file(s) could be read '
                             f'(first: {failures[0][0]}: {failures[0][1]})')
    records.sort(key=lambda r: r['file_name'])
    predictions_path = osp.join(out_dir, 'predictions.json')
    write_annotations(predictions_path, records)
    return InferenceSummary(len(images), len(records), n_abnormal, failures, n_skipped,
                            predictions_path, overlay_dir, precision, precision_notice)
