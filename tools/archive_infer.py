#!/usr/bin/env python
"""Predict a whole image archive, resumably, on one or (under torchrun) many processes.

    python tools/archive_infer.py CONFIG CHECKPOINT INPUT --out-dir DIR [--workers 2]
        [--batch-size N] [--device cpu|cuda:N] [--thresholds thresholds.json] [--amp | --no-amp]
    tools/dist_infer.sh CONFIG CHECKPOINT INPUT NUM_PROCS --out-dir DIR [options above]

INPUT is a folder (searched recursively), an image, a quoted glob, or a list file (.txt/.lst/.list:
one image path per line, relative to the list's folder or absolute). Each process streams one JSON
line per image to DIR/parts/rank<R>.jsonl; the same command run again skips the images already
there (after a kill, say); at the end DIR/predictions.json (the schema of tools/infer.py) and
DIR/unreadable.txt hold every image exactly once. No overlays: see tools/infer.py for those.
"""
import argparse
import os
import sys

from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file of the checkpoint')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('input', help='image folder, image file, quoted glob, or list file')
    parser.add_argument('--out-dir', required=True,
                        help='where parts/, predictions.json and unreadable.txt go')
    parser.add_argument('--workers', type=int, default=2,
                        help='DataLoader worker processes reading images for each process '
                        '(default 2; 0 reads in the process itself)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--device', default=None,
                        help="default: cuda:LOCAL_RANK where CUDA is available, else 'cpu'")
    parser.add_argument('--thresholds',
                        help='per-class thresholds JSON (tools/analysis_tools/thresholds.py): '
                        'adds above_threshold per box, as tools/infer.py does')
    parser.add_argument('--amp', action=argparse.BooleanOptionalAction, default=None,
                        help='mixed precision or not (--no-amp); default: as the config says')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: started by torchrun (tools/dist_infer.sh sets it)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.batch_size < 1:
        print(f'error: --batch-size must be at least 1, got {args.batch_size}', file=sys.stderr)
        return 2
    if args.workers < 0:
        print(f'error: --workers must be 0 or more, got {args.workers}', file=sys.stderr)
        return 2
    if args.launcher == 'none':
        # Not under torchrun: one process, whatever the environment says.
        for key in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK'):
            os.environ.pop(key, None)
    from tbmm.apis.archive_inference import run_archive_inference

    summary = run_archive_inference(
        args.config, args.checkpoint, args.input, args.out_dir, batch_size=args.batch_size,
        num_workers=args.workers, device=args.device, cfg_options=args.cfg_options,
        thresholds=args.thresholds, amp=args.amp, progress=not args.no_progress)
    if summary is None:  # not rank 0
        return 0
    print(f'{summary.n_images} image(s): {summary.n_predicted} predicted, '
          f'{summary.n_unreadable} unreadable; {summary.n_done_before} done by an earlier run '
          f'and skipped now')
    if summary.n_not_images:
        print(f'skipped {summary.n_not_images} file(s) that are not images (by suffix)')
    print(f'predictions: {summary.predictions_path}')
    for name, reason in summary.unreadable[:10]:
        print(f'  {name}: {reason}', file=sys.stderr)
    if summary.n_unreadable > 10:
        print(f'  ... and {summary.n_unreadable - 10} more (all in unreadable.txt)',
              file=sys.stderr)
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
