"""evaluate_records: AP50, COCO (vs pycocotools run independently), n/a classes, bookkeeping."""
import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tbmm.evaluation.functional import evaluate_records, flat_metrics, format_table

CLASSES = ('Nodule', 'Mass', 'Fracture')
METRICS = ('ap50', 'coco_ap', 'coco_ap50', 'coco_ap75', 'froc_recall@0.05', 'froc_recall@0.1',
           'froc_recall@0.2', 'froc_avgrecall')


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def random_case(seed, n_images=40, classes=CLASSES, gt_classes=None):
    """Ground truth with small, medium and large boxes and noisy, distinctly scored predictions."""
    rng = np.random.default_rng(seed)
    gt_classes = classes if gt_classes is None else gt_classes
    gt, pred = [], []
    for i in range(n_images):
        n = int(rng.integers(0, 4))
        size = rng.choice([20.0, 60.0, 150.0], size=(n, 1)) * rng.uniform(0.8, 1.2, size=(n, 2))
        corner = rng.uniform(0, 400, size=(n, 2))
        boxes = np.hstack([corner, corner + size])
        syms = [str(s) for s in rng.choice(gt_classes, size=n)]
        gt.append(record(f'{i}.png', syms, boxes.tolist()))
        keep = rng.random(n) < 0.7
        hits = boxes[keep] + rng.normal(0, 4, size=(int(keep.sum()), 4))
        hits[:, 2:] = np.maximum(hits[:, 2:], hits[:, :2] + 1)
        m = int(rng.integers(0, 6))
        corner = rng.uniform(0, 400, size=(m, 2))
        noise = np.hstack([corner, corner + rng.uniform(10, 160, size=(m, 2))])
        pred_syms = [s for s, k in zip(syms, keep) if k] + [str(s) for s in rng.choice(classes, m)]
        pred.append(record(f'{i}.png', pred_syms, np.vstack([hits, noise]).tolist(),
                           rng.random(len(pred_syms)).tolist()))
    return gt, pred


def test_ground_truth_as_predictions_scores_one():
    gt, _ = random_case(1)
    pred = [dict(r, scores=[1.0] * len(r['boxes'])) for r in gt]
    result = evaluate_records(gt, pred, CLASSES)
    for name in CLASSES:
        for key in METRICS:
            assert result['per_class'][name][key] == pytest.approx(1.0), (name, key)
    for key in METRICS:
        assert result['overall'][key] == pytest.approx(1.0)
    assert result['overall']['image_auc'] == 1.0
    assert result['overall']['image_sens@spec0.9'] == 1.0


def test_empty_predictions_score_zero():
    gt, _ = random_case(2)
    result = evaluate_records(gt, [], CLASSES)
    for key in METRICS:
        assert result['overall'][key] == 0.0
    assert result['overall']['image_auc'] == 0.5  # every image scores 0: all ties
    assert result['overall']['image_sens@spec0.9'] == 0.0
    assert result['overall']['image_threshold@spec0.9'] is None  # nothing may be called abnormal


def test_ap50_hand_computed():
    # Nodule: 2 GT. Ranked detections TP (0.9), FP (0.8), TP (0.7):
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; interpolated precision is 1 up to recall 1/2
    # and 2/3 up to 1, so AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    gt = [record('a', ['Nodule'], [(0, 0, 10, 10)]), record('b', ['Nodule'], [(0, 0, 10, 10)])]
    pred = [record('a', ['Nodule', 'Nodule'], [(0, 0, 10, 10), (50, 50, 60, 60)], [0.9, 0.8]),
            record('b', ['Nodule'], [(1, 0, 10, 10)], [0.7])]
    nodule = evaluate_records(gt, pred, CLASSES)['per_class']['Nodule']
    assert nodule['ap50'] == pytest.approx(5 / 6)


def test_identical_boxes_of_different_classes_are_separate_ground_truths():
    box = (100, 100, 180, 170)
    gt = [record('x.png', ['Nodule', 'Mass'], [box, box]), record('y.png')]
    both = evaluate_records(gt, [record('x.png', ['Nodule', 'Mass'], [box, box], [0.9, 0.8])],
                            CLASSES)
    for name in ('Nodule', 'Mass'):
        entry = both['per_class'][name]
        assert entry['n_gt'] == 1
        assert entry['ap50'] == 1.0 and entry['froc_avgrecall'] == 1.0
        assert entry['coco_ap'] == pytest.approx(1.0)  # COCO's precision is tp / (tp + fp + eps)
    only_nodule = evaluate_records(gt, [record('x.png', ['Nodule'], [box], [0.9])], CLASSES)
    assert only_nodule['per_class']['Nodule']['ap50'] == 1.0
    assert only_nodule['per_class']['Mass']['ap50'] == 0.0
    assert only_nodule['per_class']['Mass']['froc_avgrecall'] == 0.0


def test_class_without_ground_truth_is_na_and_excluded_from_means():
    gt, pred = random_case(3, gt_classes=('Nodule', 'Mass'))  # Fracture is only predicted
    result = evaluate_records(gt, pred, CLASSES)
    fracture = result['per_class']['Fracture']
    assert fracture['n_gt'] == 0 and fracture['n_det'] > 0
    for key in METRICS + ('coco_ap_s', 'coco_ap_m', 'coco_ap_l'):
        assert fracture[key] is None
    assert result['overall']['na_classes'] == ['Fracture']
    assert result['overall']['n_classes_with_gt'] == 2
    for key in METRICS:
        expected = np.mean([result['per_class'][c][key] for c in ('Nodule', 'Mass')])
        assert result['overall'][key] == pytest.approx(expected)
    table = format_table(result)
    assert 'n/a' in table and 'Fracture' in table and 'excluded from the means' in table
    assert 'mean (2/3 classes)' in table
    flat = flat_metrics(result)
    assert 'AP50/Nodule' in flat and 'AP50/Fracture' not in flat and 'FROC/Fracture' not in flat
    assert all(np.isfinite(v) for v in flat.values())


def test_unknown_classes_and_files_are_counted_not_evaluated():
    gt = [record('a', ['Nodule', 'Pneumothorax'], [(0, 0, 10, 10), (0, 0, 10, 10)])]
    pred = [record('a', ['Nodule', 'Cardiomegaly'], [(0, 0, 10, 10), (5, 5, 9, 9)], [0.9, 0.95]),
            record('elsewhere.png', ['Nodule'], [(0, 0, 10, 10)], [0.9])]
    result = evaluate_records(gt, pred, CLASSES)
    assert result['ignored_classes'] == {'gt': {'Pneumothorax': 1}, 'pred': {'Cardiomegaly': 1}}
    assert result['images']['n_pred_files_not_in_gt'] == 1
    assert result['images']['pred_files_not_in_gt'] == ['elsewhere.png']
    assert result['per_class']['Nodule']['ap50'] == 1.0
    assert result['overall']['n_gt'] == 1 and result['overall']['n_det'] == 1
    assert 'Cardiomegaly x1' in format_table(result)


@pytest.mark.parametrize('iou_thr', [0, -2, 1.5])
def test_iou_threshold_outside_0_1_is_rejected(iou_thr):
    with pytest.raises(ValueError, match=r'iou_thr must be in \(0, 1\]'):
        evaluate_records([record('a')], [], CLASSES, iou_thr=iou_thr)


def test_detection_in_an_image_without_ground_truth_never_matches():
    from tbmm.evaluation.functional import match_detections

    # Image 1 has no Nodule: its detection is compared with no box, not with image 0's padding.
    is_tp = match_detections([[0, 0, 10, 10], [0, 0, 10, 10]], [1, 0],
                             [[0, 0, 10, 10]], [0], iou_thr=1.0)
    assert is_tp.tolist() == [False, True]


def test_predictions_of_another_image_set_are_rejected():
    gt = [record('a.png', ['Nodule'], [[0, 0, 10, 10]])]
    pred = [record('x.png', ['Nodule'], [[0, 0, 10, 10]], [0.9]), record('y.png', scores=[])]
    with pytest.raises(ValueError, match="none of the 2 prediction records is for an image of "
                                         "the ground truth .first: 'x.png'"):
        evaluate_records(gt, pred, CLASSES)
    # One matching record is enough: the others are counted, and no predictions at all is valid.
    assert evaluate_records(gt, pred + [record('a.png', scores=[])], CLASSES)['images'][
        'n_pred_files_not_in_gt'] == 2
    assert evaluate_records(gt, [], CLASSES)['overall']['ap50'] == 0.0


def test_duplicate_file_names_are_rejected():
    with pytest.raises(ValueError, match='duplicate'):
        evaluate_records([record('a'), record('a')], [], CLASSES)


def _pycocotools_stats(gt, pred, classes, cat_ids=None):
    """COCOeval run the usual way (JSON-like dicts, loadRes), independent of tbmm's COCO code."""
    images = [{'id': i} for i in range(len(gt))]
    id_of = {r['file_name']: i for i, r in enumerate(gt)}
    anns = []
    for r in gt:
        for sym, (x1, y1, x2, y2) in zip(r['syms'], r['boxes']):
            anns.append({'id': len(anns) + 1, 'image_id': id_of[r['file_name']],
                         'category_id': classes.index(sym), 'bbox': [x1, y1, x2 - x1, y2 - y1],
                         'area': (x2 - x1) * (y2 - y1), 'iscrowd': 0})
    dets = [{'image_id': id_of[r['file_name']], 'category_id': classes.index(sym),
             'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': s}
            for r in pred for sym, (x1, y1, x2, y2), s in zip(r['syms'], r['boxes'], r['scores'])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {'images': images, 'annotations': anns,
                           'categories': [{'id': k} for k in range(len(classes))]}
        coco_gt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(dets), 'bbox')
        if cat_ids is not None:
            coco_eval.params.catIds = cat_ids
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


def test_coco_numbers_equal_pycocotools():
    gt, pred = random_case(4, n_images=60, gt_classes=('Nodule', 'Mass'))
    result = evaluate_records(gt, pred, CLASSES)
    keys = ('coco_ap', 'coco_ap50', 'coco_ap75', 'coco_ap_s', 'coco_ap_m', 'coco_ap_l')
    stats = _pycocotools_stats(gt, pred, CLASSES)
    for key, expected in zip(keys, stats[:6]):
        assert result['overall'][key] == pytest.approx(expected, abs=1e-6), key
    for k, name in enumerate(CLASSES):
        stats = _pycocotools_stats(gt, pred, CLASSES, cat_ids=[k])
        for key, expected in zip(keys, stats[:6]):
            got = result['per_class'][name][key]
            if expected == -1:  # COCO's "no ground truth here"
                assert got is None, (name, key)
            else:
                assert got == pytest.approx(expected, abs=1e-6), (name, key)
    assert result['per_class']['Nodule']['coco_ap'] > 0.1  # a meaningful case, not all zeros


def test_ap50_equals_mmdet_eval_map():
    mean_ap = pytest.importorskip('mmdet.evaluation.functional.mean_ap',
                                  reason='mmdet needs mmcv with compiled ops')
    gt, pred = random_case(5, n_images=50)
    result = evaluate_records(gt, pred, CLASSES)
    det_results, annotations = [], []
    for g, p in zip(gt, pred):
        per_class = []
        for name in CLASSES:
            rows = [b + [s] for sym, b, s in zip(p['syms'], p['boxes'], p['scores']) if sym == name]
            per_class.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
        det_results.append(per_class)
        annotations.append({
            'bboxes': np.array(g['boxes'], dtype=np.float32).reshape(-1, 4),
            'labels': np.array([CLASSES.index(s) for s in g['syms']], dtype=np.int64),
            'bboxes_ignore': np.zeros((0, 4), dtype=np.float32),
            'labels_ignore': np.zeros((0, ), dtype=np.int64)})
    _, per_class = mean_ap.eval_map(det_results, annotations, iou_thr=0.5, nproc=1,
                                    logger='silent', eval_mode='area')
    for name, mmdet_result in zip(CLASSES, per_class):
        assert mmdet_result['num_gts'] == result['per_class'][name]['n_gt']
        assert result['per_class'][name]['ap50'] == pytest.approx(mmdet_result['ap'], abs=1e-6)
