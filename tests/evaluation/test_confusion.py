"""Confusion matrix: hand-counted cases (one, two and three classes), boxes of several classes,
per-class thresholds, and the row/column-sum invariants on a random case."""
import numpy as np
import pytest

from tbmm.evaluation.functional import evaluate_records, match_detections
from tbmm.evaluation.functional.confusion import confusion_matrix
from tbmm.evaluation.functional.pairing import pair_records
from tests.evaluation.analysis_cases import random_case, record


def test_one_class_by_hand():
    n1, n2 = [0, 0, 10, 10], [20, 20, 30, 30]
    gt = [record('a.png', ['Nodule', 'Nodule'], [n1, n2]), record('b.png')]
    pred = [record('a.png', ['Nodule'] * 4,
                   [n1,                  # TP of n1
                    [0, 0, 10, 9],       # IoU 0.9 with n1, already found: duplicate -> background
                    [50, 50, 60, 60],    # overlaps nothing -> background
                    n2],                 # on n2 but below the threshold: not counted, n2 missed
                   [0.9, 0.8, 0.7, 0.2]),
            record('b.png', ['Nodule'], [[5, 5, 15, 15]], [0.95])]  # negative image -> background
    result = confusion_matrix(gt, pred, ['Nodule'])
    assert result['labels'] == ['Nodule', 'background']
    assert result['matrix'] == [[1, 1],
                                [3, 0]]
    assert result['settings'] == {'iou_thr': 0.5, 'score_thr': {'Nodule': 0.3}}
    assert result['n_gt'] == {'Nodule': 2} and result['n_det_above_thr'] == {'Nodule': 4}


def test_two_classes_by_hand():
    x, far = [0, 0, 10, 10], [100, 100, 110, 110]
    y = [50, 50, 80, 80]
    gt = [
        record('a.png', ['Nodule'], [x]),
        record('b.png', ['Nodule'], [x]),
        record('c.png', ['Mass'], [[0, 0, 20, 20]]),
        record('d.png', ['Nodule', 'Mass'], [y, y]),   # one finding with two classes
        record('e.png', ['Nodule', 'Mass'], [y, y]),
        record('f.png', ['Nodule', 'Nodule'], [x, far]),
    ]
    pred = [
        # a: a Mass detection on a Nodule: confusion (Nodule, Mass)
        record('a.png', ['Mass'], [x], [0.9]),
        # b: the Nodule is found by its own class (step 1 comes first, whatever the scores), so the
        # Mass detection on it is a false positive (background, Mass)
        record('b.png', ['Mass', 'Nodule'], [x, x], [0.9, 0.6]),
        # c: IoU 0.3 with the Mass: background; the Mass is missed
        record('c.png', ['Mass'], [[0, 0, 20, 6]], [0.8]),
        # d: Nodule found on the {Nodule, Mass} box; Mass missed (not a confusion Nodule -> Mass);
        # the second Nodule detection duplicates the found Nodule: background
        record('d.png', ['Nodule', 'Nodule'], [y, [51, 51, 80, 80]], [0.8, 0.7]),
        # e: both classes found
        record('e.png', ['Nodule', 'Mass'], [y, y], [0.9, 0.8]),
        # f: two Mass detections on one Nodule: the first confuses it, the second finds it taken;
        # the far Nodule is missed
        record('f.png', ['Mass', 'Mass'], [x, x], [0.9, 0.8]),
    ]
    result = confusion_matrix(gt, pred, ['Nodule', 'Mass'])
    assert result['labels'] == ['Nodule', 'Mass', 'background']
    #             pred: Nodule Mass  background
    assert result['matrix'] == [[3, 2, 1],     # gt Nodule (6): b, d, e found; a, f confused; f far
                                [0, 1, 2],     # gt Mass (3): e found; c, d missed
                                [1, 3, 0]]     # background: d duplicate; b, c, f false positives


def test_third_class_on_a_two_class_box_confuses_once():
    box = [10, 10, 50, 50]
    gt = [record('a.png', ['A', 'B'], [box, box])]
    pred = [record('a.png', ['C'], [box], [0.9])]
    result = confusion_matrix(gt, pred, ['A', 'B', 'C'])
    # C takes one of the two (the first in the file on a tie); the other is a miss.
    assert result['matrix'] == [[0, 0, 1, 0],
                                [0, 0, 0, 1],
                                [0, 0, 0, 0],
                                [0, 0, 0, 0]]


def test_confusion_prefers_a_ground_truth_not_yet_found():
    nodule, effusion = [0, 0, 100, 100], [0, 0, 100, 140]
    gt = [record('a.png', ['Nodule', 'Effusion'], [nodule, effusion])]
    # The Mass detection overlaps the Nodule most (IoU 1) but the Nodule detection found it, so
    # it confuses with the Effusion (IoU 100/140 = 0.71).
    pred = [record('a.png', ['Nodule', 'Mass'], [nodule, nodule], [0.5, 0.9])]
    result = confusion_matrix(gt, pred, ['Nodule', 'Mass', 'Effusion'])
    assert result['matrix'] == [[1, 0, 0, 0],
                                [0, 0, 0, 0],
                                [0, 1, 0, 0],
                                [0, 0, 0, 0]]


def test_per_class_thresholds_and_iou():
    box = [0, 0, 10, 10]
    gt = [record('a.png', ['Nodule', 'Mass'], [box, [20, 20, 30, 30]])]
    pred = [record('a.png', ['Nodule', 'Mass'], [box, [20, 20, 30, 28]], [0.5, 0.5])]
    both = confusion_matrix(gt, pred, ['Nodule', 'Mass'])
    assert both['matrix'] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    # Nodule's threshold above its score: the Nodule is missed, its detection not counted.
    strict = confusion_matrix(gt, pred, ['Nodule', 'Mass'], class_thresholds={'Nodule': 0.6})
    assert strict['matrix'] == [[0, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert strict['settings']['score_thr'] == {'Nodule': 0.6, 'Mass': 0.3}
    # IoU 0.8 of the Mass detection fails a 0.9 IoU threshold: a miss and a false positive.
    tight = confusion_matrix(gt, pred, ['Nodule', 'Mass'], iou_thr=0.9)
    assert tight['matrix'] == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError, match="not evaluated: 'Nodle'"):
        confusion_matrix(gt, pred, ['Nodule', 'Mass'], class_thresholds={'Nodle': 0.5})
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        confusion_matrix(gt, pred, ['Nodule', 'Mass'], score_thr=1.5)


def test_no_detections_no_ground_truth_and_unknown_classes():
    gt = [record('a.png', ['Nodule'], [[0, 0, 10, 10]]), record('b.png')]
    result = confusion_matrix(gt, [], ['Nodule', 'Mass'])
    assert result['matrix'] == [[0, 0, 1], [0, 0, 0], [0, 0, 0]]
    # Negative images only; a prediction of a class outside the list is counted, not scored.
    pred = [record('b.png', ['Mass', 'Cardiomegaly'], [[0, 0, 5, 5]] * 2, [0.9, 0.9])]
    result = confusion_matrix([record('b.png')], pred, ['Nodule', 'Mass'])
    assert result['matrix'] == [[0, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert result['ignored_classes'] == {'gt': {}, 'pred': {'Cardiomegaly': 1}}


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_every_box_counted_once_and_diagonal_is_ap_matching(seed):
    classes = ['Nodule', 'Mass', 'Effusion']
    gt, pred = random_case(seed)
    result = confusion_matrix(gt, pred, classes, score_thr=0.25)
    matrix = np.array(result['matrix'])
    assert matrix[-1, -1] == 0
    assert matrix[:-1].sum(axis=1).tolist() == [result['n_gt'][c] for c in classes]
    assert matrix[:, :-1].sum(axis=0).tolist() == [result['n_det_above_thr'][c] for c in classes]
    assert result['n_gt'] == {c: evaluate_records(gt, pred, classes)['per_class'][c]['n_gt']
                              for c in classes}
    # The diagonal: true positives at the threshold, matched like AP50 (match_detections).
    p = pair_records(gt, pred, classes)
    for k, name in enumerate(classes):
        ranked = p.rank[(p.det.labels[p.rank] == k)]
        is_tp = match_detections(p.det.boxes[ranked], p.det.images[ranked],
                                 p.gt.boxes[p.gt.labels == k], p.gt.images[p.gt.labels == k])
        assert np.array_equal(is_tp, p.is_tp[ranked])
        assert matrix[k, k] == int((is_tp & (p.det.scores[ranked] >= 0.25)).sum())
