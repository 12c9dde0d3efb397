"""Inference speed of an exported model in onnxruntime against stock MMDetection, in one process.

:func:`compare_onnx_with_stock` builds stock MMDetection's ``retinanet_r101_fpn_1x_coco.py`` (random
weights from a seed: speed does not depend on them; the chest classes), exports that very model
with :func:`tbmm.apis.export.write_onnx`, and times one image at a time, both at float32 on the
same synthetic ``size x size`` radiograph, turn about (so a load change on a shared machine hits
both alike):

* stock: ``model.test_step`` (normalise, pad, network, anchors, decoding, NMS), torch's threads
  as given;
* onnxruntime: :meth:`tbmm.deploy.OnnxDetector.predict` (normalise, pad, network in onnxruntime
  with all graph optimisations, numpy decoding and NMS), onnxruntime's intra-op threads as given.

Image reading and resizing are left out of both (the same code in both tools). The detections of
the two are compared too, so a fast but wrong export cannot pass unnoticed.

With ``precision='int8'`` a third contender joins the turn: the same ONNX model quantised by
:func:`tbmm.deploy.quantize.quantize_int8` (calibrated on other synthetic radiographs). Stock
MMDetection stays float32 (it offers no int8 inference), so its ratio is across precisions and is
reported beside the same-precision float32 one, never instead of it.

The command line is ``tools/analysis_tools/benchmark.py --task infer --backend onnxruntime
--compare-stock [--precision int8]``.
"""
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import torch

from tbmm.utils import cpu_name

STOCK_CONFIG = 'mmdet::retinanet/retinanet_r101_fpn_1x_coco.py'
CANDIDATE_LOGIT = -2.9  # sigmoid: 0.052, just above the 0.05 test threshold


def synthetic_radiograph(size, seed=0):
    """A ``size x size`` gray ``uint8`` image with smooth structures and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    lungs = np.exp(-((x - 0.3) ** 2 / 0.02 + (y - 0.5) ** 2 / 0.08))
    lungs += np.exp(-((x - 0.7) ** 2 / 0.02 + (y - 0.5) ** 2 / 0.08))
    gray = 180 - 90 * lungs + 10 * np.sin(40 * y) + rng.normal(0, 6, (size, size))
    return np.clip(gray, 0, 255).astype(np.uint8)


def build_stock_model(num_classes, seed=0):
    """Stock MMDetection R-101 RetinaNet (random weights, eval mode, CPU) and its config; the
    classifier's bias puts the scores around the test threshold (see below)."""
    from mmdet.registry import MODELS
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope

    cfg = get_config(STOCK_CONFIG)  # resolved in the installed mmdet package: no download
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = num_classes
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # A fresh head scores every anchor ~0.01, below the 0.05 test threshold, which would leave
    # decoding and NMS idle; just above it, every level sends its nms_pre candidates on: the
    # most work decoding and NMS can have (more than a trained model's few hundred).
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(CANDIDATE_LOGIT)
    model.cfg = cfg
    return model.eval(), cfg


def _stock_data(gray):
    from mmdet.structures import DetDataSample

    height, width = gray.shape
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    image = torch.from_numpy(np.ascontiguousarray(np.repeat(gray[None], 3, axis=0)))
    return dict(inputs=[image], data_samples=[sample])


def _deploy_metadata(model, cfg, classes, size):
    from tbmm.apis.export import head_settings
    from tbmm.deploy.metadata import MODEL_FORMAT, DeployMetadata

    anchors, box_coder, postprocess = head_settings(model.bbox_head)
    preprocessor = model.data_preprocessor
    n_levels = len(anchors['strides'])
    return DeployMetadata(
        format=MODEL_FORMAT, version='speed-test', checkpoint_sha256='', config=STOCK_CONFIG,
        classes=tuple(classes),
        preprocess=dict(load_channels=1, resize=dict(scale=[size, size], keep_ratio=True,
                                                     interpolation='bilinear'),
                        input_channels=3, mean=preprocessor.mean.reshape(-1).tolist(),
                        std=preprocessor.std.reshape(-1).tolist(), bgr_to_rgb=True,
                        pad_size_divisor=int(preprocessor.pad_size_divisor),
                        pad_value=float(preprocessor.pad_value)),
        anchor_generator=anchors, bbox_coder=box_coder, postprocess=postprocess,
        outputs=dict(cls_scores=[f'cls_score_{i}' for i in range(n_levels)],
                     bbox_preds=[f'bbox_pred_{i}' for i in range(n_levels)],
                     num_anchors=int(model.bbox_head.num_base_priors),
                     num_classes=len(classes)))


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare_onnx_with_stock(size=1024, iters=5, warmup=1, threads=None, classes=None, seed=0,
                            providers=('CPUExecutionProvider',), work_dir=None,
                            precision='float32', calibration_count=2):
    """Time stock MMDetection and onnxruntime on one image, turn about; return a result dict.

    Args:
        size: the image side (1024: the main configs' input).
        iters, warmup: timed and untimed runs of each.
        threads: torch's and onnxruntime's intra-op threads (None: their defaults).
        classes: class names (default: the 9 ChestX-Det classes).
        providers: onnxruntime execution providers.
        work_dir: where the ONNX file goes (default: a temporary folder, removed after).
        precision: ``'float32'``, or ``'int8'`` to time an int8 copy of the ONNX model too.
        calibration_count: with int8, synthetic radiographs (seeds after ``seed``) calibrating it.

    The dict holds per backend the median and all seconds per image, the ratio stock/onnx
    (how many times faster onnxruntime is), and how the two sets of detections compare; with
    int8, an ``int8`` entry holds the same for the int8 model (``ratio``: stock float32 / int8,
    ``ratio_vs_onnx_float32``: onnxruntime float32 / int8).
    """
    from tbmm.apis.export import write_onnx
    from tbmm.classes import DEFAULT_CLASSES
    from tbmm.deploy.runtime import OnnxDetector

    classes = tuple(classes or DEFAULT_CLASSES)
    if threads:
        torch.set_num_threads(int(threads))
    model, cfg = build_stock_model(len(classes), seed)
    gray = synthetic_radiograph(size, seed)
    data = _stock_data(gray)
    if precision not in ('float32', 'int8'):
        raise ValueError(f"precision must be 'float32' or 'int8', got {precision!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(work_dir or tmp, 'stock_r101.onnx')
        write_onnx(model, _deploy_metadata(model, cfg, classes, size), path)
        contenders = {'onnx': OnnxDetector(path, providers=providers, intra_op_threads=threads)}
        quantized = None
        if precision == 'int8':
            quantized, quantize_s = _quantize(path, tmp, size, seed, calibration_count)
            contenders['int8'] = OnnxDetector(quantized.path, providers=providers,
                                              intra_op_threads=threads)
        times = {name: [] for name in ('stock', *contenders)}
        outputs = {}
        with torch.no_grad():
            for i in range(warmup + iters):
                seconds, outputs['stock'] = _timed(lambda: model.test_step(data))
                if i >= warmup:
                    times['stock'].append(seconds)
                for name, detector in contenders.items():
                    seconds, outputs[name] = _timed(lambda: detector.predict([gray]))
                    if i >= warmup:
                        times[name].append(seconds)
        providers_used = contenders['onnx'].providers
    stock_scores = outputs['stock'][0].pred_instances.scores.numpy()
    scores = outputs['onnx'][0][1]
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=f'{cpu_name()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}',
        torch=torch.__version__, onnxruntime=_onnxruntime_version(),
        size=size, iters=iters, warmup=warmup, threads=threads,
        torch_threads=torch.get_num_threads(),
        providers=providers_used,
        precision=('float32 (both)' if quantized is None
                   else 'stock float32; onnxruntime float32 and int8'),
        stock_config=STOCK_CONFIG,
        stock_s=times['stock'], onnx_s=times['onnx'], stock_median_s=medians['stock'],
        onnx_median_s=medians['onnx'], ratio=medians['stock'] / medians['onnx'],
        detections=dict(stock=int(len(stock_scores)), onnx=int(len(scores)),
                        max_score_diff=_max_score_diff(stock_scores, scores)))
    if quantized is not None:
        int8_scores = outputs['int8'][0][1]
        result['int8'] = dict(
            onnx_s=times['int8'], onnx_median_s=medians['int8'],
            ratio=medians['stock'] / medians['int8'],
            ratio_vs_onnx_float32=medians['onnx'] / medians['int8'],
            detections=dict(onnx=int(len(int8_scores)),
                            max_score_diff_vs_stock=_max_score_diff(stock_scores, int8_scores)),
            quantization=quantized.settings, quantize_s=quantize_s,
            check=quantized.check)
    return result


def _quantize(path, tmp, size, seed, count):
    """An int8 copy of the ONNX file ``path`` calibrated on ``count`` synthetic radiographs of
    seeds after ``seed`` (not the timed image); returns ``(QuantizeSummary, seconds)``."""
    import cv2

    from tbmm.deploy.quantize import quantize_int8

    folder = os.path.join(tmp, 'calibration')
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        cv2.imwrite(os.path.join(folder, f'{i:03d}.png'), synthetic_radiograph(size, seed + 1 + i))
    start = time.perf_counter()
    summary = quantize_int8(path, os.path.splitext(path)[0] + '.int8.onnx', folder, count=count)
    return summary, time.perf_counter() - start


def _max_score_diff(a, b):
    if len(a) != len(b) or not len(a):
        return None
    return float(np.abs(np.sort(a)[::-1] - np.sort(b)[::-1]).max())


def _onnxruntime_version():
    import onnxruntime
    return onnxruntime.__version__
