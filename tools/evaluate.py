#!/usr/bin/env python
"""Evaluate ChestX-Det predictions: AP50, COCO AP, ChestX-Det10 FROC and image-level AUC.

    python tools/evaluate.py --ann GT.json --pred PRED.json [--classes C1,C2,...]
                             [--out metrics.json] [--froc-png froc.png]
                             [--bootstrap N [--group-regex R] [--seed S]]
                             [--analysis DIR [--img-dir I] [--score-thr 0.3]
                              [--thresholds T.json] [--gallery-size 8]]

Prints the per-class table. ``--bootstrap N`` adds 95% percentile bootstrap intervals from N
resamples of the images, or of patients with ``--group-regex`` (one capture group = the patient id
in the file name, e.g. ``'^(\\d{8})_'`` for NIH names): ``<metric>_ci95: [low, high]`` next to
ap50, coco_ap and froc_avgrecall per class and overall, and image_auc. ``--analysis DIR`` writes
the confusion matrix, TIDE error analysis, per-image errors, per-class PR / F1 / FROC curves and
(with ``--img-dir``) galleries into DIR (:mod:`tbmm.evaluation.analysis`). Input problems give a
one-line error and exit status 2: unreadable files, malformed records (NaN or inverted boxes),
scores outside [0, 1]. Prediction boxes of classes outside the list are counted and reported,
not scored.
"""
import argparse
import os.path as osp
import sys

from tbmm.classes import parse_class_list
from tbmm.datasets.annotations import AnnotationError, read_annotations
from tbmm.evaluation.functional import evaluate_records, format_table, plot_froc, write_result_json
from tbmm.evaluation.functional.bootstrap import attach_intervals, bootstrap_intervals, group_ids
from tbmm.evaluation.functional.score_thresholds import score_thresholds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann', required=True, help='ground-truth annotation JSON')
    parser.add_argument('--pred', required=True,
                        help='prediction JSON (annotation format plus scores)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or a preset (chestxdet9, chestxdet10, '
                        'chestxdet13); default: the 9 ChestX-Det classes')
    parser.add_argument('--iou-thr', type=float, default=0.5, help='IoU threshold of AP50 and FROC')
    parser.add_argument('--out', default=None, help='write the structured metrics JSON here')
    parser.add_argument('--froc-png', default=None, help='write the FROC curve PNG here')
    parser.add_argument('--bootstrap', type=int, default=None, metavar='N',
                        help='add 95%% percentile bootstrap intervals from N resamples (e.g. 1000)')
    parser.add_argument('--group-regex', default=None, metavar='R',
                        help='resample patients, not images: a regex whose one capture group is '
                        "the patient id in the file name (NIH: '^(\\d{8})_')")
    parser.add_argument('--seed', type=int, default=0, help='seed of the bootstrap (default 0)')
    parser.add_argument('--analysis', default=None, metavar='DIR',
                        help='write confusion matrix, error analysis, per-image errors, curves '
                        '(and galleries with --img-dir) into DIR')
    parser.add_argument('--img-dir', default=None, metavar='I',
                        help='image folder of the ground truth: galleries of false positives and '
                        'missed lesions (with --analysis)')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='score threshold of the analysis: confusion matrix, per-image errors, '
                        'galleries (default 0.3)')
    parser.add_argument('--thresholds', default=None, metavar='T.json',
                        help='per-class score thresholds (thresholds.json, e.g. from '
                        'tools/analysis_tools/thresholds.py); classes it leaves out get '
                        '--score-thr')
    parser.add_argument('--gallery-size', type=int, default=8, metavar='N',
                        help='false positives and missed lesions per class in the galleries '
                        '(default 8)')
    return parser.parse_args(argv)


def check_scores(records, path):
    """Scores must be probabilities: one outside [0, 1] (e.g. logits) is a one-line error."""
    for i, record in enumerate(records):
        for j, score in enumerate(record['scores']):
            if not 0.0 <= score <= 1.0:
                raise ValueError(f'{path}: record {i} ({record["file_name"]!r}): score {score:g} '
                                 f'of box {j} is outside [0, 1] (scores must be probabilities)')


def check_analysis_args(args):
    needs = [flag for flag, value in (('--img-dir', args.img_dir), ('--score-thr', args.score_thr),
                                      ('--thresholds', args.thresholds)) if value is not None]
    if args.analysis is None and needs:
        raise ValueError(f'{", ".join(needs)} need(s) --analysis DIR')
    if args.gallery_size < 0:
        raise ValueError(f'--gallery-size must be >= 0, got {args.gallery_size}')
    if args.img_dir is not None and not osp.isdir(args.img_dir):
        raise ValueError(f'--img-dir {args.img_dir}: not a folder')


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.bootstrap is None and args.group_regex is not None:
            raise ValueError('--group-regex needs --bootstrap N')
        if args.bootstrap is not None and args.bootstrap < 1:
            raise ValueError(f'--bootstrap must be >= 1, got {args.bootstrap}')
        check_analysis_args(args)
        classes = parse_class_list(args.classes)
        gt_records = read_annotations(args.ann)
        pred_records = read_annotations(args.pred, require_scores=True)
        check_scores(pred_records, args.pred)
        score_thr = 0.3 if args.score_thr is None else args.score_thr
        class_thresholds = None
        if args.analysis is not None:
            score_thresholds(classes, score_thr)  # a bad --score-thr fails before the work
            if args.thresholds is not None:
                from tbmm.evaluation.functional.thresholds import load_thresholds
                class_thresholds = load_thresholds(args.thresholds)
                score_thresholds(classes, score_thr, class_thresholds)
        groups = (group_ids([r['file_name'] for r in gt_records], args.group_regex)
                  if args.group_regex is not None else None)
        result = evaluate_records(gt_records, pred_records, classes, iou_thr=args.iou_thr)
        if args.bootstrap is not None:
            attach_intervals(result, bootstrap_intervals(
                gt_records, pred_records, classes, n_resamples=args.bootstrap, groups=groups,
                seed=args.seed, iou_thr=args.iou_thr))
    except (AnnotationError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_table(result))
    try:
        if args.out:
            write_result_json(result, args.out)
            print(f'metrics written to {args.out}')
        if args.froc_png:
            plot_froc(result, args.froc_png)
            print(f'FROC curve written to {args.froc_png}')
    except OSError as e:
        print(f'error: cannot write output: {e}', file=sys.stderr)
        return 2
    if args.analysis is not None:
        try:
            from tbmm.evaluation.analysis import format_error_table, write_analysis
            analysis = write_analysis(gt_records, pred_records, classes, args.analysis,
                                      iou_thr=args.iou_thr, score_thr=score_thr,
                                      class_thresholds=class_thresholds, img_dir=args.img_dir,
                                      gallery_size=args.gallery_size)
        except OSError as e:
            print(f'error: cannot write the analysis: {e}', file=sys.stderr)
            return 2
        print()
        print(format_error_table(analysis['error_summary']))
        gallery = analysis['gallery']
        written = (f', {gallery["written"]} gallery crop(s)' if gallery is not None else '')
        print(f'analysis written to {args.analysis} (confusion, errors, per-image errors, '
              f'curves{written})')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
