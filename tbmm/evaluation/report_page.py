"""One self-contained HTML page of an evaluation: ``tools/analysis_tools/report.py``, and what
``tools/test.py``, ``tools/analysis_tools/cross_validate.py`` and the demo write by default.

The page holds, when their files are there: the per-class table with its bootstrap intervals, the
FROC curve, the confusion matrix, where AP50 is lost (TIDE error types), per-class PR / F1 / FROC
curves, galleries of false positives and missed lesions, the run's learning curves and the data
set statistics. Every image is inlined as a base64 ``data:`` URI and the page has no script, so
it opens from a mail attachment or an archive with no server and no network.

The page is built in three modules: :mod:`.report_sources` finds the files a report is made of,
:mod:`.report_html` renders the page, and this one writes the reports the tools make after an
evaluation; every public name of the three is importable from here.
"""
import os
import os.path as osp

from tbmm.datasets.dataset_cfg import innermost_dataset

from .report_html import render_report, write_report
from .report_sources import (
    DATASET_STATS_FILE,
    GALLERY_PER_KIND,
    METRICS_SUFFIX,
    REPORT_SUFFIX,
    ReportError,
    ReportSources,
    find_report_sources,
    find_work_dirs,
    read_report_json,
    write_dataset_stats,
)

__all__ = [
    'DATASET_STATS_FILE', 'GALLERY_PER_KIND', 'METRICS_SUFFIX', 'REPORT_SUFFIX', 'ReportError',
    'ReportSources', 'find_report_sources', 'find_work_dirs', 'write_dataset_stats',
    'render_report', 'write_report', 'write_evaluation_report', 'dataset_files',
    'write_test_report', 'write_cross_validation_report',
]


def write_evaluation_report(prefix, gt_records, pred_records, classes, img_dir=None, result=None,
                            n_bootstrap=1000, groups=None, seed=0, score_thr=0.3, work_dir=None,
                            datasets=None, title=None, log=print):
    """Evaluate (with bootstrap intervals), analyse and report one set of predictions.

    Writes ``prefix.metrics.json`` (``result``, or :func:`evaluate_records` of the records, with
    ``n_bootstrap`` resamples' intervals of the images, or of ``groups``, attached),
    ``prefix.froc.png`` when missing, ``prefix.analysis/`` (:func:`.analysis.write_analysis`,
    galleries when ``img_dir`` is given, and ``dataset_stats.json`` of ``datasets`` =
    ``{label: records}``, default the evaluated ground truth) and ``prefix.report.html`` with the
    learning curves of ``work_dir`` (:func:`find_work_dirs`) when given. Returns the report's path.
    """
    from .analysis import write_analysis
    from .functional import (
        attach_intervals,
        bootstrap_intervals,
        evaluate_records,
        plot_froc,
        write_result_json,
    )

    prefix = os.fspath(prefix)
    classes = list(classes)
    if result is None:
        result = evaluate_records(gt_records, pred_records, classes)
    iou_thr = result['settings']['iou_thr']
    if n_bootstrap and 'bootstrap' not in result:
        attach_intervals(result, bootstrap_intervals(gt_records, pred_records, classes,
                                                     n_resamples=n_bootstrap, groups=groups,
                                                     seed=seed, iou_thr=iou_thr))
    metrics_path = prefix + METRICS_SUFFIX
    write_result_json(result, metrics_path)
    if not osp.isfile(prefix + '.froc.png'):
        plot_froc(result, prefix + '.froc.png')
    analysis_dir = prefix + '.analysis'
    write_analysis(gt_records, pred_records, classes, analysis_dir, iou_thr=iou_thr,
                   score_thr=score_thr, img_dir=img_dir, log=log)
    write_dataset_stats(osp.join(analysis_dir, DATASET_STATS_FILE),
                        datasets if datasets is not None else {'evaluated set': gt_records},
                        classes)
    sources = find_report_sources(metrics_path, analysis_dir=analysis_dir)
    if work_dir is not None:
        sources.work_dirs = find_work_dirs(work_dir)
    sources.title = title
    return write_report(sources, prefix + REPORT_SUFFIX)


def dataset_files(dataset_cfg):
    """``(annotation file, image folder)`` of a dataset config, joined with its ``data_root`` as
    MMEngine's ``BaseDataset`` does; a wrapper's (``dataset=...``) inner dataset is used."""
    dataset_cfg = innermost_dataset(dataset_cfg)
    root = dataset_cfg.get('data_root') or ''
    ann_file = dataset_cfg.get('ann_file')
    img = (dataset_cfg.get('data_prefix') or {}).get('img', '')
    if not ann_file:
        raise ReportError('the dataset config has no ann_file: nothing to report on')
    return (ann_file if osp.isabs(ann_file) else osp.join(root, ann_file),
            img if osp.isabs(img) else osp.join(root, img))


def write_test_report(cfg, prefix, title=None, n_bootstrap=1000, log=print):
    """The report of a ``tools/test.py`` run: its test set's ground truth against the predictions
    its ``ChestXDetMetric`` wrote to ``prefix.predictions.json``, with galleries from the test
    images, the learning curves of the config's work dir and the statistics of its train and test
    sets. Returns the report's path."""
    from tbmm.datasets.annotations import read_annotations

    ann_file, img_dir = dataset_files(cfg['test_dataloader']['dataset'])
    result = read_report_json(prefix + METRICS_SUFFIX)  # what the metric evaluated, its classes
    pred_records = read_annotations(prefix + '.predictions.json', require_scores=True)
    # The metric wrote a record for every image it evaluated: images the data set skipped
    # (missing_image_policy='skip') were not predicted and must not count as misses.
    evaluated = {r['file_name'] for r in pred_records}
    gt_records = [r for r in read_annotations(ann_file) if r['file_name'] in evaluated]
    datasets = {f'test ({osp.basename(ann_file)})': gt_records}
    try:
        train_ann, _ = dataset_files(cfg['train_dataloader']['dataset'])
        if osp.abspath(train_ann) != osp.abspath(ann_file) and osp.isfile(train_ann):
            datasets = {f'train ({osp.basename(train_ann)})': read_annotations(train_ann),
                        **datasets}
    except (KeyError, TypeError, ReportError):
        pass  # a test-only config: the test set's statistics alone
    return write_evaluation_report(
        prefix, gt_records, pred_records, result['classes'], result=result,
        img_dir=img_dir if osp.isdir(img_dir) else None, n_bootstrap=n_bootstrap,
        work_dir=cfg.get('work_dir'), datasets=datasets, title=title, log=log)


def write_cross_validation_report(work_dir, folds, classes, group_regex=None, n_bootstrap=1000,
                                  seed=0, img_dir=None, log=print):
    """The report of a cross-validation work dir (:mod:`tbmm.apis.cross_validation`'s layout): the
    folds' out-of-fold predictions pooled against their val parts, intervals from resampling
    patients (``group_regex``) or images, galleries from ``img_dir`` and each fold's learning
    curves. Writes ``W/cv.metrics.json``, ``W/cv.analysis/`` and ``W/cv.report.html`` (returned).
    """
    from tbmm.datasets.annotations import read_annotations

    from .functional.bootstrap import group_ids

    gt_records, pred_records = [], []
    for k in range(folds):
        gt_records += read_annotations(osp.join(work_dir, 'splits', f'fold{k}', 'val.json'))
        pred_records += read_annotations(osp.join(work_dir, f'fold{k}', 'oof.predictions.json'),
                                         require_scores=True)
    groups = (group_ids([r['file_name'] for r in gt_records], group_regex)
              if group_regex else None)
    return write_evaluation_report(
        osp.join(work_dir, 'cv'), gt_records, pred_records, classes, img_dir=img_dir,
        n_bootstrap=n_bootstrap, groups=groups, seed=seed, work_dir=work_dir,
        datasets={'cross-validated set': gt_records},
        title=f'Cross-validation: {folds} folds, out-of-fold predictions pooled', log=log)
