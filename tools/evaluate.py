#!/usr/bin/env python
"""Evaluate ChestX-Det predictions: AP50, COCO AP, ChestX-Det10 FROC and image-level AUC.

    python tools/evaluate.py --ann GT.json --pred PRED.json [--classes C1,C2,...]
                             [--out metrics.json] [--froc-png froc.png]
                             [--bootstrap N [--group-regex R] [--seed S]]

Prints the per-class table. ``--bootstrap N`` adds 95% percentile bootstrap intervals from N
resamples of the images, or of patients with ``--group-regex`` (one capture group = the patient id
in the file name, e.g. ``'^(\\d{8})_'`` for NIH names): ``<metric>_ci95: [low, high]`` next to
ap50, coco_ap and froc_avgrecall per class and overall, and image_auc. Input problems give a
one-line error and exit status 2.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('tbmm') is None:  # run from a checkout without installing
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from tbmm.classes import parse_class_list  # noqa: E402
from tbmm.datasets.annotations import AnnotationError, read_annotations  # noqa: E402
from tbmm.evaluation.functional import (evaluate_records, format_table, plot_froc,  # noqa: E402
                                        write_result_json)
from tbmm.evaluation.functional.bootstrap import (attach_intervals,  # noqa: E402
                                                  bootstrap_intervals, group_ids)


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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.bootstrap is None and args.group_regex is not None:
            raise ValueError('--group-regex needs --bootstrap N')
        if args.bootstrap is not None and args.bootstrap < 1:
            raise ValueError(f'--bootstrap must be >= 1, got {args.bootstrap}')
        classes = parse_class_list(args.classes)
        gt_records = read_annotations(args.ann)
        pred_records = read_annotations(args.pred, require_scores=True)
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
    return 0


if __name__ == '__main__':
    sys.exit(main())
