#!/usr/bin/env python
"""Convert other box formats to the annotation format (and COCO both ways).

    python tools/dataset_converters/convert.py nih BBOX_CSV --out OUT.json [--scale 0.5]
                                               [--images DIR] [--skip-missing]
                                               [--negatives-from-images] [--classes nih8]
    python tools/dataset_converters/convert.py to-coco ANN.json --out COCO.json
                                               (--image-size W H | --images DIR)
                                               [--classes chestxdet13] [--clip]
    python tools/dataset_converters/convert.py from-coco COCO.json --out ANN.json [--clip]
    python tools/dataset_converters/convert.py vinbigdata TRAIN_CSV --out OUT.json
                                               [--fuse wbf|none] [--iou-thr 0.4]
                                               [--image-sizes SIZES_CSV] [--suffix .png]

Prints what was converted (images, negatives, boxes per class) and counts everything left out,
merged or clipped. An input mistake is one ``error:`` line naming the file and the row or entry,
exit status 2.
"""
import argparse
import os.path as osp
import sys

from tbmm.classes import parse_class_list
from tbmm.datasets.annotations import read_annotations, write_annotations
from tbmm.datasets.convert import (
    FUSE_MODES,
    convert_nih,
    convert_vinbigdata,
    from_coco,
    read_image_sizes,
    to_coco,
    write_coco,
)
from tbmm.utils import run_cli


def _decimals(text):
    if text.lower() == 'none':
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a number of decimals >= 0 or "none", got '
                                         f'{text!r}')
    return value


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < float('inf'):
            raise argparse.ArgumentTypeError(f'expected a positive number, got {text!r}')
        return value
    return parse


def _add_classes(parser, default_text):
    parser.add_argument('--classes', help='comma-separated class names or a preset (chestxdet9, '
                        f'chestxdet10, chestxdet13, nih8); {default_text}')


def _add_drop_unknown(parser):
    parser.add_argument('--drop-unknown', action='store_true',
                        help='drop (and count) boxes of classes outside --classes instead of '
                        'stopping at the first; an image left without a box is left out')


def _add_decimals(parser):
    parser.add_argument('--decimals', type=_decimals, default=1,
                        help='round box coordinates to this many decimals (default 1: 0.1 px; '
                        '"none": as computed)')


def _add_clip(parser):
    parser.add_argument('--clip', action='store_true',
                        help='clip boxes partly outside their (known-size) image to it, counted, '
                        'instead of refusing them')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    nih = commands.add_parser('nih', help="NIH ChestX-ray14's BBox_List_2017.csv",
                              description='NIH ChestX-ray14 box CSV (x, y, w, h in 1024-px '
                              'coordinates) to the annotation format: one record per image, '
                              'sorted by file name, boxes in CSV order.')
    nih.add_argument('csv', help='BBox_List_2017.csv (or rows of it with its header)')
    nih.add_argument('--scale', type=_positive(float), default=1.0,
                     help='multiply the boxes by this (0.5 for 512-pixel copies; default 1)')
    nih.add_argument('--images', metavar='DIR',
                     help='the image folder: images of the CSV missing there are an error, every '
                     "image's size must be 1024 * scale")
    nih.add_argument('--skip-missing', action='store_true',
                     help='with --images: skip (and count) CSV images that are not in DIR')
    nih.add_argument('--negatives-from-images', action='store_true',
                     help='with --images: add the images of DIR that have no box as negatives')
    _add_classes(nih, 'default: every class in the CSV')
    _add_drop_unknown(nih)
    _add_decimals(nih)

    coco_out = commands.add_parser('to-coco', help='annotation JSON to COCO detection JSON',
                                   description='Annotation JSON to COCO detection JSON.')
    coco_out.add_argument('ann', help='annotation JSON')
    _add_classes(coco_out, 'the category order, ids from 1; default: the file\'s classes, '
                 'alphabetical')
    size = coco_out.add_mutually_exclusive_group(required=True)
    size.add_argument('--image-size', type=_positive(int), nargs=2, metavar=('W', 'H'),
                      help='width and height of every image')
    size.add_argument('--images', metavar='DIR', help="read each image's size from its header")
    _add_clip(coco_out)

    coco_in = commands.add_parser('from-coco', help='COCO detection JSON to annotation JSON',
                                  description='COCO detection JSON to annotation JSON (crowd '
                                  'annotations are left out and counted).')
    coco_in.add_argument('coco', help='COCO detection JSON')
    _add_clip(coco_in)

    vin = commands.add_parser('vinbigdata', help="VinDr-CXR / VinBigData's per-reader box CSV",
                              description='VinBigData train.csv (image_id, class_name, class_id, '
                              'rad_id, x_min, y_min, x_max, y_max) to the annotation format; '
                              '"No finding" images become negatives.')
    vin.add_argument('csv', help='train.csv')
    vin.add_argument('--fuse', choices=FUSE_MODES, default='wbf',
                     help="merge the readers' boxes of a class by weighted boxes fusion (wbf, "
                     'default; needs ensemble-boxes) or keep each reader\'s (none)')
    vin.add_argument('--iou-thr', type=float, default=0.4,
                     help='IoU above which WBF merges two boxes (default 0.4)')
    vin.add_argument('--image-sizes', metavar='SIZES_CSV',
                     help='CSV image_id,width,height: boxes outside their image are refused '
                     '(fusion does not need the sizes)')
    vin.add_argument('--suffix', default='.png',
                     help='file_name = image_id + this (default .png)')
    _add_classes(vin, 'default: every class in the CSV')
    _add_drop_unknown(vin)
    _add_decimals(vin)
    _add_clip(vin)

    for sub in (nih, coco_out, coco_in, vin):
        sub.add_argument('--out', required=True, help='the JSON file to write')
    args = parser.parse_args(argv)
    if getattr(args, 'classes', None) is not None:
        try:
            args.classes = parse_class_list(args.classes)
        except ValueError as e:
            parser.error(f'--classes: {e}')
    if args.command == 'nih' and not args.images and (args.skip_missing
                                                      or args.negatives_from_images):
        parser.error('--skip-missing and --negatives-from-images need --images DIR')
    if args.command == 'vinbigdata' and not 0 < args.iou_thr < 1:
        parser.error(f'--iou-thr must be between 0 and 1, got {args.iou_thr}')
    source = next(getattr(args, key) for key in ('csv', 'ann', 'coco') if hasattr(args, key))
    if osp.realpath(args.out) == osp.realpath(source):
        parser.error('--out must not be the input file')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.command == 'to-coco':
        coco, report = to_coco(args.ann, classes=args.classes, image_size=args.image_size,
                               images_dir=args.images, clip=args.clip)
        write_coco(args.out, coco)
        print(report.format())
        print(f'wrote {len(coco["images"])} images, {len(coco["annotations"])} annotations, '
              f'{len(coco["categories"])} categories -> {args.out}')
        return 0
    if args.command == 'nih':
        report = convert_nih(args.csv, scale=args.scale, decimals=args.decimals,
                             classes=args.classes, drop_unknown=args.drop_unknown,
                             images_dir=args.images, skip_missing=args.skip_missing,
                             negatives_from_images=args.negatives_from_images)
    elif args.command == 'from-coco':
        report = from_coco(args.coco, clip=args.clip)
    else:
        sizes = None if args.image_sizes is None else read_image_sizes(args.image_sizes)
        report = convert_vinbigdata(args.csv, fuse=args.fuse, iou_thr=args.iou_thr,
                                    image_sizes=sizes, suffix=args.suffix,
                                    decimals=args.decimals, classes=args.classes,
                                    drop_unknown=args.drop_unknown, clip=args.clip)
    write_annotations(args.out, report.records)
    read_annotations(args.out)  # what was written reads back
    print(report.format())
    print(f'wrote {len(report.records)} images -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
