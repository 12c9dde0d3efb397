#!/usr/bin/env python
"""Statistics of an annotation file, and how well a config's anchors cover its boxes.

    python tools/analysis_tools/dataset_stats.py ANN.json [--config CONFIG] [--classes C1,C2,...]
                                  [--image-size 1024] [--out DIR]

    python tools/analysis_tools/dataset_stats.py data/chestxdet/annotation/train.json \\
        --config configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py --out stats/train

Prints boxes and images per class, negatives, boxes per image, box width/height percentiles per
class, the class co-occurrence matrix (images holding both classes) and the boxes with several
classes (identical coordinates in one image: positions, exact class sets, pairs held; and boxes
repeated with their own class). With --config, also the
anchor coverage per class: the share of boxes whose best anchor of that config (boxes scaled as its
training Resize scales an --image-size image) reaches IoU 0.5 and the assigner's pos_iou_thr.
With --out, writes DIR/stats.txt (the tables), DIR/stats.json and DIR/cooccurrence.png.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import Counter

from tbmm.analysis.stats import dataset_statistics, format_statistics
from tbmm.classes import parse_class_list
from tbmm.datasets.annotations import read_annotations

#: IoU at which a box counts as covered, besides the assigner's pos_iou_thr.
COVERAGE_IOU = 0.5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann', help='annotation JSON (ChestX-Det format)')
    parser.add_argument('--config', help='also compute the anchor coverage of this config')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or a preset (chestxdet9, chestxdet10, '
                        'chestxdet13); default: every class in the file')
    parser.add_argument('--image-size', type=int, default=1024,
                        help='size of the (square) images the boxes refer to (default 1024, '
                        'ChestX-Det)')
    parser.add_argument('--out', help='write stats.txt, stats.json and cooccurrence.png here')
    return parser.parse_args(argv)


def anchor_coverage_of(config, records, classes, image_size):
    """Anchor coverage of ``config`` at IoU 0.5 and its assigner's pos_iou_thr, and the note on
    classes of ``records`` the config does not train (its data set build stops at them)."""
    from tbmm.analysis.anchors import (
        anchor_coverage,
        anchor_layout_from_config,
        assigner_pos_iou_thr,
    )
    from tbmm.apis.runner import config_classes, load_config
    from tbmm.classes import covering_preset

    cfg = load_config(config)
    trained = config_classes(cfg, 'train_dataloader')
    untrained = Counter(s for r in records for s in r['syms'] if trained and s not in trained)
    note = None
    if untrained:
        counts = ', '.join(f'{name}: {n}' for name, n in untrained.most_common())
        preset = covering_preset(tuple(trained) + tuple(untrained))
        note = (f'note: {len(untrained)} class(es) of this file are not in the config\'s '
                f'{len(trained)}-class list ({counts} boxes): its data set build stops at them'
                + (f' (the {preset} classes cover them all)' if preset else ''))
    layout = anchor_layout_from_config(cfg, image_size)
    pos_iou_thr = assigner_pos_iou_thr(cfg)
    thresholds = [COVERAGE_IOU] + ([pos_iou_thr] if pos_iou_thr is not None else [])
    coverage = anchor_coverage(records, layout, classes, thresholds)
    coverage['config'] = config
    coverage['pos_iou_thr'] = pos_iou_thr
    return coverage, note


def main(argv=None):
    args = parse_args(argv)
    if args.image_size < 1:
        print(f'error: --image-size must be positive, got {args.image_size}', file=sys.stderr)
        return 2
    try:
        classes = None if args.classes is None else list(parse_class_list(args.classes))
    except ValueError as e:
        print(f'error: --classes: {e}', file=sys.stderr)
        return 2
    records = read_annotations(args.ann)
    stats = dataset_statistics(records, classes)
    text = f'{args.ann}\n\n' + format_statistics(stats)
    if args.config:
        from tbmm.analysis.anchors import format_coverage
        try:
            stats['anchor_coverage'], note = anchor_coverage_of(
                args.config, records, stats['classes'], args.image_size)
        except ValueError as e:  # a config without anchors or without one fixed input scale
            print(f'error: {args.config}: {e}', file=sys.stderr)
            return 2
        pos = stats['anchor_coverage']['pos_iou_thr']
        text += (f'\n\n{format_coverage(stats["anchor_coverage"])}\n'
                 f'(assigner pos_iou_thr: {pos}; boxes below it get only their best anchor, '
                 'through low-quality matching)')
        if note:
            text += f'\n{note}'
    print(text)
    if args.out:
        from tbmm.visualization.heatmap import plot_count_matrix
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'stats.txt'), 'w', encoding='utf-8') as f:
            f.write(text + '\n')
        with open(osp.join(args.out, 'stats.json'), 'w', encoding='utf-8') as f:
            json.dump(stats, f, indent=1)
        plot_count_matrix(stats['cooccurrence']['matrix'], stats['classes'],
                          osp.join(args.out, 'cooccurrence.png'),
                          f'Images with both classes ({osp.basename(args.ann)})')
        print(f'written to {args.out}/ (stats.txt, stats.json, cooccurrence.png)')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
