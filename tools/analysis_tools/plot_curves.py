#!/usr/bin/env python
"""Plot a training run's curves from MMEngine's scalar logs.

    python tools/analysis_tools/plot_curves.py WORK_DIR [--out DIR] [--latest-only]

    python tools/analysis_tools/plot_curves.py work_dirs/r101 --out work_dirs/r101/curves

Reads WORK_DIR/<timestamp>/vis_data/scalars.json (all runs in time order, so a resumed run
continues its predecessor; --latest-only reads the newest run alone) and writes to DIR (default
WORK_DIR/curves): loss.png (loss, loss_cls, loss_bbox vs iteration), lr.png, and when validation
logged them ap50_per_class.png and froc_per_class.png (one line per class, class mean dashed).
"""
import argparse
import os.path as osp
import sys

from tbmm.analysis.curves import ScalarLogError, plot_training_curves, read_training_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='work dir of a training run (or one <timestamp> folder, '
                        'or a scalars.json file)')
    parser.add_argument('--out', help='output folder (default: WORK_DIR/curves)')
    parser.add_argument('--latest-only', action='store_true',
                        help='plot only the newest run instead of chaining resumed runs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        log = read_training_log(args.work_dir, latest_only=args.latest_only)
    except ScalarLogError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    out_dir = args.out or osp.join(args.work_dir if osp.isdir(args.work_dir)
                                   else osp.dirname(args.work_dir), 'curves')
    written = plot_training_curves(log, out_dir)
    if not written:
        print(f'error: {args.work_dir}: the scalars hold no losses, learning rate or per-class '
              'metrics to plot', file=sys.stderr)
        return 2
    print(f'read {len(log.runs)} run(s): {len(log.train)} training and {len(log.val)} validation '
          'entries')
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
