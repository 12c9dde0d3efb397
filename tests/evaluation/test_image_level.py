"""Image-level abnormality AUC and sensitivity at 90% specificity."""
import pytest

from tbmm.evaluation.functional import evaluate_records, roc_auc, sensitivity_at_specificity


def test_auc_hand_case_with_ties():
    # Positives 0.9, 0.4, 0.4 vs negatives 0.4, 0.1: of the 6 pairs, (0.4, 0.4) twice is a tie
    # (1/2 each) and the other 4 are ordered correctly: AUC = (4 + 2 * 0.5) / 6 = 5/6.
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.4, 0.4, 0.4, 0.1]
    assert roc_auc(labels, scores) == pytest.approx(5 / 6)
    assert roc_auc([1, 1], [0.3, 0.2]) is None


def test_image_auc_through_records():
    # Image score = top box score of the evaluated classes (0 without boxes); abnormal = any GT box.
    box = (0, 0, 10, 10)
    gt = [{'file_name': f, 'syms': s, 'boxes': [box] * len(s)}
          for f, s in (('p1', ['Nodule']), ('p2', ['Mass']), ('p3', ['Nodule']), ('n1', []),
                       ('n2', []))]
    pred = [
        {'file_name': 'p1', 'syms': ['Nodule', 'Mass'], 'boxes': [box, box], 'scores': [0.9, 0.2]},
        {'file_name': 'p2', 'syms': ['Mass'], 'boxes': [box], 'scores': [0.4]},
        # p3 has no prediction record: score 0.
        {'file_name': 'n1', 'syms': ['Mass'], 'boxes': [box], 'scores': [0.4]},
        {'file_name': 'n2', 'syms': ['Pneumothorax'], 'boxes': [box], 'scores': [0.99]},  # ignored
    ]
    # Positives 0.9, 0.4, 0 vs negatives 0.4, 0: pairs 1 + 1 + 0.5 + 1 + 0 + 0.5 = 4 of 6.
    overall = evaluate_records(gt, pred, ('Nodule', 'Mass'))['overall']
    assert overall['image_auc'] == pytest.approx(4 / 6)


def test_sensitivity_at_specificity():
    # 10 negatives; threshold 0.6 leaves one (0.7) above: specificity 0.9, sensitivity 2/4.
    # Threshold 0.5 would catch 3/4 positives but two negatives (specificity 0.8).
    negatives = [0.0] * 8 + [0.5, 0.7]
    positives = [0.9, 0.6, 0.5, 0.2]
    labels = [1] * 4 + [0] * 10
    sensitivity, threshold = sensitivity_at_specificity(labels, positives + negatives, 0.9)
    assert sensitivity == 0.5 and threshold == 0.6
    assert sensitivity_at_specificity([0, 0], [0.1, 0.2]) == (None, None)
