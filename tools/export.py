#!/usr/bin/env python
"""Export a trained checkpoint to ONNX for the torch-free runtime (python -m tbmm.deploy).

    python tools/export.py CONFIG CHECKPOINT --out model.onnx [--image-size 1024]
                           [--thresholds thresholds.json] [--opset 17] [--no-check]

The ONNX file holds the network (backbone, FPN, head; the fast configs' folded BatchNorm
included) with a dynamic batch, height and width, and as metadata everything the runtime needs:
class names, input size and normalisation, anchor generator, box coder, NMS and score settings,
the thresholds (if given), the tbmm version and the checkpoint's SHA-256. Right after the export,
onnxruntime runs the file on a batch of two and its raw outputs are compared with PyTorch's; a
difference above 1e-3 (relative to the output's range) fails the export. Run the model with

    python -m tbmm.deploy model.onnx IMAGES --out-dir DIR
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file of the checkpoint')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--image-size', type=int, default=None,
                        help='square size images are resized to (default: the test pipeline\'s)')
    parser.add_argument('--thresholds',
                        help='per-class thresholds JSON (tools/analysis_tools/thresholds.py) to '
                        'store in the model')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (at least 17)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime-vs-PyTorch check after the export')
    parser.add_argument('--unsafe-load-checkpoint', action='store_true',
                        help='allow checkpoints that fail torch\'s weights-only check (full '
                        'pickle: only for files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.unsafe_load_checkpoint:
        from tbmm.checkpoint import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading(True)
    from tbmm.apis.export import export_onnx

    summary = export_onnx(args.config, args.checkpoint, args.out, image_size=args.image_size,
                          thresholds=args.thresholds, opset=args.opset,
                          cfg_options=args.cfg_options, check=not args.no_check)
    meta = summary.metadata
    print(f'exported:   {summary.path} (opset {summary.opset}, {len(meta.classes)} classes, '
          f'input resized to {"x".join(map(str, meta.preprocess["resize"]["scale"]))})')
    if meta.thresholds:
        print(f'thresholds: {meta.thresholds["source"]} stored in the model')
    if summary.check is not None:
        print(f'check:      onnxruntime vs PyTorch on {tuple(summary.check.input_shape)}: max '
              f'difference {summary.check.max_abs_diff:.2g} (relative '
              f'{summary.check.max_rel_diff:.2g})')
    print(f'run it:     python -m tbmm.deploy {summary.path} IMAGES --out-dir DIR')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
