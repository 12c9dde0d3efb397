"""How a detector scores the boxes annotated with several classes (one finding, two labels).

mmdet's single-label targets give each anchor one class: on a box annotated Consolidation and
Effusion they train one of the two as present and the other as *absent* right there, where the
label-set head (``tbmm.models.MultiLabelRetinaHead``) trains both. A trained detector shows the
difference in the scores it gives such a box: :func:`shared_box_scores` reads, for every box
position with two or more classes, each class's best detection score on it, and
:func:`summarize_shared_box_scores` averages the *weaker* class's (the one single-label targets
teach as absent). Same record format as :func:`.evaluate_records`.
"""
import numpy as np

from .matching import box_iou, check_iou_threshold


def shared_box_scores(gt_records, pred_records, classes, iou_thr=0.5):
    """Each class's best score on every ground-truth box position with two or more classes.

    A position is an image and its four coordinates (as ``tbmm.analysis.stats.shared_boxes``
    counts them); only ``classes`` take part. A class's best score is the highest score of a
    prediction of that class in the same image whose IoU with the box (continuous coordinates)
    is at least ``iou_thr``, 0.0 where there is none (also for images without a prediction
    record). Returns ``[{"file_name", "box", "scores": {class: best score}}]`` in record order.
    """
    iou_thr = check_iou_threshold(iou_thr)
    wanted = set(classes)
    predictions = {record['file_name']: record for record in pred_records}
    entries = []
    for record in gt_records:
        positions = {}
        for name, box in zip(record['syms'], record['boxes']):
            if name in wanted:
                positions.setdefault(tuple(box), set()).add(name)
        shared = [(box, names) for box, names in positions.items() if len(names) > 1]
        if not shared:
            continue
        pred = predictions.get(record['file_name'], {'syms': [], 'boxes': [], 'scores': []})
        pred_boxes = np.asarray(pred['boxes'], dtype=np.float64).reshape(-1, 4)
        pred_scores = np.asarray(pred['scores'], dtype=np.float64)
        pred_names = np.asarray(pred['syms'], dtype=object)
        for box, names in shared:
            overlaps = box_iou(pred_boxes, np.asarray(box, dtype=np.float64)[None])
            scores = {}
            for name in sorted(names, key=list(classes).index):
                hits = pred_scores[(pred_names == name) & (overlaps >= iou_thr)]
                scores[name] = float(hits.max()) if hits.size else 0.0
            entries.append({'file_name': record['file_name'], 'box': list(box),
                            'scores': scores})
    return entries


def summarize_shared_box_scores(entries):
    """``{"boxes", "mean_weaker_score", "mean_stronger_score"}`` of :func:`shared_box_scores`'
    entries: per box the lowest and the highest of its classes' best scores, averaged over the
    boxes (None without any box)."""
    weaker = [min(entry['scores'].values()) for entry in entries]
    stronger = [max(entry['scores'].values()) for entry in entries]
    return {'boxes': len(entries),
            'mean_weaker_score': float(np.mean(weaker)) if entries else None,
            'mean_stronger_score': float(np.mean(stronger)) if entries else None}
