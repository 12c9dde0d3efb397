"""Per-class operating thresholds chosen on a validation set, and ``thresholds.json`` to keep them.

:func:`select_thresholds` takes validation ground truth and predictions (annotation format, the
predictions with ``scores``) and a target, and picks one score threshold per class. A box is
*above threshold*, i.e. reported, when ``score >= threshold``.

Rates at a threshold t (per class, over all validation images, those without findings included):
detections with score >= t are ranked by score and matched greedily to the class's ground truth
at IoU >= ``iou_thr`` exactly as for AP50 (:func:`.match_detections`, continuous coordinates; a
ground truth counts once, further detections of it are false positives). With TP and FP the
matched and unmatched detections kept, G the class's ground-truth boxes and N the images:

    sensitivity  = TP / G              (lesion level; n/a without ground truth)
    precision    = TP / (TP + FP)      (n/a when no detection is kept)
    fp_per_image = FP / N
    f1           = 2 TP / (TP + FP + G)

Greedy matching only looks at higher-ranked detections, so the detections kept at t are matched
as in the full ranking; detections of equal score are kept or dropped together, and how many of
them are true positives does not depend on their order.

Candidate thresholds are the class's distinct detection scores (a threshold between two scores
keeps the same boxes as the higher one), so a chosen threshold is always one of its scores.

Targets (``{"metric": ..., "value": ...}``, text form ``sensitivity=0.9``, ``fp_per_image=0.1``,
``f1``, see :func:`parse_target`):

* ``sensitivity >= s`` (0 < s <= 1): the **highest** threshold whose sensitivity is >= s (the
  fewest false positives that reach it). Not reached (even the lowest score misses it, or the
  class has no detections): the class's **lowest** detection score (its highest sensitivity), or
  0.0 without detections, flagged ``"reached": false``.
* ``fp_per_image <= f`` (f >= 0): the **lowest** threshold whose FP/image is <= f (the highest
  sensitivity within the budget). Not reached (the top-scored detections alone exceed f): the
  class's **highest** detection score (its fewest false positives while still reporting
  something), flagged ``"reached": false``. Without detections: 0.0, reached (no false positive).
* ``f1``: the threshold of the maximum F1; ties go to the **higher** threshold. ``"reached"`` is
  false when the maximum F1 is 0 (no true positive at any threshold: then the highest score, by
  the tie rule) or the class has no detections (then 0.0).

A class **without ground truth** in the validation set cannot be calibrated for ``sensitivity``
or ``f1``: its threshold is ``null``, ``"reached": false`` and its rates are n/a. For
``fp_per_image`` it is calibrated as usual (every detection is a false positive).
:func:`load_thresholds` refuses a ``null`` threshold with a one-line error, so a deployment never
runs a class on a threshold nobody chose: set one by hand or leave the class out.

With ``strict=True`` (``tools/analysis_tools/thresholds.py --strict``), any class not reached is an
error (:class:`ThresholdError`, one line naming the classes) instead of a fallback.

Intervals: the threshold is held fixed (chosen once on the whole validation set) and the rates at
it are recomputed on ``n_resamples`` bootstrap resamples of the images, or of groups (patients,
see :func:`tbmm.datasets.split.group_ids`) drawn with all their images, with the same draws
(:func:`.bootstrap.draw_counts`, same seed) as ``tools/evaluate.py --bootstrap``. An image drawn m
times counts m times (its detections keep their match). The 95 % interval is the 2.5th-97.5th
percentile of the resampled values; resamples where a rate is n/a (no ground truth of the class,
nothing kept) are left out (``n_resamples_na`` counts those without ground truth). The intervals
describe the rates at this threshold on data like the validation set; they leave out the
selection's own optimism (the threshold was tuned on the same images), so prefer a validation
set the model never trained on, and report test-set rates separately.

The document :func:`select_thresholds` returns is ``thresholds.json``, whose format, writer
(:func:`write_thresholds`) and loader (:func:`load_thresholds`) are in :mod:`.thresholds_file`;
their names are importable from here too. This module needs numpy only (no torch).
"""
import math

import numpy as np

from tbmm.classes import DEFAULT_CLASSES

from .bootstrap import ci_key, draw_counts, percentile_interval
from .evaluate import flatten_records, index_images
from .matching import check_iou_threshold, match_detections, rank_by_score
from .thresholds_file import (
    THRESHOLDS_FORMAT,
    ThresholdError,
    load_thresholds,
    source_of,
    write_thresholds,
)

__all__ = [
    'THRESHOLDS_FORMAT', 'TARGET_METRICS', 'ThresholdError', 'parse_target', 'format_target',
    'select_thresholds', 'format_thresholds_table', 'source_of', 'write_thresholds',
    'load_thresholds',
]

#: Target metrics: the ones with a value, and ``f1`` without.
TARGET_METRICS = ('sensitivity', 'fp_per_image', 'f1')
RATES = ('sensitivity', 'precision', 'fp_per_image')


def parse_target(text):
    """``'sensitivity=0.9'`` -> ``{'metric': 'sensitivity', 'value': 0.9}``; also
    ``'fp_per_image=0.1'`` and ``'f1'`` (value None). ``ValueError`` with the accepted forms."""
    forms = 'sensitivity=S (0 < S <= 1), fp_per_image=F (F >= 0) or f1'
    text = str(text).strip()
    metric, sep, value = text.partition('=')
    metric = metric.strip().lower()
    if metric == 'f1' and not sep:
        return {'metric': 'f1', 'value': None}
    if metric not in ('sensitivity', 'fp_per_image') or not sep:
        raise ValueError(f'bad target {text!r}: expected {forms}')
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f'bad target {text!r}: {value.strip()!r} is not a number') from None
    if metric == 'sensitivity' and not 0.0 < number <= 1.0:
        raise ValueError(f'bad target {text!r}: sensitivity must be in (0, 1]')
    if metric == 'fp_per_image' and not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f'bad target {text!r}: fp_per_image must be a finite number >= 0')
    return {'metric': metric, 'value': number}


def format_target(target):
    """``{'metric': 'sensitivity', 'value': 0.9}`` -> ``'sensitivity >= 0.9'``."""
    if target['metric'] == 'f1':
        return 'max F1'
    op = '>=' if target['metric'] == 'sensitivity' else '<='
    return f'{target["metric"]} {op} {target["value"]:g}'


def _check_target(target):
    if isinstance(target, str):
        return parse_target(target)
    if not isinstance(target, dict) or target.get('metric') not in TARGET_METRICS:
        raise ValueError(f'target must be a text like "sensitivity=0.9" or a dict with "metric" in '
                         f'{TARGET_METRICS}, got {target!r}')
    if target['metric'] == 'f1':
        return parse_target('f1')
    return parse_target(f'{target["metric"]}={target.get("value")}')


def _choose(target, tp, fp, n_gt, n_images):
    """Pick among the candidates (distinct scores, highest first; TP and FP kept at each).

    Returns (index of the candidate, reached, note or None).
    """
    metric, value = target['metric'], target['value']
    if metric == 'sensitivity':
        # TP / G and the target: equal rationals round to the same double, so no epsilon needed.
        ok = np.flatnonzero(tp / n_gt >= value)
        if ok.size:
            return int(ok[0]), True, None
        return (tp.size - 1, False,
                f'sensitivity >= {value:g} not reached (at most {tp[-1] / n_gt:.3f}): fell back to '
                f'the lowest detection score')
    if metric == 'fp_per_image':
        ok = np.flatnonzero(fp / n_images <= value)
        if ok.size:
            return int(ok[-1]), True, None
        return (0, False, f'FP/image <= {value:g} not reached (already {fp[0] / n_images:.3f} '
                          f'at the highest score): fell back to the highest detection score')
    f1 = 2.0 * tp / (tp + fp + n_gt)
    best = int(np.argmax(f1))  # the first maximum: the highest threshold among ties
    if f1[best] > 0:
        return best, True, None
    return best, False, ('no true positive at any threshold (max F1 0): fell back to the highest '
                         'detection score')


def _class_choice(target, scores, is_tp, n_gt, n_images):
    """Threshold (or None), reached and note for one class's detections ranked by score."""
    metric = target['metric']
    if n_gt == 0 and metric != 'fp_per_image':
        return None, False, f'no ground truth in the validation set: {metric} n/a, threshold null'
    if scores.size == 0:
        reached = metric == 'fp_per_image'
        return 0.0, reached, None if reached else 'no detections: threshold 0 (keeps every box)'
    # Last detection of each run of equal scores: the candidate thresholds, highest first.
    ends = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    tp = np.cumsum(is_tp)[ends].astype(np.float64)
    fp = (ends + 1) - tp
    index, reached, note = _choose(target, tp, fp, n_gt, n_images)
    return float(scores[ends[index]]), reached, note


def _rates(tp, fp, n_gt, n_images):
    """Rates from (weighted) counts, arrays or scalars; NaN where n/a."""
    with np.errstate(invalid='ignore', divide='ignore'):
        kept = tp + fp
        return {'sensitivity': np.where(n_gt > 0, tp / np.where(n_gt > 0, n_gt, 1), np.nan),
                'precision': np.where(kept > 0, tp / np.where(kept > 0, kept, 1), np.nan),
                'fp_per_image': fp / n_images}


def _value(x):
    x = float(x)
    return None if math.isnan(x) else x


def select_thresholds(gt_records, pred_records, target, classes=DEFAULT_CLASSES, iou_thr=0.5,
                      n_resamples=1000, groups=None, seed=0, confidence=0.95, strict=False,
                      source=None):
    """One threshold per class for ``target``; returns the ``thresholds.json`` document.

    Args:
        gt_records: validation annotation records; every record is an image (no boxes: negative).
        pred_records: prediction records (with ``scores`` in [0, 1]). Images missing here have no
            detections; records for files not in ``gt_records`` are counted and ignored (all of
            them unknown is an error, as in :func:`.evaluate_records`).
        target: ``'sensitivity=0.9'``, ``'fp_per_image=0.1'``, ``'f1'`` or the parsed dict.
        classes: class names, in label order; boxes of other classes are counted in
            ``ignored_classes`` and otherwise ignored (as :func:`.evaluate_records` does).
        iou_thr: IoU a detection needs with a ground truth to be a true positive.
        n_resamples: bootstrap resamples for the intervals (0: no intervals, ``null``).
        groups: None to resample images, or one group id per ground-truth record (e.g.
            :func:`tbmm.datasets.split.group_ids` of the file names): patients drawn whole.
        seed: seed of the resampling.
        confidence: coverage of the intervals (key ``<rate>_ci<100 * confidence>``).
        strict: raise :class:`ThresholdError` if any class's target is not reached.
        source: the ``source`` entry (e.g. :func:`source_of`), or None.

    Raises ``ValueError`` for bad records or settings. See the module docstring for the rules and
    the format.
    """
    from tbmm import __version__

    target = _check_target(target)
    iou_thr = check_iou_threshold(iou_thr)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    n_resamples = int(n_resamples)
    if n_resamples < 0:
        raise ValueError(f'n_resamples must be >= 0, got {n_resamples}')
    classes = [str(c) for c in classes]
    class_index = {name: k for k, name in enumerate(classes)}
    image_index = index_images(gt_records, 'to choose thresholds on')
    n_images = len(image_index)
    gt, gt_ignored, _ = flatten_records(gt_records, image_index, class_index, 'gt')
    det, det_ignored, unknown = flatten_records(pred_records, image_index, class_index, 'pred')
    if pred_records and len(unknown) == len(pred_records):
        raise ValueError(f'none of the {len(pred_records)} prediction records is for an image of '
                         f'the ground truth (first: {unknown[0]!r}): predictions of another '
                         f'image set?')
    if det.scores.size and not (0.0 <= det.scores.min() and det.scores.max() <= 1.0):
        bad = det.scores[(det.scores < 0.0) | (det.scores > 1.0)][0]
        raise ValueError(f'pred: a score of {bad:g}: scores must be in [0, 1] to be thresholds')

    # Per class: the choice, and per-image counts (kept TP, kept FP, GT) for the bootstrap.
    entries, per_image = {}, np.zeros((n_images, 3 * len(classes)))
    for k, name in enumerate(classes):
        in_gt = gt.labels == k
        in_det = np.flatnonzero(det.labels == k)
        ranked = in_det[rank_by_score(det.scores[in_det])]
        n_gt = int(in_gt.sum())
        is_tp = match_detections(det.boxes[ranked], det.images[ranked], gt.boxes[in_gt],
                                 gt.images[in_gt], iou_thr, inclusive_pixels=False)
        scores = det.scores[ranked]
        threshold, reached, note = _class_choice(target, scores, is_tp, n_gt, n_images)
        kept = (scores >= threshold) if threshold is not None else np.zeros(scores.size, bool)
        images = det.images[ranked]
        per_image[:, 3 * k] = np.bincount(images[kept & is_tp], minlength=n_images)
        per_image[:, 3 * k + 1] = np.bincount(images[kept & ~is_tp], minlength=n_images)
        per_image[:, 3 * k + 2] = np.bincount(gt.images[in_gt], minlength=n_images)
        tp, fp = int((kept & is_tp).sum()), int((kept & ~is_tp).sum())
        rates = _rates(np.float64(tp), np.float64(fp), np.float64(n_gt), float(n_images))
        entry = {'threshold': threshold, 'reached': reached, 'n_gt': n_gt,
                 'n_det': int(in_det.size), 'tp': tp, 'fp': fp}
        for rate in RATES:
            entry[rate] = _value(rates[rate]) if threshold is not None else None
            entry[ci_key(rate, confidence)] = None
        entry['f1'] = (2.0 * tp / (tp + fp + n_gt)
                       if threshold is not None and n_gt > 0 else None)
        entry['n_resamples_na'] = 0
        if note is not None:
            entry['note'] = note
        entries[name] = entry

    if strict:
        missed = [name for name in classes if not entries[name]['reached']]
        if missed:
            reasons = '; '.join(f'{name}: {entries[name].get("note", "not reached")}'
                                for name in missed)
            raise ThresholdError(f'target {format_target(target)} not reached for '
                                 f'{len(missed)} class(es) ({reasons})')

    bootstrap = None
    if n_resamples > 0:
        bootstrap = _attach_intervals(entries, classes, per_image, groups, n_images, n_resamples,
                                      seed, confidence)
    return {
        'format': THRESHOLDS_FORMAT,
        'target': target,
        'rule': 'score >= threshold',
        'classes': entries,
        'settings': {'iou_thr': float(iou_thr), 'n_images': n_images, 'classes': classes,
                     'bootstrap': bootstrap},
        'ignored_classes': {'gt': gt_ignored, 'pred': det_ignored},
        'images': {'n_images': n_images, 'n_pred_records': len(pred_records),
                   'n_pred_files_not_in_gt': len(unknown)},
        'source': source,
        'tbmm_version': __version__,
    }


def _attach_intervals(entries, classes, per_image, groups, n_images, n_resamples, seed,
                      confidence):
    """Fill the ``<rate>_ci95`` of every class with a threshold; return the bootstrap settings."""
    if groups is None:
        unit_of_image = np.arange(n_images)
    else:
        groups = list(groups)
        if len(groups) != n_images:
            raise ValueError(f'groups: {len(groups)} ids for {n_images} ground-truth records')
        _, unit_of_image = np.unique(np.asarray(groups, dtype=object).astype(str),
                                     return_inverse=True)
        unit_of_image = unit_of_image.reshape(-1)
        if unit_of_image.max() + 1 == n_images:  # one image per group: resampling images
            groups, unit_of_image = None, np.arange(n_images)
    n_units = int(unit_of_image.max()) + 1
    per_unit = np.zeros((n_units, per_image.shape[1]))
    np.add.at(per_unit, unit_of_image, per_image)
    images_per_unit = np.bincount(unit_of_image, minlength=n_units).astype(np.float64)
    # The same draws as bootstrap_intervals (tools/evaluate.py --bootstrap) with this seed.
    counts = draw_counts(n_units, n_resamples, seed).astype(np.float64)
    sums = counts @ per_unit  # (R, 3 * classes): kept TP, kept FP, GT per class
    resample_images = counts @ images_per_unit
    for k, name in enumerate(classes):
        entry = entries[name]
        class_gt = sums[:, 3 * k + 2]
        entry['n_resamples_na'] = int((class_gt == 0).sum())
        if entry['threshold'] is None:
            continue
        rates = _rates(sums[:, 3 * k], sums[:, 3 * k + 1], class_gt, resample_images)
        for rate in RATES:
            if entry[rate] is not None:
                entry[ci_key(rate, confidence)] = percentile_interval(rates[rate], confidence)
    return {'n_resamples': n_resamples, 'confidence': float(confidence), 'seed': seed,
            'unit': 'image' if groups is None else 'group', 'n_units': n_units}


def _fmt(value, digits=3):
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _fmt_ci(entry, rate, confidence):
    interval = entry.get(ci_key(rate, confidence))
    if entry[rate] is None or interval is None:
        return _fmt(entry[rate])
    return f'{_fmt(entry[rate])} [{_fmt(interval[0])}, {_fmt(interval[1])}]'


def format_thresholds_table(result):
    """One row per class (GT, detections, threshold, rates with intervals, reached), then notes."""
    bootstrap = result['settings']['bootstrap']
    confidence = bootstrap['confidence'] if bootstrap else 0.95
    width = 20 if bootstrap else 6
    suffix = f' ({100 * confidence:g}% CI)' if bootstrap else ''
    columns = [('sensitivity', 'Sensitivity' + suffix), ('precision', 'Precision' + suffix),
               ('fp_per_image', 'FP/image' + suffix)]
    names = list(result['classes'])
    name_width = max(len('Class'), *(len(n) for n in names))
    header = (f'{"Class":<{name_width}}  {"GT":>5}  {"Det":>6}  {"Threshold":>9}  '
              + '  '.join(f'{label:>{max(width, len(label))}}' for _, label in columns)
              + '  Reached')
    rule = '-' * len(header)
    lines = [f'Target: {format_target(result["target"])} per class (lesion level, IoU >= '
             f'{result["settings"]["iou_thr"]:g}), {result["settings"]["n_images"]} images; '
             f'a box is kept when its score >= the threshold.', header, rule]
    for name in names:
        entry = result['classes'][name]
        cells = '  '.join(f'{_fmt_ci(entry, rate, confidence):>{max(width, len(label))}}'
                          for rate, label in columns)
        lines.append(f'{name:<{name_width}}  {entry["n_gt"]:>5d}  {entry["n_det"]:>6d}  '
                     f'{_fmt(entry["threshold"], 4):>9}  {cells}  '
                     f'{"yes" if entry["reached"] else "NO"}')
    lines.append(rule)
    for name in names:
        note = result['classes'][name].get('note')
        if note:
            lines.append(f'{name}: {note}.')
    if bootstrap:
        units = ('images' if bootstrap['unit'] == 'image'
                 else 'patients (groups of images drawn together)')
        lines.append(f'{100 * confidence:g}% CI: percentile bootstrap at the fixed threshold, '
                     f'{bootstrap["n_resamples"]} resamples of the {bootstrap["n_units"]} {units}, '
                     f'seed {bootstrap["seed"]}.')
    for kind, label in (('gt', 'ground truth'), ('pred', 'predictions')):
        ignored = result['ignored_classes'][kind]
        if ignored:
            listing = ', '.join(f'{name} x{count}' for name, count in sorted(ignored.items()))
            lines.append(f'Ignored boxes of classes outside the class list in {label}: {listing}.')
    if result['images']['n_pred_files_not_in_gt']:
        lines.append(f'Ignored {result["images"]["n_pred_files_not_in_gt"]} prediction record(s) '
                     f'for files not in the ground truth.')
    return '\n'.join(lines)
