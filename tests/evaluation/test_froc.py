"""ChestX-Det10 FROC: hand-computed cases, the read-off against scipy's interp1d, and the whole
metric against an independent plain-loop implementation of the official algorithm."""
from collections import Counter

import numpy as np
import pytest
from scipy.interpolate import interp1d

from tbmm.evaluation.functional import (
    evaluate_records,
    froc_sequence,
    match_detections,
    recall_at_fp_rates,
)

CLASSES = ('Nodule', 'Mass')


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def official_readoff(fp_per_image, recall, queries):
    """The official read-off step alone, via scipy: interp1d at min(q, last FP/image), applied to a
    given (FP/image, recall) sequence (the end-to-end reference is ``reference_froc`` below)."""
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


# --- an independent reference of the whole metric -------------------------------------------------
# Written from the published description of the ChestX-Det10 evaluation script (eval.py), not from
# its code (it has no licence) and without calling tbmm: plain loops over the records.


def reference_iou(a, b):
    """IoU in pixel counts: a box [x1, y1, x2, y2] covers (x2 - x1 + 1) x (y2 - y1 + 1) pixels."""
    inter_w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    inter_h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area_a + area_b - inter)


def reference_readoff(fps, recalls, q):
    """Recall at ``q`` FP/image from the per-detection sequence, and which case decided it.

    No FP at all: the final recall (1 when every ground truth was found, less when some were
    missed). Otherwise linear interpolation, extrapolating below the first point, at
    min(q, last FP/image) along the sequence (a single point gets (0, 0) in front of it). The
    segment used is the one ending at the first point at or beyond that FP/image (at least the
    second point). A segment of zero width (the first detection an FP, the second a TP) makes
    the script divide by zero: NaN here.
    """
    if not fps:
        return 0.0, 'no detections'
    if fps[-1] == 0:
        return recalls[-1], 'no FP, all found' if recalls[-1] == 1 else 'no FP, some missed'
    xs, ys = list(fps), list(recalls)
    if len(xs) == 1:
        xs, ys = [0.0] + xs, [0.0] + ys
    x = min(q, xs[-1])
    i = 1
    while i < len(xs) - 1 and xs[i] < x:
        i += 1
    if xs[i] == xs[i - 1]:
        return float('nan'), 'zero-width segment'
    kind = 'extrapolated' if x < xs[0] else 'interpolated'
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1]), kind


def reference_froc(gt_records, pred_records, classes, fp_rates, iou_thr=0.5):
    """{class: None (no ground truth) or [(recall, case) per FP/image rate]}.

    Per class: every ground-truth record is an evaluation image; the detections of all images
    are walked from the highest score down (equal scores in the order they are listed: records,
    then boxes); a detection hits the ground truth of its own image it overlaps most (the first
    listed on equal IoU) when that IoU >= ``iou_thr`` and no earlier detection hit it; else it is
    a false positive. After each detection: recall = hits / ground truths of the class,
    FP/image = false positives / evaluation images.
    """
    names = [r['file_name'] for r in gt_records]
    result = {}
    for cls in classes:
        truth = {name: [] for name in names}
        for r in gt_records:
            for sym, box in zip(r['syms'], r['boxes']):
                if sym == cls:
                    truth[r['file_name']].append(box)
        n_gt = sum(len(boxes) for boxes in truth.values())
        if n_gt == 0:
            result[cls] = None
            continue
        detections = []
        for r in pred_records:
            if r['file_name'] not in truth:
                continue
            for sym, box, score in zip(r['syms'], r['boxes'], r['scores']):
                if sym == cls:
                    detections.append((score, r['file_name'], box))
        detections.sort(key=lambda d: -d[0])  # list.sort is stable
        claimed = {name: [False] * len(boxes) for name, boxes in truth.items()}
        hits = false_positives = 0
        fps, recalls = [], []
        for _, name, box in detections:
            best, best_iou = None, 0.0
            for j, other in enumerate(truth[name]):
                iou = reference_iou(box, other)
                if iou > best_iou:
                    best, best_iou = j, iou
            if best is not None and best_iou >= iou_thr and not claimed[name][best]:
                claimed[name][best] = True
                hits += 1
            else:
                false_positives += 1
            fps.append(false_positives / len(names))
            recalls.append(hits / n_gt)
        result[cls] = [reference_readoff(fps, recalls, q) for q in fp_rates]
    return result


REFERENCE_CLASSES = ('Nodule', 'Mass', 'Effusion', 'Atelectasis')


def random_froc_case(rng):
    """Ground truth and predictions on a small canvas (many overlaps near the IoU threshold),
    scores from a few levels (many ties), and classes that are empty in some cases."""
    canvas = 40

    def box():
        x1, y1 = (int(v) for v in rng.integers(0, canvas - 1, 2))
        w, h = (int(v) for v in rng.integers(0, 14, 2))
        return [x1, y1, min(x1 + w, canvas), min(y1 + h, canvas)]

    def jitter(b):
        d = [int(v) for v in rng.integers(-3, 4, 4)]
        x1, y1 = b[0] + d[0], b[1] + d[1]
        return [x1, y1, max(x1, b[2] + d[2]), max(y1, b[3] + d[3])]

    n_images = int(rng.integers(1, 25))
    # Each case leaves some of the classes out of the ground truth (n/a) or out of the predictions.
    gt_classes = [c for c in REFERENCE_CLASSES if rng.random() < 0.75]
    det_classes = [c for c in REFERENCE_CLASSES if rng.random() < 0.85]
    levels = np.round(rng.random(int(rng.integers(1, 6))), 1)
    gt, pred = [], []
    for i in range(n_images):
        syms, boxes = [], []
        for _ in range(int(rng.integers(0, 4)) if gt_classes else 0):
            syms.append(str(rng.choice(gt_classes)))
            boxes.append(box())
            if rng.random() < 0.1:  # the same box twice: equal IoU, the first listed is taken
                syms.append(syms[-1])
                boxes.append(list(boxes[-1]))
        if rng.random() < 0.1:  # a class outside the list: ignored by both
            syms.append('Fracture')
            boxes.append(box())
        gt.append(record(f'img{i}', syms, boxes))
        if rng.random() < 0.2:
            continue  # no prediction record: no detections on this image
        p_syms, p_boxes = [], []
        for sym, b in zip(syms, boxes):
            for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 (a duplicate: FP) guesses
                p_syms.append(sym if rng.random() < 0.85 or not det_classes
                              else str(rng.choice(det_classes)))
                p_boxes.append(jitter(b))
        for _ in range(int(rng.integers(0, 3)) if det_classes else 0):
            p_syms.append(str(rng.choice(det_classes)))
            p_boxes.append(box())
        keep = [k for k, s in enumerate(p_syms) if s in det_classes or s == 'Fracture']
        p_scores = [float(rng.choice(levels)) for _ in keep]
        pred.append(record(f'img{i}', [p_syms[k] for k in keep], [p_boxes[k] for k in keep],
                           p_scores))
    order = rng.permutation(len(pred))  # prediction records in another order than the images
    return gt, [pred[k] for k in order]


@pytest.mark.parametrize('iou_thr', [0.5, 0.3])
def test_froc_matches_an_independent_reference_on_random_cases(iou_thr):
    rng = np.random.default_rng(2024 if iou_thr == 0.5 else 7)
    fp_rates = (0.05, 0.1, 0.2)
    cases = Counter()
    for _ in range(400):
        gt, pred = random_froc_case(rng)
        result = evaluate_records(gt, pred, REFERENCE_CLASSES, iou_thr=iou_thr)
        expected = reference_froc(gt, pred, REFERENCE_CLASSES, fp_rates, iou_thr)
        for cls in REFERENCE_CLASSES:
            entry = result['per_class'][cls]
            if expected[cls] is None:  # no ground truth: n/a
                assert all(entry[f'froc_recall@{q:g}'] is None for q in fp_rates)
                assert entry['froc_avgrecall'] is None
                cases['n/a'] += 1
                continue
            for q, (value, kind) in zip(fp_rates, expected[cls]):
                got = entry[f'froc_recall@{q:g}']
                if np.isnan(value):
                    # The script divides by zero here; tbmm documents 0 (nothing ranks above the
                    # first false positive).
                    assert got == 0.0, (cls, q, gt, pred)
                else:
                    assert got == pytest.approx(value, abs=1e-12), (cls, q, kind, gt, pred)
                cases[kind] += 1
                cases['strictly between 0 and 1'] += 0 < got < 1
            values = [0.0 if np.isnan(v) else v for v, _ in expected[cls]]
            assert entry['froc_avgrecall'] == pytest.approx(np.mean(values), abs=1e-12)
    # Every case of the algorithm was exercised, most of them often.
    for kind in ('n/a', 'no detections', 'no FP, all found', 'no FP, some missed',
                 'zero-width segment', 'extrapolated', 'interpolated',
                 'strictly between 0 and 1'):
        assert cases[kind] >= 3, (kind, cases)
    assert cases['interpolated'] > 300, cases


def test_reference_froc_reproduces_the_hand_computed_case():
    # The reference itself, on the hand-computed case of test_hand_computed_froc.
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
    expected = reference_froc(gt, pred, CLASSES, (0.05, 0.1, 0.2))
    assert [v for v, _ in expected['Nodule']] == pytest.approx([0.5, 0.75, 1.0])
    assert expected['Mass'] is None
    # Inclusive pixels: [0,0,2,2] vs [0,0,2,3] is 9 / 12.
    assert reference_iou([0, 0, 2, 2], [0, 0, 2, 3]) == 0.75
