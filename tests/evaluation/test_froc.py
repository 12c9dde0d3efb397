"""ChestX-Det10 FROC: hand-computed cases and agreement with the official interp1d read-off."""
import numpy as np
import pytest
from scipy.interpolate import interp1d

from tbmm.evaluation.functional import (evaluate_records, froc_sequence, match_detections,
                                        recall_at_fp_rates)

CLASSES = ('Nodule', 'Mass')


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def official_readoff(fp_per_image, recall, queries):
    """What the official script computes, via scipy: interp1d at min(q, last FP/image)."""
    fp_per_image, recall = np.asarray(fp_per_image), np.asarray(recall)
    if len(fp_per_image) == 1:  # the script prepends (0, 0) to a single point
        fp_per_image, recall = np.r_[0.0, fp_per_image], np.r_[0.0, recall]
    f = interp1d(fp_per_image, recall, fill_value='extrapolate')
    with np.errstate(divide='ignore', invalid='ignore'):
        return f(np.minimum(queries, fp_per_image[-1]))


def test_hand_computed_froc():
    # 20 evaluation images; Nodule ground truth: a, b in img0, c in img1, d in img2 (4 in all);
    # img3..img19 have none. Detections by score, with (FP/image = FPs / 20, recall = hits / 4):
    #   d1 0.95 img0 = a          TP  (0.00, 1/4)
    #   d2 0.90 img1 = c          TP  (0.00, 2/4)
    #   d3 0.85 img5 (negative)   FP  (0.05, 2/4)
    #   d4 0.80 img0 = b          TP  (0.05, 3/4)
    #   d5 0.75 img0 ~ a again    FP  (0.10, 3/4)   a is already hit
    #   d6 0.70 img2 far from d   FP  (0.15, 3/4)   IoU 0
    #   d7 0.65 img2 = d          TP  (0.15, 4/4)
    #   d8 0.60 img19 (negative)  FP  (0.20, 4/4)
    # Recall at q = recall of the last detection with FP/image < q:
    #   q=0.05 -> d2: 0.50;  q=0.1 -> d4: 0.75;  q=0.2 -> d7: 1.00;  avgrecall = 2.25 / 3 = 0.75.
    # Beyond the last FP/image (0.2) the value at 0.2 holds: 1.0 for the 0.25 ... 8 curve points.
    a, b, c, d = (0, 0, 99, 99), (200, 200, 299, 299), (0, 0, 99, 99), (0, 0, 49, 49)
    gt = [record('img0', ['Nodule', 'Nodule'], [a, b]), record('img1', ['Nodule'], [c]),
          record('img2', ['Nodule'], [d])] + [record(f'img{i}') for i in range(3, 20)]
    pred = [
        record('img0', ['Nodule'] * 3, [a, b, (2, 2, 99, 99)], [0.95, 0.80, 0.75]),
        record('img1', ['Nodule'], [c], [0.90]),
        record('img5', ['Nodule'], [(10, 10, 50, 50)], [0.85]),
        record('img2', ['Nodule', 'Nodule'], [(300, 300, 400, 400), d], [0.70, 0.65]),
        record('img19', ['Nodule'], [(0, 0, 10, 10)], [0.60]),
    ]
    nodule = evaluate_records(gt, pred, CLASSES)['per_class']['Nodule']
    assert nodule['froc_recall@0.05'] == pytest.approx(0.50)
    assert nodule['froc_recall@0.1'] == pytest.approx(0.75)
    assert nodule['froc_recall@0.2'] == pytest.approx(1.00)
    assert nodule['froc_avgrecall'] == pytest.approx(0.75)
    assert nodule['froc_curve'] == pytest.approx(
        {'0.125': 0.75, '0.25': 1.0, '0.5': 1.0, '1': 1.0, '2': 1.0, '4': 1.0, '8': 1.0})


def test_readoff_equals_scipy_interp1d_on_random_sequences():
    rng = np.random.default_rng(0)
    queries = np.array([0.05, 0.1, 0.2, 0.125, 0.25, 0.5, 1, 2, 4, 8])
    checked = 0
    for _ in range(300):
        n_images = int(rng.integers(1, 30))
        is_tp = rng.random(int(rng.integers(1, 60))) < rng.random()
        n_gt = int(is_tp.sum()) + int(rng.integers(0, 3))
        if n_gt == 0:
            continue
        fp, recall = froc_sequence(is_tp, n_gt, n_images)
        ours = recall_at_fp_rates(fp, recall, queries)
        if fp[-1] == 0:
            continue  # the script bypasses interp1d here (covered in test_special_cases)
        official = official_readoff(fp, recall, queries)
        finite = np.isfinite(official)
        # Non-finite only in the documented degenerate case: an FP ranked first, a TP second.
        assert finite.all() or (not is_tp[0] and is_tp[1])
        np.testing.assert_allclose(ours[finite], official[finite], rtol=0, atol=1e-12)
        assert ((ours >= 0) & (ours <= 1)).all()
        checked += 1
    assert checked > 200


def test_special_cases():
    queries = [0.05, 0.1, 0.2]
    # All detections TPs hitting every GT: 1.
    assert recall_at_fp_rates(*froc_sequence([True, True], 2, 10), queries).tolist() == [1, 1, 1]
    # All TPs but a GT missed: FP/image stays 0, the final recall holds.
    assert recall_at_fp_rates(*froc_sequence([True], 2, 10), queries).tolist() == [0.5] * 3
    # No detections: 0. A single FP: 0 (the script prepends (0, 0)).
    assert recall_at_fp_rates([], [], queries).tolist() == [0, 0, 0]
    assert recall_at_fp_rates(*froc_sequence([False], 2, 10), queries).tolist() == [0, 0, 0]
    # Official quirk kept: a TP ranked below the last FP is not credited at or beyond it.
    fp, recall = froc_sequence([True, False, True], 2, 1)
    assert recall_at_fp_rates(fp, recall, [0.05, 8]).tolist() == [0.5, 0.5]
    assert official_readoff(fp, recall, [0.05, 8]).tolist() == [0.5, 0.5]
    # Degenerate for the script (FP first, then TP; NaN/-inf there): 0 here.
    fp, recall = froc_sequence([False, True], 1, 10)
    assert recall_at_fp_rates(fp, recall, queries).tolist() == [0, 0, 0]
    assert not np.isfinite(official_readoff(fp, recall, queries)).all()


def test_matching_takes_best_overlap_and_uses_inclusive_pixels():
    gt = np.array([[0, 0, 9, 9], [0, 0, 8, 9]], dtype=float)
    # Best overlap is gt 0 (identical); the second detection's best is also gt 0, already hit,
    # so it is a FP even though gt 1 would match it: the official greedy rule.
    dets = np.array([[0, 0, 9, 9], [0, 0, 9, 9]], dtype=float)
    assert match_detections(dets, [0, 0], gt, [0, 0], inclusive_pixels=True).tolist() == [True,
                                                                                           False]
    # [0,0,2,2] vs [0,0,2,3]: inclusive pixels 9/12 = 0.75 (official FROC), continuous 4/6 = 0.67.
    assert match_detections([[0, 0, 2, 2]], [0], [[0, 0, 2, 3]], [0], 0.7,
                            inclusive_pixels=True).tolist() == [True]
    assert match_detections([[0, 0, 2, 2]], [0], [[0, 0, 2, 3]], [0], 0.7,
                            inclusive_pixels=False).tolist() == [False]


def test_negative_images_count_in_fp_per_image():
    # 10 positive images with one Nodule each, all found: TP scores 0.90, 0.89, ..., 0.81.
    box = (10, 10, 60, 60)
    gt = [record(f'pos{i}', ['Nodule'], [box]) for i in range(10)]
    pred = [record(f'pos{i}', ['Nodule'], [box], [0.90 - 0.01 * i]) for i in range(10)]
    negatives_gt = [record(f'neg{i}') for i in range(20)]
    assert evaluate_records(gt, pred, CLASSES)['per_class']['Nodule']['froc_avgrecall'] == 1.0

    # One FP on each of 10 negative images, ranked right after each TP (TP, FP, TP, FP, ...).
    negatives_pred = [record(f'neg{i}', ['Nodule'], [box], [0.895 - 0.01 * i]) for i in range(10)]
    # Listed only in the predictions they are not evaluation images: counted, ignored.
    ignored = evaluate_records(gt, pred + negatives_pred, CLASSES)
    assert ignored['per_class']['Nodule']['froc_avgrecall'] == 1.0
    assert ignored['images']['n_pred_files_not_in_gt'] == 10

    # As negative ground-truth images (20 images): after k FPs FP/image = k/20, recall after
    # j TPs = j/10; points (0, .1) (.05, .1) (.05, .2) (.1, .2) (.1, .3) (.15, .3) (.15, .4)
    # (.2, .4) ...
    # Recall of the last point with FP/image < q: 0.05 -> .1, 0.1 -> .2, 0.2 -> .4; mean 0.7/3.
    result = evaluate_records(gt + negatives_gt[:10], pred + negatives_pred, CLASSES)
    nodule = result['per_class']['Nodule']
    assert result['images']['n_negative'] == 10
    assert [nodule[f'froc_recall@{q}'] for q in ('0.05', '0.1', '0.2')] == pytest.approx(
        [0.1, 0.2, 0.4])
    assert nodule['froc_avgrecall'] == pytest.approx(0.7 / 3)

    # 10 more negatives without detections: 30 images, FP/image = k/30, so the same FPs cost less.
    # Points (0, .1) (1/30, .1) (1/30, .2) (2/30, .2) (2/30, .3) ... (5/30, .6) (6/30, .6) ...
    # 0.05 -> (1/30, .2); 0.1 = 3/30 -> (2/30, .3); 0.2 = 6/30 -> (5/30, .6); mean 1.1/3.
    result = evaluate_records(gt + negatives_gt, pred + negatives_pred, CLASSES)
    nodule = result['per_class']['Nodule']
    assert [nodule[f'froc_recall@{q}'] for q in ('0.05', '0.1', '0.2')] == pytest.approx(
        [0.2, 0.3, 0.6])
    assert nodule['froc_avgrecall'] == pytest.approx(1.1 / 3)
