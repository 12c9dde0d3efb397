#!/usr/bin/env python
"""Predictions of a trivial baseline: each class's typical training boxes on every image.

    python tools/analysis_tools/baseline.py --train data/nih-bbox/train.json \\
        --images data/nih-bbox/test.json --classes nih8 \\
        --out work_dirs/baseline/test.predictions.json [--k 1]

Per class, k-means box priors of the training boxes (1 - IoU distance), predicted on every image of
--images (an annotation file: its file names) with a constant score. Evaluate the output with
tools/evaluate.py: a model that does not beat it has not learned where the findings are.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--train', required=True, help='training annotation JSON (the priors)')
    parser.add_argument('--images', required=True,
                        help='annotation JSON whose images get the predictions')
    parser.add_argument('--out', required=True, help='predictions JSON to write')
    parser.add_argument('--classes', default=None,
                        help='preset (chestxdet9, chestxdet10, chestxdet13, nih8) or comma list')
    parser.add_argument('--k', type=int, default=1, help='box priors per class (default 1)')
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error(f'--k must be at least 1, got {args.k}')
    return args


def main(argv=None):
    args = parse_args(argv)
    from tbmm.classes import parse_class_list
    from tbmm.datasets.annotations import read_annotations, write_annotations
    from tbmm.evaluation.functional import baseline_predictions
    classes = parse_class_list(args.classes)
    predictions = baseline_predictions(read_annotations(args.train), read_annotations(args.images),
                                       classes, k=args.k)
    write_annotations(args.out, predictions)
    print(f'wrote baseline predictions of {len(predictions)} images -> {args.out}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
