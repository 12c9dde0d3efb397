#!/usr/bin/env python
"""Draw the ground truth of a config's data set after its pipeline (augmentations included).

    python tools/analysis_tools/browse_dataset.py CONFIG --out-dir DIR [--num N]
                                                  [--split train|val|test] [--seed S]
                                                  [--cfg-options KEY=VALUE ...]

    python tools/analysis_tools/browse_dataset.py \\
        configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py --out-dir browse/train --num 20

Writes DIR/<index>_<image>.png: the image as the model gets it (resized, maybe flipped) with its
class-coloured ground-truth boxes. The first N images by default; --seed picks N at random and
repeats the same augmentations.
"""
import argparse
import sys

from tbmm.analysis.browse import SPLITS
from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--out-dir', required=True, help='where the overlays go')
    parser.add_argument('--num', type=int, default=20, help='how many images (default 20)')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='which data loader\'s data set and pipeline (default train)')
    parser.add_argument('--seed', type=int, help='pick the images at random with this seed')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. '
                        'train_dataloader.dataset.data_root=data/phantom/')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.num < 1:
        print(f'error: --num must be at least 1, got {args.num}', file=sys.stderr)
        return 2
    from tbmm.analysis.browse import browse_dataset
    from tbmm.apis.runner import load_config

    cfg = load_config(args.config, args.cfg_options)
    try:
        written = browse_dataset(cfg, args.out_dir, args.split, args.num, args.seed)
    except ValueError as e:
        if type(e) is not ValueError:  # only our own messages about the config
            raise
        print(f'error: {args.config}: {e}', file=sys.stderr)
        return 2
    print(f'wrote {len(written)} overlay(s) of the {args.split} split to {args.out_dir}/')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
