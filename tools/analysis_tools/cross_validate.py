#!/usr/bin/env python
"""K-fold cross-validation of a config: patient-grouped folds, one model per fold, pooled
out-of-fold metrics with bootstrap intervals, beside a trivial baseline on the same folds.

    python tools/analysis_tools/cross_validate.py configs/tb_retinanet/nih/retinanet_nih8_cpu.py \\
        --ann data/nih-bbox/train.json --folds 5 --group-regex '^(\\d{8})_' \\
        --work-dir work_dirs/cv_nih8

Rerunning the same command goes on where it stopped (a fold with predictions is not redone, a
killed fold resumes from its last checkpoint). Writes WORK_DIR/cv_summary.md and .json, and the
HTML report of the pooled out-of-fold predictions, WORK_DIR/cv.report.html
(tools/analysis_tools/report.py).
"""
import argparse
import sys

from tbmm.cli import CfgOptionsAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file (its training classes are stratified on)')
    parser.add_argument('--ann', required=True, help='annotation JSON to cross-validate on')
    parser.add_argument('--work-dir', required=True, help='where folds, runs and summary go')
    parser.add_argument('--folds', type=int, default=5, help='number of folds (default 5)')
    parser.add_argument('--group-regex', help="regular expression whose first group is the "
                        "patient id in a file name, e.g. '^(\\\\d{8})_' for NIH (default: every "
                        "image its own patient)")
    parser.add_argument('--img-dir', help="image folder (default: the config's data_root and "
                        "data_prefix)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the split, of the bootstrap and, unless the config sets '
                        'randomness.seed, of training (default 0)')
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='bootstrap resamples of patients for the 95%% intervals '
                        '(default 1000)')
    parser.add_argument('--only-folds', help='comma-separated folds to run now (e.g. 0,1); the '
                        'summary is written once every fold is done')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training '
                        '(bfloat16 on a CPU, see tools/train.py)')
    parser.add_argument('--amp-dtype', default='bfloat16', choices=['float16', 'bfloat16'])
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings of every fold')
    parser.add_argument('--no-report', action='store_true',
                        help='skip the HTML report of the pooled out-of-fold predictions '
                        '(WORK_DIR/cv.report.html with its analysis WORK_DIR/cv.analysis/)')
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f'--folds must be at least 2, got {args.folds}')
    if args.bootstrap < 0:
        parser.error(f'--bootstrap must be >= 0, got {args.bootstrap}')
    if args.only_folds is not None:
        try:
            args.only_folds = {int(k) for k in args.only_folds.split(',') if k.strip()}
        except ValueError:
            parser.error(f'--only-folds takes fold numbers like 0,2, got {args.only_folds!r}')
        if not all(0 <= k < args.folds for k in args.only_folds):
            parser.error(f'--only-folds: folds are 0..{args.folds - 1}')
    return args


def main(argv=None):
    args = parse_args(argv)
    import os.path as osp

    import tbmm.plugin  # noqa: F401
    from tbmm.apis.cross_validation import fold_paths, run_cross_validation
    from tbmm.apis.runner import config_classes, load_config

    cfg_options = dict(args.cfg_options or {})
    cfg = load_config(args.config, cfg_options)
    if (cfg.get('randomness') or {}).get('seed') is None:
        cfg_options.setdefault('randomness.seed', args.seed)
    run_cross_validation(
        args.config, args.ann, args.work_dir, folds=args.folds, group_regex=args.group_regex,
        seed=args.seed, img_dir=args.img_dir, cfg_options=cfg_options, amp=args.amp,
        amp_dtype=args.amp_dtype, only_folds=args.only_folds)
    missing = [k for k in range(args.folds)
               if not osp.isfile(fold_paths(args.work_dir, k)['predictions'])]
    if missing:
        print(f'folds {", ".join(map(str, missing))} not done yet: run without --only-folds (or '
              f'with them) for the summary')
        return 0
    from tbmm.evaluation.cross_validation import summarize_cross_validation
    summary = summarize_cross_validation(
        args.work_dir, args.folds, config_classes(cfg, 'train_dataloader'),
        group_regex=args.group_regex, n_bootstrap=args.bootstrap, seed=args.seed,
        config=args.config)
    print(summary['markdown'])
    print(f'Summary: {summary["paths"]["md"]} and {summary["paths"]["json"]}')
    if not args.no_report:
        from tbmm.evaluation.report_page import dataset_files, write_cross_validation_report
        img_dir = args.img_dir or dataset_files(cfg.train_dataloader.dataset)[1]
        report = write_cross_validation_report(
            args.work_dir, args.folds, config_classes(cfg, 'train_dataloader'),
            group_regex=args.group_regex, n_bootstrap=args.bootstrap, seed=args.seed,
            img_dir=img_dir if osp.isdir(img_dir) else None)
        print(f'Report: {report}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
