"""Prediction records (the annotation format plus ``scores``) from detections in numpy arrays.

The format ``tools/infer.py`` and ``python -m tbmm.deploy`` write to ``predictions.json`` and
``tools/evaluate.py`` reads: ``file_name``, ``syms``, ``boxes`` (``[x1, y1, x2, y2]`` in image
pixels), ``scores``, highest score first, an image-level ``abnormal_score`` (the highest box score,
0 without boxes) and, with per-class operating thresholds, ``above_threshold`` per box.
"""
import numpy as np


def prediction_record(file_name, boxes, scores, labels, classes, score_thr=0.0):
    """The record of one image's detections (``boxes (n, 4)``, ``scores (n,)``, ``labels (n,)``
    indexing ``classes``), boxes scoring below ``score_thr`` left out."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    keep = scores >= score_thr
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    order = np.argsort(-scores, kind='stable')
    # Rounded only below what could change a result: 4 decimals made scores tie and moved the
    # image-level threshold away from what tools/test.py computes on the same outputs.
    return dict(
        file_name=file_name,
        syms=[classes[int(labels[i])] for i in order],
        boxes=[[round(float(v), 2) for v in boxes[i]] for i in order],
        scores=[round(float(scores[i]), 6) for i in order])


def add_image_fields(record, thresholds=None):
    """Add ``abnormal_score`` and, given ``{class: threshold}``, ``above_threshold`` per box
    (``score >= threshold`` of its class) to ``record`` in place; return whether the image has a
    finding above threshold (``None`` without thresholds)."""
    record['abnormal_score'] = max(record['scores'], default=0.0)
    if thresholds is None:
        return None
    record['above_threshold'] = [bool(score >= thresholds[name])
                                 for name, score in zip(record['syms'], record['scores'])]
    return any(record['above_threshold'])
