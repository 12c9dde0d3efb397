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
the two are compared too, so a fast but wrong export cannot pass unnoticed. ``tools/onnx_speed.py``
is the command line. (The benchmark tool was being moved into ``tbmm/benchmark/`` when this was
written, so this module stands alone; ``--backend onnxruntime`` there is still to do.)
"""
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import torch

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
                            providers=('CPUExecutionProvider',), work_dir=None):
    """Time stock MMDetection and onnxruntime on one image, turn about; return a result dict.

    Args:
        size: the image side (1024: the main configs' input).
        iters, warmup: timed and untimed runs of each.
        threads: torch's and onnxruntime's intra-op threads (None: their defaults).
        classes: class names (default: the 9 ChestX-Det classes).
        providers: onnxruntime execution providers.
        work_dir: where the ONNX file goes (default: a temporary folder, removed after).

    The dict holds per backend the median and all seconds per image, the ratio stock/onnx
    (how many times faster onnxruntime is), and how the two sets of detections compare.
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
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(work_dir or tmp, 'stock_r101.onnx')
        write_onnx(model, _deploy_metadata(model, cfg, classes, size), path)
        detector = OnnxDetector(path, providers=providers, intra_op_threads=threads)
        stock_times, onnx_times = [], []
        with torch.no_grad():
            for i in range(warmup + iters):
                stock_s, stock_out = _timed(lambda: model.test_step(data))
                onnx_s, onnx_out = _timed(lambda: detector.predict([gray]))
                if i >= warmup:
                    stock_times.append(stock_s)
                    onnx_times.append(onnx_s)
        providers_used = detector.providers
    stock_pred = stock_out[0].pred_instances
    boxes, scores, labels = onnx_out[0]
    stock_median, onnx_median = statistics.median(stock_times), statistics.median(onnx_times)
    return dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=f'{_cpu_name()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}',
        torch=torch.__version__, onnxruntime=_onnxruntime_version(),
        size=size, iters=iters, warmup=warmup, threads=threads,
        torch_threads=torch.get_num_threads(),
        providers=providers_used, precision='float32 (both)', stock_config=STOCK_CONFIG,
        stock_s=stock_times, onnx_s=onnx_times, stock_median_s=stock_median,
        onnx_median_s=onnx_median, ratio=stock_median / onnx_median,
        detections=dict(stock=int(len(stock_pred.scores)), onnx=int(len(scores)),
                        max_score_diff=_max_score_diff(stock_pred.scores.numpy(), scores)))


def _max_score_diff(a, b):
    if len(a) != len(b) or not len(a):
        return None
    return float(np.abs(np.sort(a)[::-1] - np.sort(b)[::-1]).max())


def _cpu_name():
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _onnxruntime_version():
    import onnxruntime
    return onnxruntime.__version__
