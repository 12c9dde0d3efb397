"""Detect lesions on chest X-rays with an exported tbmm ONNX model (no torch, no mmcv needed).

    python -m tbmm.deploy model.onnx IMAGES... --out-dir DIR [--batch-size N]
        [--providers CUDAExecutionProvider CPUExecutionProvider] [--threads N]
        [--thresholds thresholds.json] [--score-thr 0.3]

IMAGES are folders (searched recursively for PNG/JPEG/BMP/TIFF/DICOM), files or quoted globs.
Writes DIR/predictions.json (every detection, with "scores", an image-level "abnormal_score" and,
with thresholds, "above_threshold" per box), DIR/overlays/<name>.png and, when some files cannot be
read or do not exist, DIR/unreadable.txt; the other images still run. Per-class thresholds come
from --thresholds, else from the model (tools/export.py --thresholds), else --score-thr applies to
every class. Exit status 2 with one error line for a file that is no tbmm ONNX model, a bad
thresholds file, or no readable image.
"""
import argparse
import sys

_LISTED_FAILURES = 10


def parse_args(argv=None):
    """The command line of ``python -m tbmm.deploy``."""
    parser = argparse.ArgumentParser(prog='python -m tbmm.deploy',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('model', help='ONNX model exported by tools/export.py')
    parser.add_argument('images', nargs='+', help='image folders, files or quoted glob patterns')
    parser.add_argument('--out-dir', required=True, help='where predictions.json and overlays/ go')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--providers', nargs='+', default=['CPUExecutionProvider'],
                        help='onnxruntime execution providers in order of preference (default '
                        'CPUExecutionProvider; CUDAExecutionProvider with onnxruntime-gpu)')
    parser.add_argument('--threads', type=int, default=None,
                        help="onnxruntime's threads per operator (default: its own choice)")
    parser.add_argument('--thresholds',
                        help='per-class thresholds JSON (tools/analysis_tools/thresholds.py); '
                        'overrides those stored in the model')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn and counted as a finding when there are no '
                        'per-class thresholds (default 0.3; predictions.json keeps every box)')
    parser.add_argument('--dicom-out', metavar='DIR',
                        help='also write, per DICOM input, a Comprehensive SR of its findings and '
                        'a GSPS drawing them (DIR/<name>.sr.dcm, DIR/<name>.gsps.dcm; needs '
                        'highdicom), as tools/infer.py --dicom-out')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the model on the images; exit status 0, or 2 after one error line."""
    args = parse_args(argv)
    if args.batch_size < 1:
        print(f'error: --batch-size must be at least 1, got {args.batch_size}', file=sys.stderr)
        return 2
    if not 0 <= args.score_thr <= 1:
        print(f'error: --score-thr must be between 0 and 1, got {args.score_thr}',
              file=sys.stderr)
        return 2
    from tbmm.datasets.image_files import report_unreadable
    from tbmm.deploy.runtime import OnnxDetector, run_folder

    model = OnnxDetector(args.model, providers=args.providers, intra_op_threads=args.threads)
    thresholds = None
    if args.thresholds:
        from tbmm.evaluation.functional.thresholds import load_thresholds
        thresholds = load_thresholds(args.thresholds, classes=model.classes)
    summary = run_folder(model, args.images, args.out_dir, score_thr=args.score_thr,
                         batch_size=args.batch_size, thresholds=thresholds,
                         progress=not args.no_progress, dicom_out=args.dicom_out)
    rule = ('above their class threshold' if summary.thresholds_source
            else f'scoring >= {args.score_thr:g}')
    print(f'{summary.n_predicted} of {summary.n_images} image(s) predicted; '
          f'{summary.n_abnormal} with a finding {rule}')
    if summary.thresholds_source == 'model':
        print('thresholds:  stored in the model (tools/export.py --thresholds)')
    print(f'providers:   {", ".join(summary.providers)}')
    if model.precision != 'float32':
        print(f'precision:   {model.precision} (tools/export.py --{model.precision})')
    print(f'predictions: {summary.predictions_path}')
    print(f'overlays:    {summary.overlay_dir}/')
    if summary.dicom is not None:
        written, failures = summary.dicom.written, summary.dicom.failures
        print(f'DICOM:       {len(written)} SR + GSPS pair(s) in {args.dicom_out}/')
        for name, reason in failures[:_LISTED_FAILURES]:
            print(f'  {name}: {reason}', file=sys.stderr)
    if summary.n_skipped:
        print(f'skipped {summary.n_skipped} file(s) that are not PNG/JPEG/BMP/TIFF/DICOM')
    if summary.failures:
        report_unreadable(summary.failures, args.out_dir, limit=_LISTED_FAILURES)
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
