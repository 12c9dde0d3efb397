#!/usr/bin/env python
"""Ground truth | prediction overlays from an annotation file and a predictions file.

    python tools/analysis_tools/draw_predictions.py --ann data/nih-bbox/test.json \\
        --pred work_dirs/x/test.predictions.json \\
        --img-dir data/nih-bbox/images --out-dir overlays [--classes nih8] [--names A.png,B.png]
        [--num 6] [--score-thr 0.3] [--top-k 3]

Default images: the first NUM-1 with findings and the first without. Writes NAME_gt_vs_pred.png.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann', required=True, help='ground-truth annotation JSON')
    parser.add_argument('--pred', required=True,
                        help='predictions JSON (annotation format + scores)')
    parser.add_argument('--img-dir', required=True, help='image folder of the file names')
    parser.add_argument('--out-dir', required=True, help='where the PNGs go')
    parser.add_argument('--classes', default=None,
                        help='preset (chestxdet9, chestxdet10, chestxdet13, nih8) or comma list '
                        '(default chestxdet9): the class order of the colours')
    parser.add_argument('--names', help='comma-separated file names to draw')
    parser.add_argument('--num', type=int, default=6, help='images to draw without --names')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw boxes scoring at least this')
    parser.add_argument('--top-k', type=int, default=None,
                        help="draw only each image's k best boxes")
    args = parser.parse_args(argv)
    if not 0 <= args.score_thr <= 1:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    if args.top_k is not None and args.top_k < 1:
        parser.error(f'--top-k must be at least 1, got {args.top_k}')
    return args


def main(argv=None):
    args = parse_args(argv)
    from tbmm.classes import parse_class_list
    from tbmm.visualization.compare_files import draw_prediction_files
    names = None if args.names is None else [n.strip() for n in args.names.split(',') if n.strip()]
    written = draw_prediction_files(args.ann, args.pred, args.img_dir, args.out_dir,
                                    parse_class_list(args.classes), names=names, num=args.num,
                                    score_thr=args.score_thr, top_k=args.top_k)
    print(f'wrote {len(written)} overlay(s) to {args.out_dir}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
