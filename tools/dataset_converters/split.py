#!/usr/bin/env python
r"""Split a ChestX-Det annotation file into stratified train and val files, or into K folds.

    python tools/dataset_converters/split.py ANN.json [--val-fraction 0.2] [--seed 0]
        [--classes C1,C2,...] (--out-dir DIR | --out-train TRAIN.json --out-val VAL.json)
    python tools/dataset_converters/split.py ANN.json --folds 5 --group-regex '^(\d{8})_'
        [--test-fraction 0.15] --out-dir DIR

--out-dir writes DIR/train.json and DIR/val.json; with --folds K, DIR/fold{k}/train.json and
DIR/fold{k}/val.json for k = 0..K-1 (every image in exactly one val part). --group-regex keeps the
images of one patient (the regex's first group in the file name) in one part. --test-fraction F
first puts a patient-grouped test part aside in DIR/test.json (without --folds, the rest goes to
DIR/train.json). Prints the images per class of every part. Input problems give a one-line error
and exit status 2.
"""
import argparse
import os.path as osp
import sys

from tbmm.classes import parse_class_list
from tbmm.datasets.annotations import (
    AnnotationError,
    load_annotation_list,
    read_annotations,
    write_annotations,
)
from tbmm.datasets.split import (
    GroupPatternError,
    count_images_per_class,
    grouped_parts,
    kfold_records,
    split_records,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann', help='annotation JSON to split')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='share of the images that goes to val (default 0.2)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or a preset (chestxdet9, chestxdet10, '
                        'chestxdet13) to stratify on; default: every class in the file')
    parser.add_argument('--folds', type=int, help='K-fold cross-validation parts instead of one '
                        'train/val split (needs --out-dir)')
    parser.add_argument('--group-regex', help="regular expression whose first group is the "
                        "patient id in a file name, e.g. '^(\\d{8})_' for NIH: a patient's images "
                        "stay in one part (default: every image its own group)")
    parser.add_argument('--test-fraction', type=float, help='first put this share of the images '
                        '(whole patients) aside in OUT_DIR/test.json')
    parser.add_argument('--out-dir', help='write train.json and val.json (or the folds) here')
    parser.add_argument('--out-train', help='train part (instead of --out-dir)')
    parser.add_argument('--out-val', help='val part (instead of --out-dir)')
    args = parser.parse_args(argv)
    if args.folds is not None and args.folds < 2:
        parser.error(f'--folds must be at least 2, got {args.folds}')
    if args.test_fraction is not None and not 0 < args.test_fraction < 1:
        parser.error(f'--test-fraction must be between 0 and 1, got {args.test_fraction}')
    if (args.folds is not None or args.test_fraction is not None) and (
            args.out_dir is None or args.out_train or args.out_val):
        parser.error('--folds and --test-fraction write several files: give --out-dir only')
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
    return format_part_counts(records, {'train': train, 'val': val}, classes)


def format_part_counts(records, parts, classes):
    """Table of images per class (each class once per image) in the input and each named part."""
    (total, negatives), *counted = (
        count_images_per_class(part, classes) for part in [records, *parts.values()])
    names = sorted(total) if classes is None else list(classes)
    # Images with none of the stratified classes; with a class subset they may have other findings.
    negative_label = 'no finding' if classes is None else 'none of these'
    width = max([len(negative_label), len('all images')] + [len(n) for n in names])
    columns = ['images', *parts]
    cell = max(6, *map(len, columns))
    lines = [f'{"class":<{width}}' + ''.join(f'  {c:>{cell}}' for c in columns)]
    for name in names:
        lines.append(f'{name:<{width}}  {total[name]:>{cell}}'
                     + ''.join(f'  {counts[name]:>{cell}}' for counts, _ in counted))
    lines.append(f'{negative_label:<{width}}  {negatives:>{cell}}'
                 + ''.join(f'  {neg:>{cell}}' for _, neg in counted))
    lines.append(f'{"all images":<{width}}  {len(records):>{cell}}'
                 + ''.join(f'  {len(part):>{cell}}' for part in parts.values()))
    return '\n'.join(lines)


def write_folds(records, args, classes):
    """--folds / --test-fraction: DIR/test.json (if asked) and DIR/fold{k}/{train,val}.json."""
    rest, written = records, {}
    if args.test_fraction is not None:
        rest, test = grouped_parts(records, [1 - args.test_fraction, args.test_fraction],
                                   args.seed, classes, args.group_regex)
        written['test'] = (test, osp.join(args.out_dir, 'test.json'))
    if args.folds is not None:
        for k, (train, val) in enumerate(
                kfold_records(rest, args.folds, args.seed, classes, args.group_regex)):
            written[f'fold{k}/train'] = (train, osp.join(args.out_dir, f'fold{k}', 'train.json'))
            written[f'fold{k}/val'] = (val, osp.join(args.out_dir, f'fold{k}', 'val.json'))
    elif args.test_fraction is not None:  # the rest is the training set
        written['train'] = (rest, osp.join(args.out_dir, 'train.json'))
    else:
        train, val = grouped_parts(rest, [1 - args.val_fraction, args.val_fraction], args.seed,
                                   classes, args.group_regex)
        written['train'] = (train, args.out_train)
        written['val'] = (val, args.out_val)
    for part, path in written.values():
        write_annotations(path, part)
    shown = {name: part for name, (part, _) in written.items() if not name.endswith('/train')}
    print(format_part_counts(records, shown, classes))
    for name, (part, path) in written.items():
        print(f'{name}: {len(part)} images -> {path}')


def main(argv=None):
    args = parse_args(argv)
    try:
        classes = None if args.classes is None else parse_class_list(args.classes)
        read_annotations(args.ann)  # validates, with one-line errors
        # Split and write the records as they are in the file (validation turns coordinates into
        # floats), so the parts are verbatim subsets of the input.
        records = load_annotation_list(args.ann)
        if args.folds is not None or args.test_fraction is not None or args.group_regex:
            write_folds(records, args, classes)
            return 0
        train, val = split_records(records, args.val_fraction, args.seed, classes)
        write_annotations(args.out_train, train)
        write_annotations(args.out_val, val)
    except (AnnotationError, GroupPatternError, ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_counts(records, train, val, classes))
    print(f'train: {len(train)} images -> {args.out_train}')
    print(f'val:   {len(val)} images -> {args.out_val}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
