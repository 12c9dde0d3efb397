"""shared_box_scores: each class's best score on the boxes annotated with several classes."""
import pytest

from tbmm.evaluation.functional.shared_boxes import shared_box_scores, summarize_shared_box_scores

CLASSES = ('Consolidation', 'Effusion', 'Mass')
SHARED = [10, 10, 50, 50]


def test_best_score_per_class_on_each_shared_box():
    gt = [
        # one box with two classes, a lone box, and the lone class repeated at the shared box
        {'file_name': 'a.png', 'syms': ['Consolidation', 'Effusion', 'Mass'],
         'boxes': [SHARED, SHARED, [60, 60, 90, 90]]},
        {'file_name': 'b.png', 'syms': ['Mass'], 'boxes': [[0, 0, 20, 20]]},  # nothing shared
        {'file_name': 'c.png', 'syms': ['Effusion', 'Mass', 'Consolidation'],
         'boxes': [SHARED, SHARED, SHARED]},  # three classes on one box, no prediction record
    ]
    pred = [
        {'file_name': 'a.png',
         'syms': ['Consolidation', 'Consolidation', 'Effusion', 'Effusion', 'Mass'],
         # IoU with SHARED: 1, 1, 0.8, 0.36, 1
         'boxes': [SHARED, [10, 10, 50, 50], [10, 10, 42, 50], [10, 10, 50, 24.4], SHARED],
         'scores': [0.2, 0.7, 0.6, 0.9, 0.8]},
        {'file_name': 'b.png', 'syms': ['Mass'], 'boxes': [[0, 0, 20, 20]], 'scores': [0.5]},
    ]
    entries = shared_box_scores(gt, pred, CLASSES)
    assert [(e['file_name'], e['box']) for e in entries] == [('a.png', SHARED), ('c.png', SHARED)]
    # a.png: Consolidation's best of 0.2 and 0.7; Effusion 0.6 (IoU 0.8; the 0.9 one has IoU
    # 0.36); Mass is not annotated on that box, so its 0.8 takes no part.
    assert entries[0]['scores'] == {'Consolidation': 0.7, 'Effusion': 0.6}
    # c.png has no prediction record: every class scores 0; classes in CLASSES order.
    assert list(entries[1]['scores']) == ['Consolidation', 'Effusion', 'Mass']
    assert set(entries[1]['scores'].values()) == {0.0}
    summary = summarize_shared_box_scores(entries)
    assert summary == {'boxes': 2, 'mean_weaker_score': pytest.approx(0.3),
                       'mean_stronger_score': pytest.approx(0.35)}


def test_iou_threshold_and_listed_classes():
    gt = [{'file_name': 'a.png', 'syms': ['Consolidation', 'Effusion', 'Fracture'],
           'boxes': [SHARED, SHARED, SHARED]}]
    # 40 x 20 of the 40 x 40 box: IoU 0.5 exactly
    pred = [{'file_name': 'a.png', 'syms': ['Effusion'], 'boxes': [[10, 10, 50, 30]],
             'scores': [0.4]}]
    at_half = shared_box_scores(gt, pred, CLASSES, iou_thr=0.5)
    assert at_half[0]['scores'] == {'Consolidation': 0.0, 'Effusion': 0.4}  # Fracture not listed
    assert shared_box_scores(gt, pred, CLASSES, iou_thr=0.51)[0]['scores']['Effusion'] == 0.0
    # with Fracture left out of the classes, one class remains: no shared box
    assert shared_box_scores(gt, pred, ('Consolidation', 'Mass')) == []
    assert summarize_shared_box_scores([]) == {'boxes': 0, 'mean_weaker_score': None,
                                               'mean_stronger_score': None}
