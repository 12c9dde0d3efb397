"""Test-time augmentation whose views are merged by weighted boxes fusion (WBF).

* :func:`fuse_views` merges the detections of several views of one image, class by class;
  :func:`fuse_samples` does it for ``DetDataSample`` views (flipped ones flipped back first).
* :class:`WBFTTAModel`: mmdet's ``DetTTAModel`` whose views are merged by :func:`fuse_samples`
  instead of NMS (``tools/test.py --tta`` and ``tools/infer.py --tta``; the pipeline and config
  side is in :mod:`tbmm.apis.inference`). The fold ensemble (:mod:`tbmm.apis.ensemble`) fuses its
  members' detections with the same functions.
"""
import numpy as np
import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_flip
from mmengine.structures import InstanceData

from tbmm.errors import MissingExtraError

__all__ = ['WBFTTAModel', 'fuse_samples', 'fuse_views', 'load_weighted_boxes_fusion']


def load_weighted_boxes_fusion():
    """``ensemble_boxes.weighted_boxes_fusion``, or ``MissingExtraError`` naming the package to
    install."""
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
    weighted_boxes_fusion = load_weighted_boxes_fusion()
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
        load_weighted_boxes_fusion()  # fail at build time, not after the first forward pass
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        self.iou_thr = iou_thr
        self.skip_box_thr = skip_box_thr
        self.conf_type = conf_type
        self.max_per_img = max_per_img

    def _merge_single_sample(self, data_samples):
        return fuse_samples(data_samples, self.iou_thr, self.skip_box_thr, self.conf_type,
                            self.max_per_img)
