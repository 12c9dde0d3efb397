"""End-to-end demo on the built-in phantom data set (what `make demo` runs).

    python tools/demo.py [--data-root data/phantom] [--work-dir work_dirs/demo] [--epochs N]
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description='tbmm demo: phantom data -> train -> test -> overlays')
    parser.add_argument('--data-root', default='data/phantom')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--num-train', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=80)
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--epochs', type=int, help='override the phantom config\'s epochs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--precision', choices=['auto', 'float32', 'bfloat16'], default='auto',
                        help='auto: bfloat16 autocast where the CPU has bfloat16 hardware')
    args = parser.parse_args(argv)
    from tbmm.demo import run_demo
    run_demo(data_root=args.data_root, work_dir=args.work_dir, num_train=args.num_train,
             num_test=args.num_test, image_size=args.image_size, seed=args.seed,
             max_epochs=args.epochs,
             bf16=None if args.precision == 'auto' else args.precision == 'bfloat16')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
