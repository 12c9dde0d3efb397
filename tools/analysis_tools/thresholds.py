#!/usr/bin/env python
"""Choose one score threshold per class on a validation set, for a stated operating point.

    python tools/analysis_tools/thresholds.py --ann VAL.json --pred VAL_PRED.json \\
        --target sensitivity=0.9 | fp_per_image=0.1 | f1 --out thresholds.json
        [--classes C1,C2,... | preset] [--bootstrap 1000] [--group-regex R] [--seed 0]
        [--iou-thr 0.5] [--strict]

Per class: ``sensitivity=S`` takes the highest threshold whose lesion-level sensitivity (recall at
IoU >= 0.5, matched as for AP50) is >= S; ``fp_per_image=F`` the lowest whose false positives per
image are <= F; ``f1`` the one of the maximum F1 (ties: the higher). Prints a per-class table of the
threshold and the validation sensitivity, precision and FP/image it gives, with 95% bootstrap
intervals (images, or patients with --group-regex), and writes thresholds.json (format:
tbmm/evaluation/functional/thresholds.py). A class whose target no threshold reaches gets a
reported fallback flagged "reached": false (with --strict: an error, nothing written); a class
without validation ground truth gets no threshold (null) for sensitivity and f1. Prediction boxes
of classes outside --classes are counted and ignored, as in tools/evaluate.py. The predictions
should keep low-scored boxes (infer with a low --score-thr): thresholds below the lowest score
kept cannot be chosen. Input problems give a one-line error and exit status 2.
"""
import argparse
import sys


def _target(text):
    from tbmm.evaluation.functional.thresholds import parse_target
    try:
        return parse_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann', required=True, help='validation ground-truth annotation JSON')
    parser.add_argument('--pred', required=True,
                        help='validation prediction JSON (annotation format plus scores)')
    parser.add_argument('--target', required=True, type=_target,
                        help='sensitivity=S (0 < S <= 1), fp_per_image=F (F >= 0) or f1')
    parser.add_argument('--out', required=True, help='thresholds JSON to write')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or a preset (chestxdet9, chestxdet10, '
                        'chestxdet13, nih8); default: the 9 ChestX-Det classes')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU a detection needs to be a true positive (default 0.5)')
    parser.add_argument('--bootstrap', type=int, default=1000, metavar='N',
                        help='resamples for the 95%% intervals (default 1000; 0: no intervals)')
    parser.add_argument('--group-regex', default=None, metavar='R',
                        help='resample patients, not images: a regex whose one capture group is '
                        "the patient id in the file name (NIH: '^(\\d{8})_')")
    parser.add_argument('--seed', type=int, default=0, help='seed of the bootstrap (default 0)')
    parser.add_argument('--strict', action='store_true',
                        help='a class whose target is not reached is an error, not a fallback')
    args = parser.parse_args(argv)
    if args.bootstrap < 0:
        parser.error(f'--bootstrap must be >= 0, got {args.bootstrap}')
    if args.group_regex is not None and args.bootstrap == 0:
        parser.error('--group-regex needs --bootstrap N with N >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    from tbmm.classes import parse_class_list
    from tbmm.datasets.annotations import read_annotations
    from tbmm.datasets.split import group_ids
    from tbmm.errors import UserInputError
    from tbmm.evaluation.functional.thresholds import (
        format_thresholds_table,
        select_thresholds,
        source_of,
        write_thresholds,
    )

    try:
        classes = parse_class_list(args.classes)
        gt_records = read_annotations(args.ann)
        pred_records = read_annotations(args.pred, require_scores=True)
        groups = (group_ids([r['file_name'] for r in gt_records], args.group_regex)
                  if args.group_regex is not None else None)
        result = select_thresholds(gt_records, pred_records, args.target, classes,
                                   iou_thr=args.iou_thr, n_resamples=args.bootstrap,
                                   groups=groups, seed=args.seed, strict=args.strict,
                                   source=source_of(args.ann, args.pred))
    except UserInputError:
        raise
    except ValueError as e:  # bad class list, records or settings: one line, as tools/evaluate.py
        raise UserInputError(str(e)) from None
    print(format_thresholds_table(result))
    try:
        write_thresholds(result, args.out)
    except OSError as e:
        raise UserInputError(f'cannot write {args.out}: {e.strerror or e}') from None
    print(f'thresholds written to {args.out}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
