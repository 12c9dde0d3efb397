#!/usr/bin/env python
"""Turn an evaluation into one self-contained HTML page (images inlined, no network, no server).

    python tools/analysis_tools/report.py WORK_DIR_or_METRICS_DIR [--out report.html]
    python tools/analysis_tools/report.py work_dirs/retinanet_r101 \\
        --out report.html  # after tools/test.py
    python tools/analysis_tools/report.py m.json --analysis DIR --ann train=train.json \\
        --ann test=gt.json

The page shows the per-class table with its intervals, the FROC curve, and when their files are
there: confusion matrix, error breakdown, per-class PR / F1 / FROC curves and galleries
(``tools/evaluate.py --analysis DIR [--img-dir I]``), the learning curves of a work dir
(MMEngine's scalar logs, or each fold of a cross-validation) and data set statistics
(``--ann``, or the analysis folder's dataset_stats.json). ``--screenshot PNG`` also renders the
page in headless Chromium and saves what it shows (see tbmm.visualization.browser).
"""
import argparse
import os.path as osp
import sys

from tbmm.errors import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('path', help='work dir or folder with the metrics file (test.metrics.json, '
                        '*.metrics.json or metrics.json), or the metrics file itself')
    parser.add_argument('--out', default=None,
                        help='HTML file to write (default: next to the metrics file, '
                        'P.report.html for P.metrics.json)')
    parser.add_argument('--metrics', default=None, help='the metrics file, when the folder has '
                        'several')
    parser.add_argument('--analysis', default=None, metavar='DIR',
                        help='the analysis folder of tools/evaluate.py --analysis (default: '
                        'P.analysis/ or analysis/ next to the metrics file)')
    parser.add_argument('--ann', action='append', default=[], metavar='[NAME=]ANN.json',
                        help='show the statistics of this annotation file (repeatable)')
    parser.add_argument('--title', default=None, help='page title')
    parser.add_argument('--gallery-per-kind', type=int, default=4, metavar='N',
                        help='gallery crops shown per class and kind (default 4)')
    parser.add_argument('--screenshot', default=None, metavar='PNG',
                        help='also open the page in headless Chromium and save a screenshot')
    parser.add_argument('--screenshot-height', type=int, default=None, metavar='PX',
                        help='crop the screenshot to this many pixels from the top')
    return parser.parse_args(argv)


def parse_ann_options(values):
    """``['train=a.json', 'b.json']`` -> ``{'train': 'a.json', 'b.json': 'b.json'}``."""
    files = {}
    for value in values:
        label, sep, path = value.partition('=')
        if not sep:
            label, path = osp.basename(value), value
        if not osp.isfile(path):
            raise UserInputError(f'--ann {value}: no such file')
        files[label] = path
    return files


def main(argv=None):
    args = parse_args(argv)
    from tbmm.evaluation.report_page import (
        METRICS_SUFFIX,
        REPORT_SUFFIX,
        find_report_sources,
        write_report,
    )
    if args.gallery_per_kind < 0:
        raise UserInputError(f'--gallery-per-kind must be >= 0, got {args.gallery_per_kind}')
    sources = find_report_sources(args.path, metrics=args.metrics, analysis_dir=args.analysis,
                                  ann_files=parse_ann_options(args.ann))
    sources.title = args.title
    out = args.out
    if out is None:
        stem = (sources.metrics[:-len(METRICS_SUFFIX)] if sources.metrics.endswith(METRICS_SUFFIX)
                else osp.splitext(sources.metrics)[0])
        out = stem + REPORT_SUFFIX
    write_report(sources, out, gallery_per_kind=args.gallery_per_kind)
    size = osp.getsize(out) / 2 ** 20
    print(f'report written to {out} ({size:.1f} MiB)')
    if args.screenshot:
        from tbmm.visualization.browser import save_screenshot
        render = save_screenshot(out, args.screenshot, crop_height=args.screenshot_height)
        print(f'screenshot written to {args.screenshot} ({render.width} x {render.height} CSS px '
              f'page, {len(render.images)} images, {len(render.broken_images)} broken, '
              f'{len(render.console_errors)} console errors)')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
