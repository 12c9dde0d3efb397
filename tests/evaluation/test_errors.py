"""TIDE error analysis: every kind and every ΔAP50 of a hand-made image computed by hand, the
multi-class-box rule, per-image entries, and agreement with evaluate_records on random cases."""
import pytest

from tbmm.evaluation.functional import evaluate_records
from tbmm.evaluation.functional.errors import (
    FP_KINDS,
    TRUE_POSITIVE,
    classify_errors,
    error_summary,
    gallery_selection,
    per_image_errors,
)
from tbmm.evaluation.functional.pairing import pair_records
from tests.evaluation.analysis_cases import random_case, record

CLASSES = ['Nodule', 'Mass']
N1, N2, N3, N4 = [0, 0, 100, 100], [400, 400, 500, 500], [600, 600, 700, 700], [1000, 1000, 1100,
                                                                                 1100]
M1 = [200, 200, 300, 300]
# Detection, score, and what it is (IoU against the ground truth of the one image):
DETECTIONS = [
    ('Nodule', N1, 0.90),                    # d1 true positive of N1
    ('Nodule', [0, 0, 100, 90], 0.80),       # d2 IoU 0.9 with N1, already matched: duplicate
    ('Mass', N1, 0.75),                      # d3 IoU 1 with a Nodule: wrong class (N1 matched)
    ('Nodule', M1, 0.70),                    # d4 IoU 1 with a Mass: wrong class (M1 free)
    ('Nodule', [600, 600, 700, 630], 0.60),  # d5 IoU 0.3 with N3: localisation
    ('Nodule', [800, 800, 850, 850], 0.58),  # d6 nothing near: background
    ('Nodule', N4, 0.55),                    # d7 true positive of N4
    ('Mass', [400, 400, 500, 420], 0.40),    # d8 IoU 0.2 with a Nodule only: both
]
EXPECTED_KINDS = ['tp', 'duplicate', 'wrong_class', 'wrong_class', 'localisation', 'background',
                  'tp', 'both']


def hand_case():
    gt = [record('a.png', ['Nodule', 'Mass', 'Nodule', 'Nodule', 'Nodule'], [N1, M1, N2, N3, N4])]
    pred = [record('a.png', [d[0] for d in DETECTIONS], [d[1] for d in DETECTIONS],
                   [d[2] for d in DETECTIONS])]
    return gt, pred


def test_kinds_and_missed_by_hand():
    gt, pred = hand_case()
    p = pair_records(gt, pred, CLASSES)
    e = classify_errors(p)
    kinds = ['tp' if k == TRUE_POSITIVE else FP_KINDS[k] for k in e.kind]
    assert kinds == EXPECTED_KINDS
    # Ground truth in flat order N1, M1, N2, N3, N4: N2 is TIDE's only miss (d8 is a 'both' error,
    # which covers nothing); M1 (d4) and N3 (d5) are covered by the Cls and Loc errors.
    assert e.missed.tolist() == [False, False, True, False, False]
    assert e.covered.tolist() == [False, True, False, True, False]


def test_delta_ap_by_hand():
    # Nodule: 4 ground truths; ranked d1 T, d2 F, d4 F, d5 F, d6 F, d7 T (precision 2/6 there):
    #   AP50 = 1/4 * 1 + 1/4 * 1/3 = 1/3.   Mass: 1 ground truth, d3 F, d8 F: AP50 = 0.
    # Fixes (AP50 after -> delta):
    #   wrong_class: d3 removed (its Nodule is matched), d4 becomes Mass's TP at 0.70:
    #     Nodule d1 T d2 F d5 F d6 F d7 T -> 1/4 + 1/4 * 2/5 = 0.35;  Mass d4 T d8 F -> 1
    #   localisation: d5 takes N3's box: d1 T d2 F d4 F d5 T (2/4) d6 F d7 T (3/6)
    #     -> 1/4 + 1/4 * 1/2 + 1/4 * 1/2 = 0.5
    #   both: d8 removed: nothing changes (Mass has no true positive)
    #   duplicate: d2 removed -> 1/4 + 1/4 * 2/5 = 0.35;  background: d6 removed -> 0.35
    #   missed: N2 leaves the count: 3 ground truths, d1 T ... d7 T at 2/6 -> 1/3 + 1/3 * 1/3
    #   all false positives removed: d1 T d7 T -> 1/2;  all false negatives (N2, N3; M1) removed:
    #     Nodule 2 ground truths -> 1/2 + 1/2 * 1/3 = 2/3; Mass none left -> n/a
    gt, pred = hand_case()
    p = pair_records(gt, pred, CLASSES)
    summary = error_summary(p, classify_errors(p))
    nodule, mass = summary['per_class']['Nodule'], summary['per_class']['Mass']
    assert nodule['ap50'] == pytest.approx(1 / 3) and mass['ap50'] == 0.0
    expected_nodule = {'wrong_class': 0.35, 'localisation': 0.5, 'both': 1 / 3, 'duplicate': 0.35,
                       'background': 0.35, 'missed': 1 / 3 + 1 / 9, 'all_false_positives': 0.5,
                       'all_false_negatives': 2 / 3}
    expected_mass = {'wrong_class': 1.0, 'localisation': 0.0, 'both': 0.0, 'duplicate': 0.0,
                     'background': 0.0, 'missed': 0.0, 'all_false_positives': 0.0,
                     'all_false_negatives': None}
    for error_type, value in expected_nodule.items():
        assert nodule['ap50_fixed'][error_type] == pytest.approx(value), error_type
        assert nodule['delta_ap50'][error_type] == pytest.approx(value - 1 / 3), error_type
    for error_type, value in expected_mass.items():
        assert mass['ap50_fixed'][error_type] == pytest.approx(value), error_type
    assert mass['delta_ap50']['all_false_negatives'] is None
    assert summary['overall']['delta_ap50']['wrong_class'] == pytest.approx(
        ((0.35 - 1 / 3) + 1.0) / 2)
    assert nodule['counts'] == {'tp': 2, 'duplicate': 1, 'localisation': 1, 'wrong_class': 1,
                                'both': 0, 'background': 1, 'missed': 1, 'unmatched_gt': 2}
    assert mass['counts'] == {'tp': 0, 'duplicate': 0, 'localisation': 0, 'wrong_class': 1,
                              'both': 1, 'background': 0, 'missed': 0, 'unmatched_gt': 1}
    # At 0.65 only d1..d4 count; N2, N3, N4 (its TP d7 scores 0.55) and M1 are missed there.
    at = error_summary(p, classify_errors(p), score_thr=0.65)['per_class']
    assert at['Nodule']['counts_at_thr'] == {'tp': 1, 'duplicate': 1, 'localisation': 0,
                                             'wrong_class': 1, 'both': 0, 'background': 0,
                                             'missed': 3}
    assert at['Mass']['counts_at_thr']['missed'] == 1


def test_per_image_entries_by_hand():
    gt, pred = hand_case()
    p = pair_records(gt, pred, CLASSES)
    e = classify_errors(p)
    image = per_image_errors(p, e)['images'][0]
    assert image['file_name'] == 'a.png' and image['n_gt'] == 5 and image['n_det'] == 8
    assert [(t['class'], t['score'], t['gt_index']) for t in image['tp']] == [
        ('Nodule', 0.9, 0), ('Nodule', 0.55, 4)]
    assert [(f['kind'], f['pred_index'], f.get('gt_class'), f.get('gt_index'))
            for f in image['fp']] == [
        ('duplicate', 1, 'Nodule', 0), ('wrong_class', 2, 'Nodule', 0),
        ('wrong_class', 3, 'Mass', 1), ('localisation', 4, 'Nodule', 3),
        ('background', 5, None, None), ('both', 7, 'Nodule', 2)]
    assert [f['iou'] for f in image['fp']] == pytest.approx([0.9, 1.0, 1.0, 0.3, 0.0, 0.2])
    missed = {m['gt_index']: m for m in image['missed']}
    assert sorted(missed) == [1, 2, 3]  # M1, N2, N3
    assert missed[1]['near'] == {'kind': 'wrong_class', 'class': 'Nodule', 'score': 0.7,
                                 'iou': 1.0}
    assert missed[2]['near']['kind'] == 'both' and missed[3]['near']['kind'] == 'localisation'
    # Above 0.65: d7 (N4's true positive) and the near misses d5, d8 drop out.
    image = per_image_errors(p, e, score_thr=0.65)['images'][0]
    assert len(image['tp']) == 1 and len(image['fp']) == 3
    missed = {m['gt_index']: m['near'] for m in image['missed']}
    assert sorted(missed) == [1, 2, 3, 4] and missed[2] is None and missed[4] is None
    # Galleries: highest-scoring false positives, largest missed lesions (all 100 x 100: file
    # order), per class.
    chosen = gallery_selection(p, e, n=2)
    assert chosen['Nodule']['false_positives'].tolist() == [1, 3]
    assert chosen['Mass']['false_positives'].tolist() == [2, 7]
    assert p.gt.index[chosen['Nodule']['missed']].tolist() == [2, 3]
    assert p.gt.index[chosen['Mass']['missed']].tolist() == [1]


def test_second_detection_on_a_two_class_box_is_a_duplicate_not_a_wrong_class():
    box = [10, 10, 60, 60]
    gt = [record('a.png', ['Consolidation', 'Effusion'], [box, box])]
    pred = [record('a.png', ['Consolidation', 'Consolidation'], [box, [10, 10, 60, 58]],
                   [0.9, 0.8])]
    p = pair_records(gt, pred, ['Consolidation', 'Effusion'])
    e = classify_errors(p)
    assert e.kind.tolist() == [TRUE_POSITIVE, FP_KINDS.index('duplicate')]
    # The Effusion finding is missed (no Cls error targets it).
    assert e.missed.tolist() == [False, True]
    summary = error_summary(p, e)
    assert summary['per_class']['Effusion']['delta_ap50']['wrong_class'] == 0.0


@pytest.mark.parametrize('seed', [0, 3])
def test_random_cases_agree_with_evaluate_and_add_up(seed):
    classes = ['Nodule', 'Mass', 'Effusion']
    gt, pred = random_case(seed, n_images=80)
    reference = evaluate_records(gt, pred, classes)
    p = pair_records(gt, pred, classes)
    e = classify_errors(p)
    summary = error_summary(p, e)
    for name in classes:
        entry = summary['per_class'][name]
        assert entry['ap50'] == reference['per_class'][name]['ap50']
        counts = entry['counts']
        assert counts['tp'] + sum(counts[k] for k in FP_KINDS) == entry['n_det']
        assert counts['missed'] <= counts['unmatched_gt'] == entry['n_gt'] - counts['tp']
        for error_type, delta in entry['delta_ap50'].items():
            # No fix lowers AP50 (removing false positives and adding true positives or
            # removing missed ground truth can only help).
            assert delta is None or delta >= -1e-12, (name, error_type)
        # Perfect precision bounds the false-positive fixes.
        bound = entry['ap50_fixed']['all_false_positives']
        for error_type in ('duplicate', 'background', 'both'):
            assert entry['ap50_fixed'][error_type] <= bound + 1e-12
    per_image = per_image_errors(p, e, score_thr=0.0)
    assert sum(len(im['tp']) + len(im['fp']) for im in per_image['images']) == len(p.det)
    assert sum(len(im['missed']) for im in per_image['images']) == int((p.gt_matched_by < 0).sum())


def test_background_iou_is_checked():
    gt, pred = hand_case()
    p = pair_records(gt, pred, CLASSES)
    with pytest.raises(ValueError, match='background_iou'):
        classify_errors(p, background_iou=0.7)
    # With t_b = 0.25, d8 (IoU 0.2 with a Nodule) becomes background.
    assert FP_KINDS[classify_errors(p, background_iou=0.25).kind[7]] == 'background'
