"""Bootstrap confidence intervals of the evaluation metrics, resampling images or patients.

One concept: one vectorised resampling of every metric; its weighted-count kernels share the
rankings (``_Sequence``) and blocks of :class:`BootstrapCase`, so they stay one module.

:func:`bootstrap_intervals` draws ``n_resamples`` resamples of the evaluation set with replacement,
either image by image or, given a group id per image (:func:`group_ids`: one patient), group by
group, so that a patient's images are always drawn together. Each metric is recomputed on every
resample and its interval is the percentile interval of the resampled values (numpy's default
linear interpolation between order statistics): for ``confidence=0.95`` the 2.5th and 97.5th
percentiles.

Vectorised. Matching is per image, so a detection's true/false-positive status does not change
when images are drawn again: an image drawn m times contributes its detections and its ground truth
m times. The flags are computed once (``ap50`` and FROC by :func:`.match_detections`, COCO by
pycocotools' own ``evaluateImg``); a resample is then a vector of per-image counts, and every metric
is a function of weighted cumulative sums along the score ranking, where a detection's weight is its
image's count (FP/image divides by the resample's image count). Only the true-positive positions
are read (precision only falls at a false positive, and the FROC read-off and COCO's recall
thresholds only look at points where recall rises), so a block of resamples costs one running sum
of the weights over each class's ranking and small (resamples x true positives) arrays. The tests
check that a resample's numbers equal :func:`.evaluate_records` run on the explicitly duplicated
records.

Metrics: per class ``ap50``, ``coco_ap`` (AP@[.5:.95], all areas) and ``froc_avgrecall``; overall
their means over the classes that have ground truth in the resample (as :func:`.evaluate_records`
averages), and ``image_auc``. A resample without ground truth of a class leaves that class out of
its mean and out of the class's own interval (so the interval is conditional on the class being
present; ``n_resamples_na`` counts such resamples). A class seen in few images therefore also
makes the mean's interval a mixture of resamples with and without it.

Ties: the point estimate ranks equal scores as :func:`.evaluate_records` does (equal, tests). A
resample ranks all copies of a detection together, where ``evaluate_records`` on duplicated records
would interleave the copies of two different detections of equal score by record order; the
reference check uses distinct scores.
"""
import contextlib
import io

import numpy as np
from pycocotools.cocoeval import COCOeval

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.split import group_ids  # noqa: F401  (re-exported: patients of file names)

from .coco import build_coco_pair
from .evaluate import flatten_records
from .froc import CHESTXDET_FROC_FPS
from .matching import check_iou_threshold, match_detections, rank_by_score

#: Metrics with an interval per class; the overall entry has their class means plus image_auc.
CLASS_METRICS = ('ap50', 'coco_ap', 'froc_avgrecall')
OVERALL_METRICS = CLASS_METRICS + ('image_auc', )
# Resamples evaluated at once, and the cap on (resamples x detections of a class) elements of one
# block's running sums (16 M int32 = 64 MB), so that a large pooled set does not exhaust memory.
_BLOCK = 250
_MAX_BLOCK_ELEMENTS = 16_000_000


def ci_key(metric, confidence=0.95):
    """``'ap50', 0.95 -> 'ap50_ci95'``: the key of an interval next to its value."""
    return f'{metric}_ci{100 * confidence:g}'.replace('.', '_')


class _Sequence:
    """One score ranking of a class's detections with one or more sets of true-positive flags.

    Keeps the image of each ranked detection, the union of the sets' true-positive positions, and
    for each set the image of each true positive in rank order and its column in that union.
    """

    def __init__(self, det_images, tp_sets):
        self.det_images = np.asarray(det_images, dtype=np.int64)
        tp_sets = [np.asarray(tp, dtype=bool) for tp in tp_sets]
        self.positions = (np.flatnonzero(np.logical_or.reduce(tp_sets))
                          if tp_sets and self.det_images.size else np.zeros(0, dtype=np.int64))
        self.tp_images = [self.det_images[tp] for tp in tp_sets]
        self.tp_columns = [np.searchsorted(self.positions, np.flatnonzero(tp)) for tp in tp_sets]

    def ranked_so_far(self, counts):
        """Weighted detections ranked at or above each listed position, and in all: (R, P), (R,).

        Exact integers (as float64), so dividing them reproduces the unweighted code's floats.
        """
        if self.det_images.size == 0:
            return np.zeros((counts.shape[0], 0)), np.zeros(counts.shape[0])
        cumulative = np.cumsum(counts[:, self.det_images], axis=1, dtype=counts.dtype)
        return (cumulative[:, self.positions].astype(np.float64),
                cumulative[:, -1].astype(np.float64))


def _coco_sequences(n_images, n_classes, gt, det):
    """Per class, COCO's detection ranking and true-positive flags at its 10 IoU thresholds, and
    COCO's recall thresholds.

    Runs pycocotools' ``evaluate`` for the 'all' area range at maxDets=100 and reads each
    detection's matches off ``evalImgs``, ranked as ``COCOeval.accumulate`` ranks them.
    """
    coco_gt, coco_dt = build_coco_pair(n_images, n_classes, gt.boxes, gt.labels, gt.images,
                                       det.boxes, det.scores, det.labels, det.images)
    coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
    params = coco_eval.params
    params.maxDets = [100]
    all_areas = params.areaRngLbl.index('all')
    params.areaRng, params.areaRngLbl = [params.areaRng[all_areas]], ['all']
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
    per_class = [([], [], []) for _ in range(n_classes)]  # det index, score, matches (T x D)
    for entry in coco_eval.evalImgs:  # class by class, images in id order, as accumulate reads
        if entry is None or not entry['dtIds']:
            continue
        if np.any(entry['dtIgnore']) or np.any(entry['gtIgnore']):
            # Only crowd boxes or ground truth outside [0, 1e10] px² would be ignored here.
            raise ValueError('COCO ignored a box in the all-area range; not supported')
        index, scores, matches = per_class[entry['category_id'] - 1]
        index.extend(np.asarray(entry['dtIds']) - 1)  # annotation id j + 1, see build_coco_pair
        scores.extend(entry['dtScores'])
        matches.append(entry['dtMatches'] > 0)
    sequences = []
    n_thrs = len(params.iouThrs)
    for index, scores, matches in per_class:
        index = np.asarray(index, dtype=np.int64)
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='mergesort')
        matched = np.concatenate(matches, axis=1)[:, order] if matches else np.zeros((n_thrs, 0))
        sequences.append(_Sequence(det.images[index[order]], list(matched.astype(bool))))
    return sequences, np.asarray(params.recThrs, dtype=np.float64)


class BootstrapCase:
    """Everything resampling needs, computed once from the records; see :func:`metrics_for_counts`.

    Args as :func:`.evaluate_records` (``iou_thr`` for ``ap50`` and the FROC, ``froc_fps`` the
    FP/image points averaged into ``froc_avgrecall``).
    """

    def __init__(self, gt_records, pred_records, classes=DEFAULT_CLASSES, iou_thr=0.5,
                 froc_fps=CHESTXDET_FROC_FPS):
        iou_thr = check_iou_threshold(iou_thr)
        self.classes = [str(c) for c in classes]
        self.froc_fps = tuple(float(f) for f in froc_fps)
        class_index = {name: k for k, name in enumerate(self.classes)}
        self.file_names = [record['file_name'] for record in gt_records]
        image_index = {}
        for name in self.file_names:
            if name in image_index:
                raise ValueError(f'gt: duplicate file_name {name!r}')
            image_index[name] = len(image_index)
        n_images = self.n_images = len(image_index)
        if n_images == 0:
            raise ValueError('no ground-truth images to evaluate')
        gt, _, _ = flatten_records(gt_records, image_index, class_index, 'gt')
        det, _, unknown = flatten_records(pred_records, image_index, class_index, 'pred')
        if pred_records and len(unknown) == len(pred_records):
            raise ValueError(f'none of the {len(pred_records)} prediction records is for an image '
                             f'of the ground truth (first: {unknown[0]!r})')
        n_classes = len(self.classes)

        self.voc, self.n_gt_full = [], []
        for k in range(n_classes):
            in_gt = gt.labels == k
            in_det = np.flatnonzero(det.labels == k)
            ranked = in_det[rank_by_score(det.scores[in_det])]
            flags = [match_detections(det.boxes[ranked], det.images[ranked], gt.boxes[in_gt],
                                      gt.images[in_gt], iou_thr, inclusive_pixels=inclusive)
                     for inclusive in (False, True)]  # ap50: continuous; FROC: +1 pixel rule
            self.voc.append(_Sequence(det.images[ranked], flags))
            self.n_gt_full.append(int(in_gt.sum()))
        self.coco, self.coco_recall_thrs = _coco_sequences(n_images, n_classes, gt, det)
        self.max_class_detections = max(
            [s.det_images.size for s in self.voc + self.coco], default=0)

        # Image level: abnormal = any ground truth of the classes; score = top box score. Images
        # sorted by score, and where each run of equal scores starts.
        self.is_abnormal = np.bincount(gt.images, minlength=n_images) > 0
        image_score = np.zeros(n_images)
        if det.labels.size:
            np.maximum.at(image_score, det.images, det.scores)
        self.score_order = np.argsort(image_score, kind='stable')
        sorted_scores = image_score[self.score_order]
        self.level_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        self.gt_per_image = np.zeros((n_images, n_classes))
        np.add.at(self.gt_per_image, (gt.images, gt.labels), 1.0)
        self._max_dets = max(1, int(np.bincount(det.images, minlength=1).max(initial=0)))

    def estimate(self):
        """The metrics of the evaluation set itself (every image once)."""
        return _first_row(self.metrics_for_counts(np.ones((1, self.n_images), dtype=np.int64)))

    def metrics_for_counts(self, counts):
        """Metrics of resamples given as per-image counts, (R, n_images) -> arrays of R values.

        Returns ``{'per_class': {name: {metric: (R,)}}, 'overall': {metric: (R,)}}`` with NaN where
        a metric is n/a (class without ground truth in that resample; AUC without both kinds of
        image). Counts need not sum to n_images (a resample of patients varies in size).
        """
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[1] != self.n_images:
            raise ValueError(f'counts must be (resamples, {self.n_images}), got {counts.shape}')
        if np.any(counts < 0) or np.any(counts != np.round(counts)):
            raise ValueError('counts must be non-negative integers')
        weights = counts.astype(np.float64)
        # int32 running sums are half the memory traffic of int64 and exact below 2**31.
        counts = counts.astype(np.int32 if weights.sum(axis=1).max(initial=0) * self._max_dets
                               < 2**31 else np.int64)
        n_images = weights.sum(axis=1)
        n_gt = weights @ self.gt_per_image
        per_class = {}
        with np.errstate(invalid='ignore', divide='ignore'):
            for k, name in enumerate(self.classes):
                voc, coco = self.voc[k], self.coco[k]
                class_gt = n_gt[:, k]
                has_gt = class_gt > 0
                ranked, total = voc.ranked_so_far(counts)
                ap50 = _voc_ap(weights, voc, 0, ranked, class_gt)
                froc = _froc_avgrecall(weights, voc, 1, ranked, total, class_gt, n_images,
                                       self.froc_fps)
                ranked, _ = coco.ranked_so_far(counts)
                coco_ap = np.mean([_coco_ap(weights, coco, t, ranked, class_gt,
                                            self.coco_recall_thrs)
                                   for t in range(len(coco.tp_images))], axis=0)
                per_class[name] = {
                    'ap50': np.where(has_gt, ap50, np.nan),
                    'coco_ap': np.where(has_gt, coco_ap, np.nan),
                    'froc_avgrecall': np.where(has_gt, froc, np.nan),
                }
            overall = {}
            for metric in CLASS_METRICS:
                stacked = np.stack([per_class[name][metric] for name in self.classes])
                valid = ~np.isnan(stacked)
                overall[metric] = np.where(valid.any(axis=0),
                                           np.nansum(stacked, axis=0) / valid.sum(axis=0), np.nan)
            by_score = weights[:, self.score_order]
            abnormal = self.is_abnormal[self.score_order]
            overall['image_auc'] = _auc(
                np.add.reduceat(by_score * abnormal, self.level_starts, axis=1),
                np.add.reduceat(by_score * ~abnormal, self.level_starts, axis=1))
        return {'per_class': per_class, 'overall': overall}


def _tp_cumulative(weights, sequence, flag_set, ranked):
    """At each true positive of a flag set, (R, T) each: its weight, the weighted true positives
    and the weighted detections ranked at or above it."""
    tp_weight = weights[:, sequence.tp_images[flag_set]]
    return tp_weight, np.cumsum(tp_weight, axis=1), ranked[:, sequence.tp_columns[flag_set]]


def _voc_ap(weights, sequence, flag_set, ranked, n_gt):
    """VOC 'area' AP (:func:`.ap_from_ranked_matches`) with weighted detections."""
    tp_weight, tp, ranked = _tp_cumulative(weights, sequence, flag_set, ranked)
    if tp.shape[1] == 0:
        return np.zeros(weights.shape[0])
    precision = np.where(ranked > 0, tp / np.where(ranked > 0, ranked, 1.0), 0.0)
    # Interpolated precision: the best at this or any later true positive (false positives only
    # lower precision, so the best later point is a true positive).
    interpolated = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    return (tp_weight * interpolated).sum(axis=1) / n_gt


def _froc_avgrecall(weights, sequence, flag_set, ranked, total, n_gt, n_images, fp_rates):
    """Mean recall at ``fp_rates`` FP/image read off as :func:`.recall_at_fp_rates` does.

    Recall at q is that of the last detection whose FP/image < min(q, last FP/image): the highest
    recall among true positives below that level, since recall only rises at true positives and
    FP/image never falls.
    """
    _, tp, ranked = _tp_cumulative(weights, sequence, flag_set, ranked)
    total_tp = tp[:, -1] if tp.shape[1] else np.zeros(weights.shape[0])
    fp_per_image = (ranked - tp) / n_images[:, None]
    last_fp = (total - total_tp) / n_images
    recalls = []
    for q in fp_rates:
        query = np.minimum(q, last_fp)
        below = fp_per_image < query[:, None]
        hits = np.where(below, tp, 0.0).max(axis=1) if tp.shape[1] else total_tp
        # No false positive at all (last FP/image 0): the final recall.
        recalls.append(np.where(last_fp == 0, total_tp, hits) / n_gt)
    return np.mean(recalls, axis=0)


def _coco_ap(weights, sequence, flag_set, ranked, n_gt, recall_thrs):
    """COCOeval.accumulate's AP at one IoU threshold (101 recall points), weighted.

    The precision at recall threshold r is the interpolated precision of the first true positive
    whose recall reaches r, so each true positive is credited with the recall thresholds in
    (previous recall, its recall].
    """
    _, tp, ranked = _tp_cumulative(weights, sequence, flag_set, ranked)
    if tp.shape[1] == 0:
        return np.zeros(weights.shape[0])
    precision = tp / (ranked + np.spacing(1))  # COCO: tp / (fp + tp + eps)
    interpolated = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    recall = tp / n_gt[:, None]
    reached = np.searchsorted(recall_thrs, recall, side='right')
    credited = np.diff(reached, axis=1, prepend=0)
    return (interpolated * credited).sum(axis=1) / recall_thrs.size


def _auc(positive, negative):
    """ROC AUC (ties count one half) from weighted positive/negative counts per score level."""
    n_pos, n_neg = positive.sum(axis=1), negative.sum(axis=1)
    below = np.cumsum(negative, axis=1) - negative
    pairs = (positive * (below + 0.5 * negative)).sum(axis=1)
    return np.where((n_pos > 0) & (n_neg > 0), pairs / (n_pos * n_neg), np.nan)


def _first_row(values):
    def value(array):
        v = float(array[0])
        return None if np.isnan(v) else v

    return {'per_class': {name: {m: value(a) for m, a in entry.items()}
                          for name, entry in values['per_class'].items()},
            'overall': {m: value(a) for m, a in values['overall'].items()}}


def draw_counts(n_units, n_resamples, seed=0):
    """(n_resamples, n_units) counts: how often each unit (image or group) is drawn, n_units draws
    with replacement per resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples)


def percentile_interval(values, confidence):
    """The central ``confidence`` percentile interval ``[low, high]`` of the resampled values
    (NaNs left out), or None when none is finite."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return [float(low), float(high)]


def bootstrap_intervals(gt_records, pred_records, classes=DEFAULT_CLASSES, n_resamples=1000,
                        groups=None, seed=0, iou_thr=0.5, confidence=0.95,
                        froc_fps=CHESTXDET_FROC_FPS, return_samples=False):
    """Percentile bootstrap intervals of ap50, coco_ap, froc_avgrecall, their means and image_auc.

    Args:
        gt_records, pred_records, classes, iou_thr, froc_fps: as :func:`.evaluate_records`.
        n_resamples: number of bootstrap resamples.
        groups: None to resample images, or one group id (hashable) per ground-truth record, in
            ``gt_records`` order (e.g. :func:`group_ids` of the file names): groups are drawn with
            replacement, as many as there are, each bringing all of its images.
        seed: seed of the resampling (numpy ``default_rng``): same seed, same intervals.
        confidence: coverage of the interval; its key is ``<metric>_ci<100 * confidence>``.
        return_samples: also return every resample's values (numpy arrays, NaN = n/a) under
            ``'samples'``: ``{'per_class': {name: {metric: (R,)}}, 'overall': {metric: (R,)}}``,
            e.g. for paired comparisons of two prediction sets drawn with the same seed.

    Returns:

    .. code-block:: text

        {"settings": {"method": "percentile", "n_resamples", "confidence", "seed",
                      "unit": "image" | "group", "n_units", "n_images", "iou_thr"},
         "per_class": {name: {"n_gt", "n_resamples_na",
                              "ap50", "ap50_ci95": [lo, hi],
                              "coco_ap", "coco_ap_ci95": [lo, hi],
                              "froc_avgrecall", "froc_avgrecall_ci95": [lo, hi]}},
         "overall": {"ap50", "ap50_ci95", "coco_ap", "coco_ap_ci95", "froc_avgrecall",
                     "froc_avgrecall_ci95", "image_auc", "image_auc_ci95"}}

    The plain keys are the point estimates (equal to :func:`.evaluate_records`'s). A value or
    interval is None where n/a (class without ground truth; ``n_resamples_na`` counts resamples
    without ground truth of the class, which its interval leaves out).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    if int(n_resamples) < 1:
        raise ValueError(f'n_resamples must be >= 1, got {n_resamples}')
    n_resamples = int(n_resamples)
    case = BootstrapCase(gt_records, pred_records, classes, iou_thr, froc_fps)
    if groups is None:
        unit_of_image = np.arange(case.n_images)
    else:
        groups = list(groups)
        if len(groups) != case.n_images:
            raise ValueError(f'groups: {len(groups)} ids for {case.n_images} ground-truth records')
        _, unit_of_image = np.unique(np.asarray(groups, dtype=object).astype(str),
                                     return_inverse=True)
        if unit_of_image.max() + 1 == case.n_images:
            groups = None  # one image per group: the same as resampling images
            unit_of_image = np.arange(case.n_images)
    n_units = int(unit_of_image.max()) + 1
    unit_counts = draw_counts(n_units, n_resamples, seed)

    block = max(1, min(_BLOCK, _MAX_BLOCK_ELEMENTS // max(1, case.max_class_detections)))
    parts = [case.metrics_for_counts(unit_counts[start:start + block][:, unit_of_image])
             for start in range(0, n_resamples, block)]
    samples = {'per_class': {name: {m: np.concatenate([p['per_class'][name][m] for p in parts])
                                    for m in CLASS_METRICS} for name in case.classes},
               'overall': {m: np.concatenate([p['overall'][m] for p in parts])
                           for m in OVERALL_METRICS}}
    estimate = case.estimate()

    per_class = {}
    for k, name in enumerate(case.classes):
        entry = {'n_gt': case.n_gt_full[k],
                 'n_resamples_na': int(np.isnan(samples['per_class'][name]['ap50']).sum())}
        for metric in CLASS_METRICS:
            entry[metric] = estimate['per_class'][name][metric]
            entry[ci_key(metric, confidence)] = (
                None if entry[metric] is None
                else percentile_interval(samples['per_class'][name][metric], confidence))
        per_class[name] = entry
    overall = {}
    for metric in OVERALL_METRICS:
        overall[metric] = estimate['overall'][metric]
        overall[ci_key(metric, confidence)] = (
            None if overall[metric] is None
            else percentile_interval(samples['overall'][metric], confidence))
    result = {
        'settings': {'method': 'percentile', 'n_resamples': n_resamples,
                     'confidence': float(confidence), 'seed': seed,
                     'unit': 'image' if groups is None else 'group', 'n_units': n_units,
                     'n_images': case.n_images, 'iou_thr': float(iou_thr)},
        'per_class': per_class,
        'overall': overall,
    }
    if return_samples:
        result['samples'] = samples
    return result


def _insert_after(entry, after, key, value):
    """``entry`` with ``key: value`` placed right after ``after`` (JSON keeps the order)."""
    items = [(k, v) for k, v in entry.items() if k != key]
    at = next(i for i, (k, _) in enumerate(items) if k == after) + 1
    return dict(items[:at] + [(key, value)] + items[at:])


def attach_intervals(result, intervals):
    """Copy the intervals of :func:`bootstrap_intervals` into an :func:`.evaluate_records` result.

    Each ``<metric>_ci95`` goes right after ``<metric>`` in ``per_class.<name>`` and ``overall``,
    and ``result['bootstrap']`` gets the settings. Returns ``result`` (changed in place).
    """
    confidence = intervals['settings']['confidence']
    for name, entry in intervals['per_class'].items():
        for metric in CLASS_METRICS:
            key = ci_key(metric, confidence)
            result['per_class'][name] = _insert_after(result['per_class'][name], metric, key,
                                                      entry[key])
    for metric in OVERALL_METRICS:
        key = ci_key(metric, confidence)
        result['overall'] = _insert_after(result['overall'], metric, key,
                                          intervals['overall'][key])
    result['bootstrap'] = dict(intervals['settings'])
    return result
