#!/usr/bin/env python
"""Export a trained checkpoint to ONNX for the torch-free runtime (python -m tbmm.deploy).

    python tools/export.py CONFIG CHECKPOINT --out model.onnx [--image-size 1024]
                           [--thresholds thresholds.json] [--opset 17] [--no-check]
                           [--int8 --calibration-images DIR [--calibration-count 32]]

The ONNX file holds the network (backbone, FPN, head; the fast configs' folded BatchNorm
included) with a dynamic batch, height and width, and as metadata everything the runtime needs:
class names, input size and normalisation, anchor generator, box coder, NMS and score settings,
the thresholds (if given), the tbmm version and the checkpoint's SHA-256. Right after the export,
onnxruntime runs the file on a batch of two and its raw outputs are compared with PyTorch's; a
difference above 1e-3 (relative to the output's range) fails the export.

With --int8, a second model (default: OUT with .int8.onnx) is quantised from it with onnxruntime's
static quantisation (tbmm.deploy.quantize): int8 weights per output channel, uint8 activations
calibrated on --calibration-images (images like those the model will see; --calibration-count of
them, spread over the folder), the head's output convolutions kept float32. It carries the same
metadata plus tbmm.precision = "int8" and how it was made (tbmm.quantization). Check its accuracy
on your validation set before using it (docs/benchmarks.md has the phantom's). Run the model with

    python -m tbmm.deploy model.onnx IMAGES --out-dir DIR
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction
from tbmm.deploy.quantize import CALIBRATION_METHODS, DEFAULT_CALIBRATION_COUNT, FORMATS


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
    quant = parser.add_argument_group('int8 quantisation (a second model)')
    quant.add_argument('--int8', action='store_true',
                       help='also write an int8 model calibrated on --calibration-images')
    quant.add_argument('--int8-out', default=None,
                       help='the int8 .onnx to write (default: OUT with .int8.onnx)')
    quant.add_argument('--calibration-images', nargs='+', metavar='DIR',
                       help='folders, files or quoted globs of images like those the model will '
                       'see (needed with --int8)')
    quant.add_argument('--calibration-count', type=int, default=DEFAULT_CALIBRATION_COUNT,
                       help='calibration images used, spread over the sorted list (default '
                       f'{DEFAULT_CALIBRATION_COUNT})')
    quant.add_argument('--quant-format', choices=FORMATS, default='qdq',
                       help="onnxruntime's quantised format (default qdq)")
    quant.add_argument('--calibration-method', choices=CALIBRATION_METHODS, default='minmax',
                       help='how activation ranges are chosen (default minmax)')
    quant.add_argument('--quantize-outputs', action='store_true',
                       help="quantise the head's output convolutions too (default: kept float32)")
    parser.add_argument('--unsafe-load-checkpoint', action='store_true',
                        help='allow checkpoints that fail torch\'s weights-only check (full '
                        'pickle: only for files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    args = parser.parse_args(argv)
    if not args.int8:
        given = [name for name in ('int8_out', 'calibration_images') if getattr(args, name)]
        if given:
            parser.error(f'--{given[0].replace("_", "-")} needs --int8')
    elif not args.calibration_images:
        parser.error('--int8 needs --calibration-images DIR (images like those the model will '
                     'see)')
    elif args.calibration_count < 1:
        parser.error(f'--calibration-count must be at least 1, got {args.calibration_count}')
    return args


def int8_path(out):
    """``model.onnx`` -> ``model.int8.onnx``."""
    stem = out[:-len('.onnx')] if out.endswith('.onnx') else out
    return stem + '.int8.onnx'


def main(argv=None):
    args = parse_args(argv)
    if args.unsafe_load_checkpoint:
        from tbmm.checkpoint import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading(True)
    from tbmm.apis.export import export_onnx

    if args.int8:  # before the export: a wrong folder is one error line, not a wasted export
        from tbmm.deploy.quantize import find_calibration_images
        find_calibration_images(args.calibration_images)
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
    run_path = summary.path
    if args.int8:
        from tbmm.deploy.quantize import quantize_int8
        quantized = quantize_int8(
            summary.path, args.int8_out or int8_path(summary.path), args.calibration_images,
            count=args.calibration_count, quant_format=args.quant_format,
            calibrate_method=args.calibration_method,
            keep_outputs_float=not args.quantize_outputs)
        settings = quantized.settings
        kept = ('output convolutions kept float32' if quantized.float_nodes
                else 'all convolutions int8')
        print(f'int8:       {quantized.path} ({settings["format"]}, {settings["weights"]} '
              f'weights, uint8 activations, {settings["calibrate_method"]} calibration on '
              f'{quantized.n_calibration} image(s); {kept})')
        print(f'int8 check: against float32 on {quantized.calibration_files[0]}: largest score '
              f'difference {quantized.check["max_score_diff"]:.2g}, box delta '
              f'{quantized.check["max_delta_diff"]:.2g} (measure AP before using it)')
        run_path = quantized.path
    print(f'run it:     python -m tbmm.deploy {run_path} IMAGES --out-dir DIR')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
