#!/usr/bin/env python
"""Downscale a data set's images and boxes together (area averaging), e.g. to 512-pixel copies.

    python tools/dataset_converters/resize_dataset.py ANN.json IMG_DIR --size 512 --out-dir D
                                                      [--skip-missing] [--decimals 2]

Writes D/images/<file_name> (PNG, the pixels as stored: 8 or 16 bits, gray or colour, only
resized) and D/<ANN basename> with the boxes scaled by the same factor. Square images become
SIZE x SIZE; others keep their aspect ratio, the longer side becoming SIZE. Images are never
upscaled. A missing or unreadable image is one ``error:`` line naming it (exit status 2), or
with --skip-missing left out with its record and counted.
"""
import argparse
import os.path as osp
import sys

from tbmm.utils import run_cli


def _decimals(text):
    if text.lower() == 'none':
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f'expected a number of decimals >= 0 or "none", got '
                                         f'{text!r}')
    return int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann', help='annotation JSON')
    parser.add_argument('img_dir', help='folder the file names are relative to')
    parser.add_argument('--size', type=int, required=True,
                        help='pixels of the longer side after resizing (e.g. 512)')
    parser.add_argument('--out-dir', required=True,
                        help='writes images/ and the annotation here (not inside IMG_DIR)')
    parser.add_argument('--skip-missing', action='store_true',
                        help='leave out (and count) missing or unreadable images and their records')
    parser.add_argument('--decimals', type=_decimals, default=2,
                        help='round the scaled boxes to this many decimals (default 2; "none")')
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error(f'--size must be positive, got {args.size}')
    return args


def main(argv=None):
    args = parse_args(argv)
    from tbmm.datasets.resize import resize_dataset
    report, out_ann = resize_dataset(args.ann, args.img_dir, args.size, args.out_dir,
                                     skip_missing=args.skip_missing, decimals=args.decimals)
    print(report.format())
    print(f'wrote {len(report.records)} images -> {osp.join(args.out_dir, "images")}, '
          f'annotation -> {out_ann}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
