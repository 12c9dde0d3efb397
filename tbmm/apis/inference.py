"""Run a trained detector on image files and turn its output into prediction records."""
import copy
import os.path as osp

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import init_detector
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tbmm.apis.runner import load_config


def init_model(config, checkpoint, device='cpu', cfg_options=None):
    """Build the detector of ``config`` with the weights of ``checkpoint`` (classes from the checkpoint)."""
    cfg = config if isinstance(config, Config) else load_config(config, cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    # No ImageNet download: the checkpoint holds every weight.
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return init_detector(cfg, checkpoint, device=device)


def build_inference_pipeline(cfg):
    """The config's test pipeline without annotation loading (new images have none)."""
    pipeline = [t for t in copy.deepcopy(get_test_pipeline_cfg(cfg))
                if t['type'] not in ('LoadAnnotations', 'mmdet.LoadAnnotations')]
    return Compose(pipeline)


def predict_files(model, paths, batch_size=1, pipeline=None):
    """Yield ``(path, DetDataSample or exception)`` for each path, ``batch_size`` images per forward.

    An unreadable file yields its exception instead of stopping the run.
    """
    pipeline = pipeline or build_inference_pipeline(model.cfg)
    batch = []

    def flush():
        if not batch:
            return []
        data = dict(inputs=[b[1]['inputs'] for b in batch],
                    data_samples=[b[1]['data_samples'] for b in batch])
        with torch.no_grad():
            samples = model.test_step(data)
        out = [(b[0], s) for b, s in zip(batch, samples)]
        batch.clear()
        return out

    for path in paths:
        try:
            packed = pipeline(dict(img_path=str(path), img_id=osp.basename(str(path))))
        except Exception as e:  # reported per file by the caller, the others still run
            yield str(path), e
            continue
        batch.append((str(path), packed))
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def sample_to_record(file_name, data_sample, classes, score_thr=0.0):
    """A prediction record (annotation format + ``scores``) from a model output, boxes in image pixels."""
    pred = data_sample.pred_instances
    scores = pred.scores.detach().cpu().numpy()
    keep = scores >= score_thr
    boxes = pred.bboxes.detach().cpu().numpy()[keep]
    labels = pred.labels.detach().cpu().numpy()[keep]
    scores = scores[keep]
    order = np.argsort(-scores, kind='stable')
    return dict(
        file_name=file_name,
        syms=[classes[int(labels[i])] for i in order],
        boxes=[[round(float(v), 1) for v in boxes[i]] for i in order],
        scores=[round(float(scores[i]), 4) for i in order])
