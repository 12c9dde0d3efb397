"""Online ChestX-Det evaluation for MMEngine's evaluator, sharing the offline CLI's core."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from tbmm.datasets.annotations import write_annotations
from tbmm.evaluation.functional import (
    CHESTXDET_FROC_FPS,
    check_iou_threshold,
    evaluate_records,
    flat_metrics,
    format_table,
    plot_froc,
    write_result_json,
)


def _as_numpy(value):
    """Tensor, mmdet box object (``.tensor``), array or list -> numpy array on the CPU."""
    value = getattr(value, 'tensor', value)
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _class_names(labels, classes):
    # A label outside the class list keeps a visible name, so the core counts it as ignored.
    return [classes[i] if 0 <= i < len(classes) else f'label_{i}' for i in labels]


@METRICS.register_module()
class ChestXDetMetric(BaseMetric):
    """AP50 (VOC area), COCO AP, ChestX-Det10 FROC and image-level AUC on the validation/test set.

    Each processed sample becomes a ground-truth and a prediction record in the annotation format;
    :meth:`compute_metrics` runs :func:`tbmm.evaluation.functional.evaluate_records` on them, logs
    the table and returns flat metrics (see :func:`~tbmm.evaluation.functional.flat_metrics`), e.g.
    ``chestxdet/mFROC``, ``chestxdet/mAP50``, ``chestxdet/AP50/Nodule``. n/a values are omitted.

    Args:
        iou_thr: IoU threshold of AP50 and the FROC.
        froc_fps: FP/image operating points averaged into the FROC score.
        classwise: also return per-class ``AP50/<c>``, ``coco_AP/<c>`` and ``FROC/<c>``.
        outfile_prefix: when set, also write ``{prefix}.metrics.json`` (the same schema as
            ``tools/evaluate.py --out``), ``{prefix}.froc.png`` and ``{prefix}.predictions.json``
            (annotation format with scores, for re-evaluation with ``tools/evaluate.py``).
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.

    Ground-truth boxes must be in original image coordinates (``LoadAnnotations`` after
    ``Resize`` in the test pipeline); ``img_id`` is the record's file name. Ignored instances
    (``ignored_instances``) have no counterpart in the annotation format: they are counted and
    reported, not evaluated.
    """

    default_prefix: Optional[str] = 'chestxdet'

    def __init__(self, iou_thr: float = 0.5, froc_fps: Sequence[float] = CHESTXDET_FROC_FPS,
                 classwise: bool = True, outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.iou_thr = check_iou_threshold(iou_thr)  # now, not after a whole test run
        self.froc_fps = tuple(float(f) for f in froc_fps)
        self.classwise = classwise
        self.outfile_prefix = outfile_prefix

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        classes = self.dataset_meta['classes']
        for sample in data_samples:
            if 'gt_instances' not in sample:
                raise KeyError('ChestXDetMetric needs gt_instances: the test pipeline must load '
                               'annotations (LoadAnnotations after Resize)')
            file_name = str(sample['img_id'])
            gt, pred = sample['gt_instances'], sample['pred_instances']
            gt_labels = _as_numpy(gt['labels']).astype(int).tolist()
            pred_labels = _as_numpy(pred['labels']).astype(int).tolist()
            ignored = sample.get('ignored_instances') or {}
            n_ignored = len(_as_numpy(ignored['labels'])) if 'labels' in ignored else 0
            # Plain lists: picklable and cheap to gather across ranks.
            gt_record = {'file_name': file_name, 'syms': _class_names(gt_labels, classes),
                         'boxes': _as_numpy(gt['bboxes']).reshape(-1, 4).tolist()}
            pred_record = {'file_name': file_name, 'syms': _class_names(pred_labels, classes),
                           'boxes': _as_numpy(pred['bboxes']).reshape(-1, 4).tolist(),
                           'scores': _as_numpy(pred['scores']).reshape(-1).tolist()}
            self.results.append((gt_record, pred_record, n_ignored))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        gt_records = [r[0] for r in results]
        pred_records = [r[1] for r in results]
        result = evaluate_records(gt_records, pred_records, self.dataset_meta['classes'],
                                  iou_thr=self.iou_thr, froc_fps=self.froc_fps)
        n_ignored = sum(r[2] for r in results)
        if n_ignored:
            logger.warning(f'ChestXDetMetric: {n_ignored} ignored ground-truth instance(s) '
                           'were not evaluated (the annotation format has no ignore regions)')
        logger.info('ChestX-Det evaluation\n' + format_table(result))
        if self.outfile_prefix:
            json_path = f'{self.outfile_prefix}.metrics.json'
            png_path = f'{self.outfile_prefix}.froc.png'
            pred_path = f'{self.outfile_prefix}.predictions.json'
            write_result_json(result, json_path)
            plot_froc(result, png_path)
            write_annotations(pred_path, pred_records)
            logger.info(f'ChestXDetMetric wrote {json_path}, {png_path} and '
                        f'{osp.basename(pred_path)}')
        return flat_metrics(result, classwise=self.classwise)
