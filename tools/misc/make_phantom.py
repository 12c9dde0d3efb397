"""Write the synthetic phantom data set (chest-X-ray-like images with boxed lesions).

    python tools/misc/make_phantom.py data/phantom --num-train 300 --num-test 60 --image-size 256
    python tools/misc/make_phantom.py data/phantom --num-train 500 --num-test 80 \\
        --image-size 256 --demo-mix  # the demo's data set (what demo/phantom_demo.py writes)

Layout as the real data: OUT_ROOT/annotation/{train,test}.json and OUT_ROOT/{train,test}_data/*.png.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write the synthetic phantom data set')
    parser.add_argument('out_root', help='folder to write annotation/ and {train,test}_data/ into')
    parser.add_argument('--num-train', type=int, default=300)
    parser.add_argument('--num-test', type=int, default=60)
    parser.add_argument('--image-size', type=int, default=1024,
                        help='side in pixels; lesion sizes scale with it (real data: 1024)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--demo-mix', action='store_true',
                        help="the demo's mix: every class equally often, 2-5 lesions per image, "
                             '15%% negatives (default: the real data\'s class and count mix)')
    parser.add_argument('--classes', help='comma-separated class names or a preset '
                        '(default: the 9 ChestX-Det classes)')
    args = parser.parse_args(argv)
    from tbmm.classes import parse_class_list
    from tbmm.datasets.phantom import REAL_BOX_STATS
    try:
        args.classes = parse_class_list(args.classes)
    except ValueError as e:
        parser.error(str(e))
    unknown = [c for c in args.classes if c not in REAL_BOX_STATS]
    if unknown:
        parser.error(f'the phantom cannot draw {unknown}; it knows {", ".join(REAL_BOX_STATS)}')
    for name in ('num_train', 'num_test'):
        if getattr(args, name) < 0:
            parser.error(f'--{name.replace("_", "-")} must not be negative')
    if args.image_size < 64:
        parser.error('--image-size must be at least 64')
    return args


def main(argv=None):
    args = parse_args(argv)
    from tbmm.datasets.phantom import make_phantom_dataset

    classes = args.classes
    mix = {}
    if args.demo_mix:
        from tbmm.datasets.phantom import DEMO_PHANTOM_OPTIONS
        mix = DEMO_PHANTOM_OPTIONS
    result = make_phantom_dataset(args.out_root, num_train=args.num_train, num_test=args.num_test,
                                  image_size=args.image_size, seed=args.seed, classes=classes,
                                  **mix)
    print(f'phantom data set ({args.image_size}x{args.image_size}, seed {args.seed}) in '
          f'{result.root}')
    print(f'  train: {result.num_train} images in {result.train_img_dir}, '
          f'annotations {result.train_ann_file}')
    print(f'  test:  {result.num_test} images in {result.test_img_dir}, '
          f'annotations {result.test_ann_file}')
    counts = result.box_counts
    width = max(len(c) for c in classes + ('boxes per class', ))
    print(f'  {"boxes per class":<{width}}  train   test')
    for name in classes:
        print(f'  {name:<{width}}  {counts["train"][name]:5d}  {counts["test"][name]:5d}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
