#!/usr/bin/env python
"""Check an annotation file and its images before training, and print what is wrong.

    python tools/misc/validate_data.py ANN.json IMG_DIR [--classes chestxdet9|chestxdet10|C1,C2,...]
                                  [--expect-size 1024] [--decode] [--unknown-class-policy drop]
                                  [--missing-image-policy skip] [--json REPORT.json]

Reads every record (it does not stop at the first problem) and every listed image's header and
file end (--decode decodes each image fully, as training will). Prints counts (records, images
found/missing/unreadable, image sizes and kinds, boxes per class, unknown classes) and every
problem with the file and the record index.

Exit status: 0 when training can start (warnings allowed), 1 when there are errors (training with
these settings would fail), 2 for a usage mistake.
"""
import argparse
import json
import sys

from tbmm.classes import parse_class_list
from tbmm.datasets.validation import (
    MISSING_IMAGE_POLICIES,
    UNKNOWN_CLASS_POLICIES,
    validate_dataset,
)
from tbmm.utils import ensure_parent_dir, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann', help='annotation JSON (a list of file_name/syms/boxes records)')
    parser.add_argument('img_dir', help='folder the file names are relative to')
    parser.add_argument('--classes', default='chestxdet9',
                        help='the model\'s classes: chestxdet9 (default), chestxdet10, chestxdet13 '
                        'or a comma-separated list')
    parser.add_argument('--expect-size', type=int, metavar='N',
                        help='warn about images that are not N x N pixels')
    parser.add_argument('--decode', action='store_true',
                        help='also decode every image fully (slow; finds corrupt pixel data)')
    parser.add_argument('--unknown-class-policy', choices=UNKNOWN_CLASS_POLICIES, default='error',
                        help='as the data set option: "drop" makes unknown classes a warning')
    parser.add_argument('--missing-image-policy', choices=MISSING_IMAGE_POLICIES, default='error',
                        help='as the data set option: "skip" makes missing images a warning')
    parser.add_argument('--min-box-size', type=float, default=2.0,
                        help='boxes under this width or height in pixels are reported as tiny (2)')
    parser.add_argument('--max-listed', type=int, default=50,
                        help='list at most this many problems (0: all); counts are always complete')
    parser.add_argument('--json', metavar='REPORT.json', help='also write the report as JSON')
    args = parser.parse_args(argv)
    try:
        args.classes = parse_class_list(args.classes)
    except ValueError as e:
        parser.error(f'--classes: {e}')
    if args.expect_size is not None and args.expect_size <= 0:
        parser.error('--expect-size must be positive')
    return args


def main(argv=None):
    args = parse_args(argv)
    report = validate_dataset(
        args.ann, args.img_dir, classes=args.classes, expect_size=args.expect_size,
        decode=args.decode, unknown_class_policy=args.unknown_class_policy,
        missing_image_policy=args.missing_image_policy, min_box_size=args.min_box_size)
    print(report.format(max_listed=args.max_listed))
    if args.json:
        with open(ensure_parent_dir(args.json), 'w', encoding='utf-8') as f:
            json.dump(report.to_dict(), f, indent=1)
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(run_cli(main))
