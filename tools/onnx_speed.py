#!/usr/bin/env python
"""Time onnxruntime against stock MMDetection on one image (R-101 RetinaNet, float32), same process.

    python tools/onnx_speed.py [--image-size 1024] [--iters 5] [--warmup 1] [--threads 2]
                               [--providers CPUExecutionProvider] [--out record.json]

Stock MMDetection's retinanet_r101_fpn_1x_coco.py (random weights from a seed, the 9 chest classes)
is exported to ONNX and both run the same synthetic radiograph, turn about: stock `test_step`
(normalise, pad, network, decoding, NMS) against `python -m tbmm.deploy`'s OnnxDetector.predict
(the same steps, the network in onnxruntime, the rest in numpy). Prints seconds per image (median),
the ratio and whether the detections agree; --out writes everything as JSON (a record for
docs/benchmarks.md). tbmm/apis/onnx_speed.py has the details.
"""
import argparse
import json
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--image-size', type=int, default=1024, help='image side (default 1024)')
    parser.add_argument('--iters', type=int, default=5, help='timed images per backend')
    parser.add_argument('--warmup', type=int, default=1, help='untimed images per backend first')
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's and onnxruntime's intra-op threads (default: theirs)")
    parser.add_argument('--providers', nargs='+', default=['CPUExecutionProvider'],
                        help='onnxruntime execution providers')
    parser.add_argument('--out', help='write the result as JSON here')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or args.image_size < 64:
        print('error: --iters must be >= 1, --warmup >= 0 and --image-size >= 64',
              file=sys.stderr)
        return 2
    from tbmm.apis.onnx_speed import compare_onnx_with_stock
    from tbmm.deploy.runtime import check_providers
    from tbmm.utils import ensure_parent_dir

    check_providers(args.providers)
    result = compare_onnx_with_stock(size=args.image_size, iters=args.iters,
                                     warmup=args.warmup, threads=args.threads,
                                     providers=args.providers)
    detections = result['detections']
    print(f"{result['size']}² image, float32, {result['iters']} timed run(s) each, threads "
          f"{result['threads'] or 'default'} ({', '.join(result['providers'])})")
    print(f"stock mmdet:  {result['stock_median_s']:.3f} s/img (median)")
    print(f"onnxruntime:  {result['onnx_median_s']:.3f} s/img (median)")
    print(f"ratio:        {result['ratio']:.2f}x (stock time / onnxruntime time)")
    print(f"detections:   stock {detections['stock']}, onnxruntime {detections['onnx']}, "
          f"largest score difference {detections['max_score_diff']}")
    if args.out:
        with open(ensure_parent_dir(args.out), 'w', encoding='utf-8') as f:
            json.dump(dict(result, command='python tools/onnx_speed.py ' + ' '.join(
                argv if argv is not None else sys.argv[1:])), f, indent=1)
        print(f'record:       {args.out}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
