"""Evaluate a checkpoint on a config's test set and print the per-class table.

    python tools/test.py configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py \\
        work_dirs/.../best.pth
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir overlays
    python tools/test.py CONFIG FOLD0.pth FOLD1.pth FOLD2.pth   # fold ensemble, fused by WBF

Writes WORK_DIR/test.metrics.json (with 95% bootstrap intervals of the images), the error analysis
WORK_DIR/test.analysis/ and one HTML page of it all, WORK_DIR/test.report.html (--no-report: the
metrics alone).
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a tbmm detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='+',
                        help='checkpoint file; several (of this config, e.g. the models of a '
                        'cross-validation): their detections fused by weighted boxes fusion, class '
                        'by class (with --tta, every model\'s views together)')
    parser.add_argument('--work-dir', help='where the log and the metrics JSON go')
    parser.add_argument('--out', help='also dump raw results to this .pkl file')
    parser.add_argument('--show-dir', help='draw prediction overlays into this folder '
                        '(relative to the run\'s timestamp folder in the work dir)')
    parser.add_argument('--metrics-prefix', help='write PREFIX.metrics.json, PREFIX.froc.png, '
                        'PREFIX.predictions.json, the analysis PREFIX.analysis/ and the page '
                        'PREFIX.report.html (default: WORK_DIR/test)')
    parser.add_argument('--no-report', action='store_true',
                        help='skip the bootstrap intervals, the error analysis and the HTML '
                        'report (PREFIX.report.html, see tools/analysis_tools/report.py)')
    parser.add_argument('--unsafe-load-checkpoint', action='store_true',
                        help='allow checkpoints that fail torch\'s weights-only check (full '
                        'pickle: only for files you trust)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: horizontal flip, merged by weighted boxes '
                        'fusion (the config\'s tta_model/tta_pipeline when it has them)')
    parser.add_argument('--amp', action=argparse.BooleanOptionalAction, default=None,
                        help='test under mixed precision (float16 on CUDA, bfloat16 on CPUs with '
                        'bfloat16 hardware) or not (--no-amp); default: as the config says '
                        '(test_cfg.fp16: on in the _fast_bf16/_fast_fp16 configs)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. test_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import os
    if args.unsafe_load_checkpoint:
        from tbmm.checkpoint import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading(True)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    import tbmm.plugin  # noqa: F401  (also for configs that do not import it themselves)
    from tbmm.apis import prepare_test_config, run_test
    from tbmm.evaluation import format_table

    cfg = prepare_test_config(
        args.config, args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint,
        work_dir=args.work_dir, cfg_options=args.cfg_options,
        out=args.out, show_dir=args.show_dir, metrics_prefix=args.metrics_prefix, tta=args.tta,
        launcher=args.launcher, amp=args.amp)
    metrics, result = run_test(cfg)
    if result is not None:  # only rank 0 writes it
        prefix = next(e.outfile_prefix for e in cfg.test_evaluator
                      if e.get('type') == 'ChestXDetMetric')  # a result means there is one
        report = None
        if not args.no_report:
            import json

            from tbmm.evaluation.report_page import write_test_report
            report = write_test_report(cfg, prefix)
            with open(prefix + '.metrics.json') as f:
                result = json.load(f)  # now with its bootstrap intervals
        print(format_table(result))
        if len(args.checkpoint) > 1:
            print(f'Ensemble of {len(args.checkpoint)} checkpoints, detections fused by weighted '
                  f'boxes fusion' + (' (with their flipped views)' if args.tta else ''))
        print(f'Per-class metrics: {prefix}.metrics.json')
        if report is not None:
            print(f'Report: {report} (analysis: {prefix}.analysis/)')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
