"""ChestXDetMetric fed with DetDataSample.to_dict()-style samples."""
import json

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')

from tbmm.evaluation.functional import evaluate_records  # noqa: E402
from tbmm.evaluation.metrics import ChestXDetMetric  # noqa: E402

CLASSES = ('Nodule', 'Mass', 'Fracture')


def sample(img_id, gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels):
    return {
        'img_id': img_id,
        'ori_shape': (512, 512),
        'gt_instances': {'bboxes': torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
                         'labels': torch.tensor(gt_labels, dtype=torch.int64)},
        'ignored_instances': {},
        'pred_instances': {'bboxes': torch.tensor(pred_boxes, dtype=torch.float32).reshape(-1, 4),
                           'scores': torch.tensor(pred_scores, dtype=torch.float32),
                           'labels': torch.tensor(pred_labels, dtype=torch.int64)},
    }


def batches():
    a, b, far = [10, 10, 60, 60], [100, 100, 180, 200], [300, 300, 340, 350]
    return [
        [sample('1.png', [a, b], [0, 1], [a, far, b], [0.9, 0.8, 0.3], [0, 0, 1]),
         sample('2.png', [a], [0], [], [], [])],
        [sample('3.png', [], [], [far], [0.6], [1])],
    ]


def test_flat_metrics_match_the_core(tmp_path):
    metric = ChestXDetMetric(outfile_prefix=str(tmp_path / 'eval' / 'val'))
    metric.dataset_meta = {'classes': CLASSES}
    for batch in batches():
        metric.process({}, batch)
    assert len(metric.results) == 3  # one entry per sample, so collect_results can truncate
    metrics = metric.evaluate(size=3)

    gt = [{'file_name': '1.png', 'syms': ['Nodule', 'Mass'],
           'boxes': [[10, 10, 60, 60], [100, 100, 180, 200]]},
          {'file_name': '2.png', 'syms': ['Nodule'], 'boxes': [[10, 10, 60, 60]]},
          {'file_name': '3.png', 'syms': [], 'boxes': []}]
    pred = [{'file_name': '1.png', 'syms': ['Nodule', 'Nodule', 'Mass'],
             'boxes': [[10, 10, 60, 60], [300, 300, 340, 350], [100, 100, 180, 200]],
             'scores': [0.9, 0.8, 0.3]},
            {'file_name': '3.png', 'syms': ['Mass'], 'boxes': [[300, 300, 340, 350]],
             'scores': [0.6]}]
    expected = evaluate_records(gt, pred, CLASSES)
    overall = expected['overall']
    assert metrics['chestxdet/mAP50'] == pytest.approx(overall['ap50'])
    assert metrics['chestxdet/mFROC'] == pytest.approx(overall['froc_avgrecall'])
    assert metrics['chestxdet/coco_mAP'] == pytest.approx(overall['coco_ap'])
    assert metrics['chestxdet/image_auc'] == pytest.approx(overall['image_auc'])
    assert metrics['chestxdet/AP50/Nodule'] == pytest.approx(
        expected['per_class']['Nodule']['ap50'])
    # Mass: the FP on 3.png (0.6) outranks the TP on 1.png (0.3): precision 1/2 at recall 1.
    assert metrics['chestxdet/AP50/Mass'] == 0.5
    assert metrics['chestxdet/FROC/Mass'] == pytest.approx(
        expected['per_class']['Mass']['froc_avgrecall'])
    # Fracture has no ground truth: n/a values are left out, never NaN.
    assert not any('Fracture' in key for key in metrics)
    assert {'chestxdet/mFROC@0.05', 'chestxdet/mFROC@0.1', 'chestxdet/mFROC@0.2',
            'chestxdet/coco_mAP50', 'chestxdet/image_sens@spec0.9'} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())

    written = json.loads((tmp_path / 'eval' / 'val.metrics.json').read_text())
    assert written['overall']['ap50'] == pytest.approx(overall['ap50'])
    assert (tmp_path / 'eval' / 'val.froc.png').stat().st_size > 0
    predictions = json.loads((tmp_path / 'eval' / 'val.predictions.json').read_text())
    assert [r['file_name'] for r in predictions] == ['1.png', '2.png', '3.png']
    assert metric.results == []  # evaluate() resets for the next validation round


def test_registered_and_not_classwise():
    from mmdet.registry import METRICS
    metric = METRICS.build({'type': 'ChestXDetMetric', 'classwise': False})
    metric.dataset_meta = {'classes': CLASSES}
    for batch in batches():
        metric.process({}, batch)
    metrics = metric.compute_metrics(metric.results)
    assert 'mAP50' in metrics and not any('/' in key for key in metrics)


def test_bad_iou_threshold_fails_when_the_metric_is_built():
    from mmdet.registry import METRICS
    with pytest.raises(ValueError, match=r'iou_thr must be in \(0, 1\], got 0'):
        METRICS.build({'type': 'ChestXDetMetric', 'iou_thr': 0})
