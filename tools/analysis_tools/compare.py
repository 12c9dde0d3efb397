#!/usr/bin/env python
"""Compare the per-class AP50 or FROC of several runs in one markdown table.

    python tools/analysis_tools/compare.py WORK_DIR_A WORK_DIR_B ... [--metric AP50|FROC]
                            [--source auto|test|val] [--val-at N|common] [--out table.md]

    python tools/analysis_tools/compare.py work_dirs/r50 work_dirs/r101 work_dirs/x101 \\
        --metric FROC --out froc.md

Each run's numbers come from WORK_DIR/test.metrics.json (tools/test.py) when present, else from
its last validation in WORK_DIR/<timestamp>/vis_data/scalars.json; the column header says which.
--val-at takes the validation at epoch N instead, or with `common` the last epoch every run
validated at (runs stopped at different points compared at the same one).
The best value of each row is bold. Prints the table and, with --out, writes it to a file.
"""
import argparse
import sys

from tbmm.analysis.compare import (
    METRICS,
    common_validation_step,
    format_comparison,
    load_run_metrics,
    run_labels,
)
from tbmm.analysis.curves import ScalarLogError
from tbmm.utils import ensure_parent_dir


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs to compare')
    parser.add_argument('--metric', choices=list(METRICS), default='AP50',
                        help='AP50 (VOC area, IoU 0.5) or FROC (ChestX-Det10: mean sensitivity '
                        'at 0.05/0.1/0.2 FP per image); default AP50')
    parser.add_argument('--source', choices=['auto', 'test', 'val'], default='auto',
                        help='test.metrics.json, last validation, or test when present (default)')
    parser.add_argument('--val-at', default=None, metavar='N|common',
                        help='the validation at epoch N (iteration N for iteration-based runs), or '
                             '"common": the last one every run has; implies --source val')
    parser.add_argument('--out', help='also write the markdown table to this file')
    args = parser.parse_args(argv)
    if args.val_at not in (None, 'common'):
        try:
            args.val_at = int(args.val_at)
        except ValueError:
            parser.error(f'--val-at takes an epoch number or "common", got {args.val_at!r}')
    return args


def main(argv=None):
    args = parse_args(argv)
    labels = run_labels(args.work_dirs)
    try:
        step = args.val_at
        if step == 'common':
            step = common_validation_step(args.work_dirs, args.metric)
        runs = [load_run_metrics(work_dir, args.metric, args.source, label, step)
                for work_dir, label in zip(args.work_dirs, labels)]
    except (ScalarLogError, ValueError) as e:  # unreadable logs or metrics files
        print(f'error: {e}', file=sys.stderr)
        return 2
    table = format_comparison(runs, args.metric)
    print(table, end='')
    if args.out:
        ensure_parent_dir(args.out)
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(table)
        print(f'written to {args.out}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
