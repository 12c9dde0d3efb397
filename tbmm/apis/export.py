"""Export a trained detector to ONNX for the torch-free runtime :mod:`tbmm.deploy`.

The ONNX graph is the network only: backbone, neck and head (the fast configs' folded BatchNorm
and channels-last layout included, which change nothing in the function), from a normalised
``(N, 3, H, W)`` float32 batch to the head's raw per-level maps, classification logits
``cls_score_<i>`` ``(N, A*K, H_i, W_i)`` and box deltas ``bbox_pred_<i>`` ``(N, A*4, H_i, W_i)``;
batch, height and width are dynamic. Reading, resizing, normalisation, anchors, box decoding and
NMS are described in the model's ``tbmm.*`` metadata (:mod:`tbmm.deploy.metadata`) and run in
numpy by the runtime. :func:`export_onnx` checks the file right after writing it: onnxruntime's
maps against PyTorch's on the same batch of two (``tests/deploy`` compare the detections).

Exported with torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs the
extra onnxscript package and traced dynamic height and width less reliably here.
"""
import math
import os
import os.path as osp
import warnings
from collections import namedtuple

import numpy as np
import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.utils import get_test_pipeline_cfg

import tbmm
from tbmm.apis.runner import load_config
from tbmm.datasets.dataset_cfg import is_annotation_loader, is_resize, transform_type
from tbmm.deploy.metadata import MODEL_FORMAT, DeployMetadata
from tbmm.errors import UserInputError
from tbmm.utils import ensure_parent_dir, file_sha256

#: Lowest ONNX opset written (opset 17 has every operator a RetinaNet needs).
MIN_OPSET = 17


class ExportError(UserInputError):
    """A model or config the exporter or the runtime cannot represent, or an export whose check
    failed; the message is one line."""


class RawHeadOutputs(torch.nn.Module):
    """A detector's network from a normalised batch to its head's raw maps (cls maps, then box
    maps, one per level)."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, inputs):
        cls_scores, bbox_preds = self.detector.bbox_head(self.detector.extract_feat(inputs))
        return (*cls_scores, *bbox_preds)


def preprocess_settings(cfg, model, image_size=None):
    """The ``tbmm.preprocess`` metadata of a config's test pipeline and the model's data
    preprocessor; :class:`ExportError` for steps the runtime does not reproduce."""
    load, resize = None, None
    for transform in get_test_pipeline_cfg(cfg):
        kind = transform_type(transform)
        if is_annotation_loader(transform) or kind == 'PackDetInputs':
            continue
        if kind == 'LoadXRayImageFromFile' and load is None:
            load = transform
        elif is_resize(transform) and resize is None and 'scale' in transform:
            resize = transform
        else:
            raise ExportError(f'the test pipeline step {kind} is not one the ONNX runtime '
                              f'reproduces (LoadXRayImageFromFile, Resize(scale=...), '
                              f'PackDetInputs)')
    if load is None or resize is None:
        raise ExportError('the test pipeline needs LoadXRayImageFromFile and Resize(scale=...) '
                          'for an export')
    interpolation = resize.get('interpolation', 'bilinear')
    if resize.get('backend', 'cv2') != 'cv2' or interpolation not in (
            'nearest', 'bilinear', 'bicubic', 'area', 'lanczos'):
        raise ExportError(f'Resize with backend {resize.get("backend")!r} / interpolation '
                          f'{interpolation!r}: the runtime resizes with OpenCV only')
    scale = resize['scale']
    scale = [int(scale), int(scale)] if isinstance(scale, (int, float)) else [int(v) for v in scale]
    if image_size is not None:
        scale = [int(image_size), int(image_size)]
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, '_enable_normalize', True):
        mean = preprocessor.mean.reshape(-1).tolist()
        std = preprocessor.std.reshape(-1).tolist()
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    if getattr(preprocessor, 'batch_augments', None):
        raise ExportError('a data preprocessor with batch_augments cannot be exported')
    return dict(
        load_channels=int(load.get('channels') or (1 if load.get('color_type') == 'grayscale'
                                                   else 3)),
        resize=dict(scale=scale, keep_ratio=bool(resize.get('keep_ratio', False)),
                    interpolation=interpolation),
        input_channels=len(mean), mean=[float(v) for v in mean], std=[float(v) for v in std],
        bgr_to_rgb=bool(getattr(preprocessor, '_channel_conversion', False)),
        pad_size_divisor=int(getattr(preprocessor, 'pad_size_divisor', 1)),
        pad_value=float(getattr(preprocessor, 'pad_value', 0)))


def head_settings(head):
    """The ``tbmm.anchor_generator``, ``tbmm.bbox_coder`` and ``tbmm.postprocess`` metadata of a
    RetinaNet-style head; :class:`ExportError` for parts the runtime does not reproduce."""
    generator, coder, test_cfg = head.prior_generator, head.bbox_coder, head.test_cfg
    if type(generator) is not AnchorGenerator or generator.centers is not None:
        raise ExportError(f'{type(generator).__name__} (or fixed centers): the runtime '
                          f"reproduces mmdet's AnchorGenerator only")
    if type(coder) is not DeltaXYWHBBoxCoder or getattr(coder, 'add_ctr_clamp', False):
        raise ExportError(f'{type(coder).__name__}: the runtime decodes DeltaXYWHBBoxCoder '
                          f'boxes (without add_ctr_clamp) only')
    if not getattr(head, 'use_sigmoid_cls', False):
        raise ExportError('a softmax classifier: the runtime decodes sigmoid scores only')
    nms_cfg = test_cfg.get('nms', {})
    if nms_cfg.get('type', 'nms') != 'nms':
        raise ExportError(f'NMS type {nms_cfg.get("type")!r}: the runtime runs plain NMS only')
    anchors = dict(
        type='AnchorGenerator',
        strides=[[float(s[0]), float(s[1])] for s in generator.strides],
        base_sizes=[float(b) for b in generator.base_sizes],
        ratios=generator.ratios.tolist(), scales=generator.scales.tolist(),
        octave_base_scale=generator.octave_base_scale,
        scales_per_octave=generator.scales_per_octave,
        scale_major=bool(generator.scale_major), center_offset=float(generator.center_offset))
    box_coder = dict(type='DeltaXYWHBBoxCoder', target_means=[float(v) for v in coder.means],
                     target_stds=[float(v) for v in coder.stds],
                     clip_border=bool(coder.clip_border), wh_ratio_clip=16 / 1000)
    postprocess = dict(score_thr=float(test_cfg.get('score_thr', 0.0)),
                       nms_pre=int(test_cfg.get('nms_pre', -1)),
                       min_bbox_size=test_cfg.get('min_bbox_size', -1),
                       iou_threshold=float(nms_cfg.get('iou_threshold', 0.5)),
                       max_per_img=int(test_cfg.get('max_per_img', -1)))
    return anchors, box_coder, postprocess


def _thresholds_entry(path, classes):
    if path is None:
        return None
    from tbmm.evaluation.functional.thresholds import load_thresholds
    return dict(classes=load_thresholds(path, classes=classes), source=osp.basename(path),
                sha256=file_sha256(path))


def build_metadata(model, config_path, checkpoint, image_size=None, thresholds=None):
    """:class:`DeployMetadata` of a detector from :func:`tbmm.apis.inference.init_model`."""
    classes = tuple(model.dataset_meta['classes'])
    head = model.bbox_head
    anchors, box_coder, postprocess = head_settings(head)
    n_levels = len(anchors['strides'])
    outputs = dict(cls_scores=[f'cls_score_{i}' for i in range(n_levels)],
                   bbox_preds=[f'bbox_pred_{i}' for i in range(n_levels)],
                   num_anchors=int(head.num_base_priors), num_classes=len(classes))
    return DeployMetadata(
        format=MODEL_FORMAT, version=tbmm.__version__, checkpoint_sha256=file_sha256(checkpoint),
        config=osp.basename(os.fspath(config_path)), classes=classes,
        preprocess=preprocess_settings(model.cfg, model, image_size),
        anchor_generator=anchors, bbox_coder=box_coder, postprocess=postprocess,
        outputs=outputs, thresholds=_thresholds_entry(thresholds, classes))


def check_input(size, batch=2, seed=0):
    """A normalised-looking ``(batch, 3, size, size)`` float32 input for the export check: smooth
    shapes plus noise, so the head's maps are not those of a constant image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    images = []
    for i in range(batch):
        blob = np.exp(-((x - 0.3 - 0.4 * i / max(batch, 2)) ** 2 + (y - 0.5) ** 2) / 0.02)
        gray = np.sin(6 * x + i) * np.cos(4 * y) + 2 * blob + 0.3 * rng.standard_normal(x.shape)
        images.append(np.repeat(gray[None].astype(np.float32), 3, axis=0))
    return np.stack(images)


ExportCheck = namedtuple('ExportCheck', ['max_abs_diff', 'max_rel_diff', 'input_shape'])
ExportCheck.__doc__ = """onnxruntime against PyTorch on the same input: the largest absolute
difference of any raw output, that difference relative to the largest output magnitude, and the
input shape it was measured on."""


def compare_with_torch(network, onnx_path, inputs, tolerance=1e-3):
    """Run ``inputs`` through ``network`` (:class:`RawHeadOutputs`) and the ONNX file; return an
    :class:`ExportCheck`, or raise :class:`ExportError` when a relative difference exceeds
    ``tolerance``."""
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {session.get_inputs()[0].name: inputs})
    with torch.no_grad():
        expected = [t.float().cpu().numpy() for t in network(torch.from_numpy(inputs))]
    max_abs, max_rel = 0.0, 0.0
    for name, a, b in zip(names, got, expected):
        if a.shape != b.shape:
            raise ExportError(f'{onnx_path}: output {name} has shape {a.shape} in onnxruntime, '
                              f'{b.shape} in PyTorch')
        diff = float(np.abs(a - b).max()) if a.size else 0.0
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / max(1.0, float(np.abs(b).max()) if b.size else 1.0))
    if not math.isfinite(max_rel) or max_rel > tolerance:
        raise ExportError(f'{onnx_path}: onnxruntime differs from PyTorch by {max_abs:.3g} '
                          f'(relative {max_rel:.3g} > {tolerance:g}): the export is not faithful')
    return ExportCheck(max_abs, max_rel, tuple(inputs.shape))


ExportSummary = namedtuple('ExportSummary', ['path', 'metadata', 'check', 'opset'])


def export_onnx(config, checkpoint, out, image_size=None, thresholds=None, opset=MIN_OPSET,
                cfg_options=None, check=True):
    """Export ``checkpoint`` of ``config`` to the ONNX file ``out`` with its tbmm metadata.

    Args:
        config, checkpoint: as for ``tools/infer.py`` (the checkpoint's class names are used).
        out: the ``.onnx`` file to write.
        image_size: the square size images are resized to (default: the test pipeline's).
        thresholds: a ``thresholds.json`` (tools/analysis_tools/thresholds.py) stored in the
            model; the runtime then flags boxes above their class's threshold without being
            given the file.
        opset: ONNX opset, at least :data:`MIN_OPSET`.
        check: compare onnxruntime with PyTorch on a batch of two right after the export.

    Returns an :class:`ExportSummary`.
    """
    from tbmm.apis.inference import init_model

    if opset < MIN_OPSET:
        raise ExportError(f'opset {opset} is below the lowest supported, {MIN_OPSET}')
    if image_size is not None and image_size < 32:
        raise ExportError(f'--image-size must be at least 32, got {image_size}')
    cfg = load_config(config, cfg_options)
    model = init_model(cfg, checkpoint, device='cpu')
    model.eval()
    metadata = build_metadata(model, config, checkpoint, image_size, thresholds)
    out = os.fspath(out)
    network, size = write_onnx(model, metadata, out, opset)
    result = None
    if check:
        result = compare_with_torch(network, out, check_input(size, batch=2, seed=1))
    return ExportSummary(out, metadata, result, opset)


def write_onnx(model, metadata, out, opset=MIN_OPSET):
    """Trace ``model``'s network (:class:`RawHeadOutputs`) into the ONNX file ``out`` with
    ``metadata`` (:class:`DeployMetadata`) in its ``metadata_props``.

    Returns ``(network, size)``: the traced module and the square input size it was traced at
    (the resize scale rounded up to the padding divisor).
    """
    import onnx

    network = RawHeadOutputs(model).eval()
    size = max(metadata.preprocess['resize']['scale'])
    divisor = max(1, metadata.preprocess['pad_size_divisor'])
    size = int(math.ceil(size / divisor)) * divisor
    sample = torch.from_numpy(check_input(size, batch=1))
    out = ensure_parent_dir(os.fspath(out))
    names = metadata.outputs['cls_scores'] + metadata.outputs['bbox_preds']
    dynamic = {'inputs': {0: 'batch', 2: 'height', 3: 'width'}}
    dynamic.update({name: {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
                    for name in names})
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and trace notes
        torch.onnx.export(network, (sample,), out, dynamo=False, opset_version=opset,
                          input_names=['inputs'], output_names=names, dynamic_axes=dynamic,
                          do_constant_folding=True)
    proto = onnx.load(out)
    del proto.metadata_props[:]
    for key, value in metadata.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = (f'tbmm {tbmm.__version__} RetinaNet export of {metadata.config}; '
                        f'classes {", ".join(metadata.classes)}')
    onnx.checker.check_model(proto)
    onnx.save(proto, out)
    return network, size
