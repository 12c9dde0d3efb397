#!/usr/bin/env python
"""Split a ChestX-Det annotation file into stratified train and val files.

    python tools/split.py ANN.json [--val-fraction 0.2] [--seed 0] [--classes C1,C2,...]
                          (--out-dir DIR | --out-train TRAIN.json --out-val VAL.json)

--out-dir writes DIR/train.json and DIR/val.json. Prints the images per class of both parts.
Input problems give a one-line error and exit status 2.
"""
import argparse
import os.path as osp
import sys

try:
    import tbmm.classes  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from tbmm.classes import parse_class_list  # noqa: E402
from tbmm.datasets.annotations import (AnnotationError, load_annotation_list,  # noqa: E402
                                        read_annotations, write_annotations)
from tbmm.datasets.split import count_images_per_class, split_records  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann', help='annotation JSON to split')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='share of the images that goes to val (default 0.2)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or a preset (chestxdet9, chestxdet10, '
                        'chestxdet13) to stratify on; default: every class in the file')
    parser.add_argument('--out-dir', help='write train.json and val.json here')
    parser.add_argument('--out-train', help='train part (instead of --out-dir)')
    parser.add_argument('--out-val', help='val part (instead of --out-dir)')
    args = parser.parse_args(argv)
    if args.out_dir is not None:
        if args.out_train or args.out_val:
            parser.error('give either --out-dir or --out-train/--out-val, not both')
        args.out_train = osp.join(args.out_dir, 'train.json')
        args.out_val = osp.join(args.out_dir, 'val.json')
    elif not (args.out_train and args.out_val):
        parser.error('give --out-dir, or both --out-train and --out-val')
    if not 0 < args.val_fraction < 1:
        parser.error(f'--val-fraction must be between 0 and 1, got {args.val_fraction}')
    outputs = {osp.realpath(args.out_train), osp.realpath(args.out_val)}
    if len(outputs) < 2 or osp.realpath(args.ann) in outputs:
        parser.error('the input and the two output files must be three different files')
    return args


def format_counts(records, train, val, classes):
    """Table of images per class (each class once per image) in the input and both parts."""
    (total, negatives), (in_train, train_neg), (in_val, val_neg) = (
        count_images_per_class(part, classes) for part in (records, train, val))
    names = sorted(total) if classes is None else list(classes)
    # Images with none of the stratified classes; with a class subset they may have other findings.
    negative_label = 'no finding' if classes is None else 'none of these'
    width = max([len(negative_label), len('all images')] + [len(n) for n in names])
    lines = [f'{"class":<{width}}  {"images":>6}  {"train":>6}  {"val":>6}']
    for name in names:
        lines.append(f'{name:<{width}}  {total[name]:>6}  {in_train[name]:>6}  {in_val[name]:>6}')
    lines.append(f'{negative_label:<{width}}  {negatives:>6}  {train_neg:>6}  {val_neg:>6}')
    lines.append(f'{"all images":<{width}}  {len(records):>6}  {len(train):>6}  {len(val):>6}')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    try:
        classes = None if args.classes is None else parse_class_list(args.classes)
        read_annotations(args.ann)  # validates, with one-line errors
        # Split and write the records as they are in the file (validation turns coordinates into
        # floats), so the parts are verbatim subsets of the input.
        records = load_annotation_list(args.ann)
        train, val = split_records(records, args.val_fraction, args.seed, classes)
        write_annotations(args.out_train, train)
        write_annotations(args.out_val, val)
    except (AnnotationError, ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_counts(records, train, val, classes))
    print(f'train: {len(train)} images -> {args.out_train}')
    print(f'val:   {len(val)} images -> {args.out_val}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
