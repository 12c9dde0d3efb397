"""RetinaHead with batched training targets and batched score filtering at inference."""
import copy

import torch
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData

from tbmm.models.dense_heads.batched_targets_retina_head import BatchedTargetsRetinaHead


@MODELS.register_module()
class BatchedRetinaHead(BatchedTargetsRetinaHead):
    """``BatchedTargetsRetinaHead`` whose ``predict_by_feat`` selects candidates for the whole
    batch.

    mmdet's ``predict_by_feat`` loops over images and, in each, over the FPN levels, where
    ``filter_scores_and_topk`` waits for the GPU twice (``scores[mask]``, ``nonzero``): about 10
    waits per image before NMS. Here each level keeps its ``nms_pre`` best scores above
    ``score_thr`` for all images with one ``topk``, and one ``nonzero`` over the batch drops the
    rest. Boxes are then decoded per image and mmdet's own ``_bbox_post_process`` (rescale, size
    filter, class-wise NMS, ``max_per_img``) runs unchanged, so the detections equal mmdet's
    (``tests/models/test_batched_targets_retina_head.py``); only scores tied exactly at a level's
    ``nms_pre`` boundary may pick other, equal-scored, candidates (mmdet's own sort is not stable
    there either). Falls back to mmdet for score factors, softmax classification or
    ``nms_pre <= 0``.
    """

    def predict_by_feat(self, cls_scores, bbox_preds, score_factors=None, batch_img_metas=None,
                        cfg=None, rescale=False, with_nms=True):
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre = cfg.get('nms_pre', -1)
        if score_factors is not None or not self.use_sigmoid_cls or nms_pre <= 0:
            return super().predict_by_feat(cls_scores, bbox_preds, score_factors,
                                           batch_img_metas, cfg, rescale, with_nms)
        cfg = copy.deepcopy(cfg)  # as mmdet: the post-processing may change it
        num_imgs = cls_scores[0].size(0)
        num_classes = self.cls_out_channels
        box_dim = self.bbox_coder.encode_size
        score_thr = cfg.get('score_thr', 0)
        mlvl_priors = self.prior_generator.grid_priors(
            [score.shape[-2:] for score in cls_scores], dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        scores, labels, deltas, priors = [], [], [], []
        for cls_score, bbox_pred, level_priors in zip(cls_scores, bbox_preds, mlvl_priors):
            # mmdet's layout: rows (y, x, anchor), columns the classes, flattened row-major.
            level_scores = cls_score.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1).sigmoid()
            level_scores = level_scores.masked_fill(level_scores <= score_thr, -1)
            top_scores, top_index = level_scores.topk(min(nms_pre, level_scores.size(1)), dim=1)
            anchor_index = top_index // num_classes
            level_deltas = bbox_pred.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1, box_dim)
            scores.append(top_scores)
            labels.append(top_index % num_classes)
            deltas.append(level_deltas.gather(1, anchor_index.unsqueeze(-1).expand(-1, -1,
                                                                                   box_dim)))
            priors.append(get_box_tensor(level_priors)[anchor_index])
        scores, labels = torch.cat(scores, dim=1), torch.cat(labels, dim=1)
        deltas, priors = torch.cat(deltas, dim=1), torch.cat(priors, dim=1)
        keep = scores > score_thr
        # The two waits for the GPU of the whole batch: where the kept candidates are, how many.
        kept = keep.reshape(-1).nonzero().squeeze(1)
        counts = keep.sum(dim=1).tolist()
        result_list = []
        start = 0
        for img_id, (count, img_meta) in enumerate(zip(counts, batch_img_metas)):
            rows = kept[start:start + count] - img_id * keep.size(1)
            start += count
            results = InstanceData()
            results.bboxes = self.bbox_coder.decode(priors[img_id, rows], deltas[img_id, rows],
                                                    max_shape=img_meta['img_shape'])
            results.scores = scores[img_id, rows]
            results.labels = labels[img_id, rows]
            result_list.append(self._bbox_post_process(results=results, cfg=cfg,
                                                       rescale=rescale, with_nms=with_nms,
                                                       img_meta=img_meta))
        return result_list
