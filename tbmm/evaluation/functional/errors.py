"""Error analysis after TIDE: what kind each false positive is, and how much AP50 each kind costs.

Definitions follow D. Bolya, S. Foley, J. Hays, J. Hoffman, "TIDE: A General Toolbox for
Identifying Object Detection Errors", ECCV 2020 (arXiv:2008.08115), Sec. 2, with the foreground
threshold t_f = ``iou_thr`` (0.5: AP50) and the background threshold t_b = ``background_iou`` (0.1).
They are implemented here from the paper, on tbmm's own matching and AP: the ``tidecv`` package
(1.0.1, 2020) needs seaborn and appdirs, which tbmm does not otherwise use, and computes COCO's
101-point AP, not the VOC 'area' AP50 that tbmm reports (:mod:`.voc`).

Detections are matched as for AP50 (:mod:`.pairing`: highest score first, each detection to the
ground truth of its class that it overlaps most). A detection that is not a true positive gets the
first of these kinds that applies (IoU with the ground truth of its own image):

=================  ==========  ===========================================================
kind               TIDE        rule
=================  ==========  ===========================================================
``duplicate``      Dupe        IoU >= t_f with a ground truth of its class (which a
                               higher-scoring detection already matched)
``localisation``   Loc         t_b <= IoU < t_f with a ground truth of its class
``wrong_class``    Cls         IoU >= t_f with a ground truth of another class
``both``           Both        t_b <= IoU < t_f with a ground truth of another class
``background``     Bkg         IoU < t_b with every ground truth
=================  ==========  ===========================================================

(TIDE tests Loc, then Cls, then Dupe. Here Dupe comes first: with boxes of several classes, e.g.
Consolidation + Effusion on one region, a second Consolidation detection on that box duplicates
the Consolidation finding; calling it a wrong class would credit it to Effusion. Dupe and Loc never
compete, their IoU ranges are disjoint.) A ground truth is ``missed`` when no detection matches it
and it is not the ground truth of a Cls or Loc error (those are accounted for there), as in TIDE.
Each error's ground truth (the one its IoU refers to) is its ``target``.

**Where the AP goes (ΔAP50).** Each kind is fixed alone, over all classes at once, by TIDE's oracle
and AP50 of every class recomputed with :func:`.voc.ap_from_ranked_matches`; the kind's ΔAP of a
class is fixed minus original AP50:

* ``wrong_class``: the detection takes its target's class and becomes a true positive of it at its
  score, if the target is not matched and no higher-scoring fixed detection took it; otherwise it
  is removed (it would be a duplicate);
* ``localisation``: the detection's box becomes its target's (same rule: true positive, or removed);
* ``both``, ``duplicate``, ``background``: the detections are removed;
* ``missed``: the missed ground truths are removed from the class's ground-truth count.

Also reported, as TIDE's bounds: ``all_false_positives`` (every false positive removed: AP50 with
perfect precision) and ``all_false_negatives`` (every unmatched ground truth removed: perfect
recall). The ΔAPs overlap (a fix can move other detections in the ranking), so they need not add up
to 1 - AP50 (TIDE Sec. 2.4). Fixing a ``wrong_class`` error changes two classes: its predicted
class loses a false positive and its target's class gains a true positive. A class whose ground
truth is all missed has no ground truth left after the ``missed`` fix: that ΔAP is n/a (None).

Counts per class come twice: over all detections (what the ΔAPs are computed on) and over the
detections at the score threshold (the operating point, what ``per_image.json`` lists). A false
positive's kind does not depend on the threshold: it only depends on higher-scoring detections.
"""
import numpy as np

from .confusion import threshold_array
from .voc import ap_from_ranked_matches

#: Kinds of false positives, in the order their rules are tested (module docstring).
FP_KINDS = ('duplicate', 'localisation', 'wrong_class', 'both', 'background')
#: Error types with a ΔAP, in TIDE's order of presentation.
ERROR_TYPES = ('wrong_class', 'localisation', 'both', 'duplicate', 'background', 'missed')
#: TIDE's short names.
TIDE_NAMES = {'wrong_class': 'Cls', 'localisation': 'Loc', 'both': 'Both', 'duplicate': 'Dupe',
              'background': 'Bkg', 'missed': 'Miss'}
#: TIDE's bounds (its "special" errors).
BOUND_TYPES = ('all_false_positives', 'all_false_negatives')
BACKGROUND_IOU = 0.1

TRUE_POSITIVE = -1
_CODE = {kind: code for code, kind in enumerate(FP_KINDS)}


class Errors:
    """Per detection ``kind`` (index into :data:`FP_KINDS`, or :data:`TRUE_POSITIVE`) and ``target``
    (ground truth its IoU refers to, -1 for background); per ground truth ``missed`` (TIDE's Miss)
    and ``covered`` (the target of a Cls or Loc error, not matched)."""


def classify_errors(pairing, background_iou=BACKGROUND_IOU):
    """Kinds and targets of every detection of a :class:`.pairing.Pairing` (an :class:`Errors`)."""
    p = pairing
    background_iou = float(background_iou)
    if not 0.0 <= background_iou <= p.iou_thr:
        raise ValueError(f'background_iou must be in [0, iou_thr={p.iou_thr:g}], '
                         f'got {background_iou:g}')
    fp = ~p.is_tp
    same, other = p.best_same_iou, p.best_other_iou
    has_same, has_other = p.best_same_gt >= 0, p.best_other_gt >= 0
    rules = (
        ('duplicate', has_same & (same >= p.iou_thr), p.best_same_gt),
        ('localisation', has_same & (same >= background_iou), p.best_same_gt),
        ('wrong_class', has_other & (other >= p.iou_thr), p.best_other_gt),
        ('both', has_other & (other >= background_iou), p.best_other_gt),
    )
    kind = np.full(len(p.det), _CODE['background'], dtype=np.int64)
    target = np.full(len(p.det), -1, dtype=np.int64)
    undecided = fp.copy()
    for name, rule, gt_index in rules:
        hit = undecided & rule
        kind[hit] = _CODE[name]
        target[hit] = gt_index[hit]
        undecided &= ~hit
    kind[p.is_tp] = TRUE_POSITIVE
    target[p.is_tp] = p.matched_gt[p.is_tp]

    e = Errors()
    e.kind, e.target, e.background_iou = kind, target, background_iou
    unmatched = p.gt_matched_by < 0
    covering = np.isin(kind, [_CODE['wrong_class'], _CODE['localisation']])
    e.covered = np.zeros(len(p.gt), dtype=bool)
    e.covered[target[covering]] = True
    e.covered &= unmatched
    e.missed = unmatched & ~e.covered
    return e


def _class_aps(pairing, labels, is_tp, keep, n_gt):
    """AP50 per class (None without ground truth) of the kept detections, in the pairing's order."""
    rank = pairing.rank
    labels, is_tp, keep = labels[rank], is_tp[rank], keep[rank]
    return [ap_from_ranked_matches(is_tp[keep & (labels == k)], int(n_gt[k]))
            for k in range(len(pairing.classes))]


def _fix_to_target(pairing, errors, code, labels, is_tp, keep):
    """TIDE's fix of Cls / Loc errors: the first (highest-scoring) error on each unmatched target
    becomes its true positive, with the target's class; the others are removed."""
    p = pairing
    ranked = p.rank[errors.kind[p.rank] == code]
    free = ranked[p.gt_matched_by[errors.target[ranked]] < 0]
    _, first = np.unique(errors.target[free], return_index=True)
    winners = free[first]
    keep[ranked] = False
    keep[winners] = True
    is_tp[winners] = True
    labels[winners] = p.gt.labels[errors.target[winners]]


def delta_ap(pairing, errors):
    """AP50 per class, and per error type (and bound) the AP50 after the fix and its ΔAP.

    Returns ``{"ap50": [per class], "fixed": {type: [per class]}, "delta": {type: [per class]}}``
    (None where n/a).
    """
    p = pairing
    base_keep = np.ones(len(p.det), dtype=bool)
    original = _class_aps(p, p.det.labels, p.is_tp, base_keep, p.n_gt)
    fixed = {}
    for error_type in ERROR_TYPES + BOUND_TYPES:
        labels, is_tp, keep = p.det.labels.copy(), p.is_tp.copy(), base_keep.copy()
        n_gt = p.n_gt.copy()
        if error_type in ('wrong_class', 'localisation'):
            _fix_to_target(p, errors, _CODE[error_type], labels, is_tp, keep)
        elif error_type in FP_KINDS:
            keep &= errors.kind != _CODE[error_type]
        elif error_type == 'missed':
            n_gt -= np.bincount(p.gt.labels[errors.missed], minlength=len(p.classes))
        elif error_type == 'all_false_positives':
            keep &= p.is_tp
        elif error_type == 'all_false_negatives':
            n_gt -= np.bincount(p.gt.labels[p.gt_matched_by < 0], minlength=len(p.classes))
        fixed[error_type] = _class_aps(p, labels, is_tp, keep, n_gt)
    delta = {t: [None if a is None or f is None else f - a for a, f in zip(original, values)]
             for t, values in fixed.items()}
    return {'ap50': original, 'fixed': fixed, 'delta': delta}


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _kind_counts(kind, labels, n_classes):
    """``{kind: per-class count}`` plus ``tp``."""
    counts = {'tp': np.bincount(labels[kind == TRUE_POSITIVE], minlength=n_classes)}
    for name, code in _CODE.items():
        counts[name] = np.bincount(labels[kind == code], minlength=n_classes)
    return counts


def error_summary(pairing, errors, score_thr=0.3, class_thresholds=None):
    """The ``errors.json`` content: per class AP50, ΔAP50 per error type, and counts.

    ``{"settings", "definitions", "per_class": {class: {"n_gt", "n_det", "ap50",
    "delta_ap50": {type: v}, "ap50_fixed": {type: v}, "counts": {...}, "counts_at_thr": {...}}},
    "overall": {"ap50", "delta_ap50": {type: mean over classes with ground truth}}}``. ``counts``
    (all detections) and ``counts_at_thr`` (detections at the threshold) have ``tp``, one entry per
    false-positive kind, and ``missed`` (TIDE's, for all detections; for the threshold: ground truth
    without a true positive at the threshold); ``counts`` also ``unmatched_gt``.
    """
    p, e = pairing, errors
    n_classes = len(p.classes)
    thr, thresholds = threshold_array(p.classes, score_thr, class_thresholds)
    above = p.det.scores >= thr[p.det.labels] if len(p.det) else np.zeros(0, dtype=bool)
    aps = delta_ap(p, e)
    all_counts = _kind_counts(e.kind, p.det.labels, n_classes)
    thr_counts = _kind_counts(e.kind[above], p.det.labels[above], n_classes)
    found_at_thr = np.zeros(len(p.gt), dtype=bool)
    found_at_thr[p.matched_gt[p.is_tp & above]] = True
    missed_at_thr = np.bincount(p.gt.labels[~found_at_thr], minlength=n_classes)
    missed_tide = np.bincount(p.gt.labels[e.missed], minlength=n_classes)
    unmatched = np.bincount(p.gt.labels[p.gt_matched_by < 0], minlength=n_classes)
    n_det = np.bincount(p.det.labels, minlength=n_classes)

    per_class = {}
    for k, name in enumerate(p.classes):
        counts = {key: int(v[k]) for key, v in all_counts.items()}
        counts['missed'] = int(missed_tide[k])
        counts['unmatched_gt'] = int(unmatched[k])
        at_thr = {key: int(v[k]) for key, v in thr_counts.items()}
        at_thr['missed'] = int(missed_at_thr[k])
        per_class[name] = {
            'n_gt': int(p.n_gt[k]), 'n_det': int(n_det[k]), 'ap50': aps['ap50'][k],
            'delta_ap50': {t: aps['delta'][t][k] for t in ERROR_TYPES + BOUND_TYPES},
            'ap50_fixed': {t: aps['fixed'][t][k] for t in ERROR_TYPES + BOUND_TYPES},
            'counts': counts, 'counts_at_thr': at_thr,
        }
    with_gt = [k for k in range(n_classes) if p.n_gt[k] > 0]
    overall = {
        'ap50': _mean(aps['ap50'][k] for k in with_gt),
        'delta_ap50': {t: _mean(aps['delta'][t][k] for k in with_gt)
                       for t in ERROR_TYPES + BOUND_TYPES},
        'n_classes_with_gt': len(with_gt),
    }
    return {
        'classes': list(p.classes),
        'settings': {'iou_thr': float(p.iou_thr), 'background_iou': e.background_iou,
                     'score_thr': thresholds},
        'definitions': {
            'reference': 'Bolya et al., TIDE: A General Toolbox for Identifying Object Detection '
                         'Errors, ECCV 2020',
            'tide_names': TIDE_NAMES,
            'duplicate': 'IoU >= iou_thr with a ground truth of its class already matched by a '
                         'higher-scoring detection; fix: removed',
            'localisation': 'background_iou <= IoU < iou_thr with a ground truth of its class; '
                            'fix: box set to that ground truth (true positive if still free, '
                            'else removed)',
            'wrong_class': 'IoU >= iou_thr with a ground truth of another class; fix: class set '
                           'to that ground truth\'s (true positive if still free, else removed)',
            'both': 'background_iou <= IoU < iou_thr with a ground truth of another class only; '
                    'fix: removed',
            'background': 'IoU < background_iou with every ground truth; fix: removed',
            'missed': 'ground truth no detection matches and no wrong_class/localisation error '
                      'targets; fix: removed from the ground-truth count',
            'delta_ap50': 'AP50 after fixing that error type alone minus AP50; over all '
                          'detections',
            'counts': 'all detections; missed = TIDE\'s missed ground truth, unmatched_gt = '
                      'every ground truth without a true positive',
            'counts_at_thr': 'detections scoring >= their class threshold; missed = ground '
                             'truth without a true positive at the threshold',
        },
        'per_class': per_class,
        'overall': overall,
        'ignored_classes': p.ignored,
    }


def per_image_errors(pairing, errors, score_thr=0.3, class_thresholds=None):
    """The ``per_image.json`` content at the score threshold, one entry per ground-truth image.

    Each image: ``{"file_name", "n_gt", "n_det", "tp": [...], "fp": [...], "missed": [...]}``.
    ``tp`` entries: ``class, score, box, iou, pred_index, gt_index``; ``fp`` entries add ``kind``
    and, unless ``background``, the ``gt_class``/``gt_index`` its ``iou`` refers to; ``missed``
    entries (ground truth without a true positive at the threshold): ``class, box, gt_index`` and
    ``near``: the highest-scoring false positive at the threshold whose target it is (kind
    wrong_class, localisation or both; ``{"kind", "class", "score", "iou"}``) or None.
    ``pred_index`` / ``gt_index`` index the record's ``boxes``.
    """
    p, e = pairing, errors
    thr, thresholds = threshold_array(p.classes, score_thr, class_thresholds)
    det, gt = p.det, p.gt
    above = det.scores >= thr[det.labels] if len(det) else np.zeros(0, dtype=bool)
    found = np.zeros(len(gt), dtype=bool)
    found[p.matched_gt[p.is_tp & above]] = True
    # The highest-scoring near miss of each ground truth.
    near_codes = [_CODE['wrong_class'], _CODE['localisation'], _CODE['both']]
    ranked = p.rank[above[p.rank] & np.isin(e.kind[p.rank], near_codes)]
    _, first = np.unique(e.target[ranked], return_index=True)
    near = np.full(len(gt), -1, dtype=np.int64)
    near[e.target[ranked[first]]] = ranked[first]
    iou = np.where(np.isin(e.kind, [TRUE_POSITIVE, _CODE['duplicate'], _CODE['localisation']]),
                   p.best_same_iou, p.best_other_iou)
    iou = np.where(e.kind == _CODE['background'], np.maximum(p.best_same_iou, p.best_other_iou),
                   iou)

    # Python lists once, not numpy scalars per field: 54,000 detections stay well under a second.
    names = list(p.classes)
    det_class, det_score = [names[k] for k in det.labels], det.scores.tolist()
    det_box, det_index, det_iou = det.boxes.tolist(), det.index.tolist(), iou.tolist()
    kind, target = e.kind.tolist(), e.target.tolist()
    gt_class, gt_box, gt_index = [names[k] for k in gt.labels], gt.boxes.tolist(), gt.index.tolist()
    near = near.tolist()

    images = []
    for i, (dets, gts) in enumerate(zip(p.det_by_image(), p.gt_by_image())):
        dets = dets[above[dets]]
        entry = {'file_name': p.file_names[i], 'n_gt': int(gts.size), 'n_det': int(dets.size),
                 'tp': [], 'fp': [], 'missed': []}
        for d in dets.tolist():
            item = {'class': det_class[d], 'score': det_score[d], 'box': det_box[d],
                    'iou': det_iou[d], 'pred_index': det_index[d]}
            g = target[d]
            if kind[d] == TRUE_POSITIVE:
                item['gt_index'] = gt_index[g]
                entry['tp'].append(item)
            else:
                item['kind'] = FP_KINDS[kind[d]]
                if g >= 0:
                    item['gt_class'] = gt_class[g]
                    item['gt_index'] = gt_index[g]
                entry['fp'].append(item)
        for g in gts[~found[gts]].tolist():
            d = near[g]
            entry['missed'].append({
                'class': gt_class[g], 'box': gt_box[g], 'gt_index': gt_index[g],
                'near': None if d < 0 else {'kind': FP_KINDS[kind[d]], 'class': det_class[d],
                                            'score': det_score[d], 'iou': det_iou[d]}})
        images.append(entry)
    totals = {key: sum(len(im[key]) for im in images) for key in ('tp', 'fp', 'missed')}
    return {
        'settings': {'iou_thr': float(p.iou_thr), 'background_iou': e.background_iou,
                     'score_thr': thresholds},
        'totals': totals,
        'images': images,
    }


def gallery_selection(pairing, errors, n=8, score_thr=0.3, class_thresholds=None):
    """Per class, the ``n`` highest-scoring false positives (detection indices, any score) and the
    ``n`` largest ground truths missed at the score threshold (ground-truth indices, by area)."""
    p, e = pairing, errors
    thr, _ = threshold_array(p.classes, score_thr, class_thresholds)
    above = p.det.scores >= thr[p.det.labels] if len(p.det) else np.zeros(0, dtype=bool)
    found = np.zeros(len(p.gt), dtype=bool)
    found[p.matched_gt[p.is_tp & above]] = True
    area = (p.gt.boxes[:, 2] - p.gt.boxes[:, 0]) * (p.gt.boxes[:, 3] - p.gt.boxes[:, 1])
    ranked_fp = p.rank[e.kind[p.rank] != TRUE_POSITIVE]
    by_area = np.argsort(-area, kind='stable')
    selection = {}
    for k, name in enumerate(p.classes):
        fps = ranked_fp[p.det.labels[ranked_fp] == k][:n]
        missed = by_area[(p.gt.labels[by_area] == k) & ~found[by_area]][:n]
        selection[name] = {'false_positives': fps, 'missed': missed}
    return selection
