#!/usr/bin/env python
"""Detect lesions on new chest X-rays (PNG/JPEG/BMP/TIFF of any bit depth, DICOM) with a \
trained checkpoint.

    python tools/infer.py CONFIG CHECKPOINT [CHECKPOINT ...] INPUT --out-dir DIR [--score-thr 0.3]
                          [--device cpu|cuda] [--batch-size N] [--tta] [--amp | --no-amp]
                          [--thresholds thresholds.json] [--dicom-out DICOM_DIR]

    python tools/infer.py configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py \\
        work_dirs/r101/best_chestxdet_mAP50_epoch_10.pth data/chestxdet/test_data_A \\
        --out-dir preds_A

INPUT is a folder (searched recursively for .png/.jpg/.jpeg/.dcm/.dicom), one file, or a quoted
glob ('scans/**/*.dcm'). Writes DIR/predictions.json (annotation format plus "scores" per box and
an image-level "abnormal_score"; every detection of the model, so it can be evaluated with
tools/evaluate.py), DIR/overlays/<name>.png (boxes scoring >= --score-thr) and, when some files
cannot be read, DIR/unreadable.txt. Unreadable files are reported at the end; the exit status is
non-zero only when none could be read (any other error stops the run with its traceback). DICOM
files whose window/LUT is malformed are read with their value range stretched, and counted.
With --dicom-out, each DICOM input also gets a Comprehensive SR of its findings (the boxes the
overlays draw; coded finding names, scores, the model's hash) and a GSPS drawing them on it.

Several checkpoints of the config (e.g. the K models of a cross-validation) make a fold ensemble:
each image goes through every model and their detections are fused with weighted boxes fusion,
class by class (with --tta, every model's plain and flipped views are fused together).
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction

# How many unreadable files are named on the terminal (all of them go to unreadable.txt).
_LISTED_FAILURES = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file of the checkpoint')
    parser.add_argument('checkpoint', nargs='+',
                        help='checkpoint file; several (of this config): their detections fused by '
                        'weighted boxes fusion, class by class')
    parser.add_argument('input', help='image folder, image file, or quoted glob pattern')
    parser.add_argument('--out-dir', required=True, help='where predictions.json and overlays/ go')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn on the overlays and counted as a finding '
                        '(default 0.3; predictions.json keeps every detection)')
    parser.add_argument('--thresholds',
                        help='per-class operating thresholds JSON '
                        '(tools/analysis_tools/thresholds.py): each box gets an above_threshold '
                        'flag, overlays and the finding count follow it (instead of '
                        '--score-thr); predictions.json keeps every box')
    parser.add_argument('--device', default='cpu', help="'cpu' (default), 'cuda' or 'cuda:N'")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: horizontal flip, merged by weighted boxes '
                        'fusion (twice the compute)')
    parser.add_argument('--amp', action=argparse.BooleanOptionalAction, default=None,
                        help='run the model in mixed precision (float16 on CUDA, bfloat16 on CPUs '
                        'with bfloat16 hardware) or not (--no-amp); default: as the config says '
                        '(test_cfg.fp16: on in the _fast_bf16/_fast_fp16 configs)')
    parser.add_argument('--unsafe-load-checkpoint', action='store_true',
                        help='allow checkpoints that fail torch\'s weights-only check (full '
                        'pickle: only for files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    parser.add_argument('--dicom-out', metavar='DIR',
                        help='also write, per DICOM input, a Comprehensive SR (TID 1500) of its '
                        'findings and a GSPS drawing them on the image: DIR/<name>.sr.dcm and '
                        'DIR/<name>.gsps.dcm')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def _check_args(args):
    """A one-line complaint about the arguments, or None."""
    if args.batch_size < 1:
        return f'--batch-size must be at least 1, got {args.batch_size}'
    if not 0 <= args.score_thr <= 1:
        return f'--score-thr must be between 0 and 1, got {args.score_thr}'
    if args.device != 'cpu' and not args.device.startswith('cuda'):
        return f"--device must be 'cpu', 'cuda' or 'cuda:N', got {args.device!r}"
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            return f'--device {args.device}: no CUDA device available (use --device cpu)'
    return None


def _report_dicom(writer, dicom_out):
    print(f'DICOM:       {len(writer.written)} SR + GSPS pair(s) in {dicom_out}/'
          + (f' ({writer.n_not_dicom} non-DICOM input(s) have none)' if writer.n_not_dicom
             else ''))
    for name, reason in writer.failures[:_LISTED_FAILURES]:
        print(f'  {name}: {reason}', file=sys.stderr)
    if len(writer.failures) > _LISTED_FAILURES:
        print(f'  ... and {len(writer.failures) - _LISTED_FAILURES} more', file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    problem = _check_args(args)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    if args.unsafe_load_checkpoint:
        from tbmm.checkpoint import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading(True)
    from tbmm.apis.folder_inference import run_inference
    from tbmm.datasets.image_files import report_unreadable
    from tbmm.datasets.image_io import recording_window_fallbacks

    checkpoint = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    # DICOM files with a malformed window/LUT are read with their value range stretched instead:
    # counted here and said once at the end, not one warning per file.
    with recording_window_fallbacks() as window_fallbacks:
        summary = run_inference(args.config, checkpoint, args.input, args.out_dir,
                                score_thr=args.score_thr, device=args.device,
                                batch_size=args.batch_size, tta=args.tta,
                                cfg_options=args.cfg_options, progress=not args.no_progress,
                                amp=args.amp, thresholds=args.thresholds,
                                dicom_out=args.dicom_out)
    rule = ('above their class threshold' if args.thresholds
            else f'scoring >= {args.score_thr:g}')
    print(f'{summary.n_predicted} of {summary.n_images} image(s) predicted; '
          f'{summary.n_abnormal} with a finding {rule}')
    if len(args.checkpoint) > 1:
        print(f'ensemble:    {len(args.checkpoint)} checkpoints, detections fused by weighted '
              f'boxes fusion' + (' (with their flipped views)' if args.tta else ''))
    print(f'precision:   {summary.precision}'
          + (f' ({summary.precision_notice})' if summary.precision_notice else ''))
    print(f'predictions: {summary.predictions_path}')
    print(f'overlays:    {summary.overlay_dir}/')
    if summary.dicom is not None:
        _report_dicom(summary.dicom, args.dicom_out)
    if summary.n_skipped:
        print(f'skipped {summary.n_skipped} file(s) that are not .png/.jpg/.jpeg/.dcm/.dicom')
    if window_fallbacks:
        first, reason = next(iter(window_fallbacks.items()))
        print(f'{len(window_fallbacks)} DICOM file(s) with a malformed window/LUT, read with their '
              f'value range stretched instead (first: {first}: {reason})', file=sys.stderr)
    if summary.failures:
        report_unreadable(summary.failures, args.out_dir, limit=_LISTED_FAILURES)
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
