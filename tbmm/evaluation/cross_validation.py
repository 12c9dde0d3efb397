"""The summary of a cross-validation run (light: numpy, no torch).

Pools the folds' out-of-fold predictions (each image predicted once, by the model that did not
train on it), evaluates them with :func:`evaluate_records`, puts 95 % bootstrap intervals on
them (resampling patients), and does the same for a trivial baseline on the same folds: each
class's typical training boxes predicted on every image (:mod:`.functional.baseline`). A class
whose AP50 interval does not clear the baseline has not been shown to be learned.
"""
import json
import os.path as osp

from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.split import group_ids
from tbmm.utils import ensure_parent_dir

from .functional.baseline import baseline_predictions
from .functional.bootstrap import bootstrap_intervals
from .functional.evaluate import evaluate_records

__all__ = ['summarize_cross_validation', 'format_cv_markdown']

#: The metrics the summary compares, as evaluate_records names them.
CV_METRICS = ('ap50', 'froc_avgrecall')


def _fold_files(work_dir, fold):
    split_dir = osp.join(work_dir, 'splits', f'fold{fold}')
    fold_dir = osp.join(work_dir, f'fold{fold}')
    return (osp.join(split_dir, 'train.json'), osp.join(split_dir, 'val.json'),
            osp.join(fold_dir, 'oof.predictions.json'), osp.join(fold_dir, 'fold.json'))


def _scored(result, intervals, key):
    """``{class: {metric: value, metric_ci95: [lo, hi]}}`` plus ``'mean'`` from a result."""
    table = {}
    for name, entry in list(result['per_class'].items()) + [('mean', result['overall'])]:
        source = intervals['overall'] if name == 'mean' else intervals['per_class'][name]
        row = {'n_gt': entry['n_gt']}
        for metric in CV_METRICS:
            row[metric] = entry[metric]
            row[f'{metric}_ci95'] = source.get(f'{metric}_ci95')
        table[name] = row
    return table


def _verdict(model, baseline):
    """Whether the model's AP50 beats the baseline's, judged on the intervals."""
    if model['ap50'] is None:
        return 'n/a'
    model_lo = (model['ap50_ci95'] or [model['ap50']])[0]
    base_hi = (baseline['ap50_ci95'] or [baseline['ap50']] * 2)[-1]
    if model_lo > base_hi:
        return 'beats baseline'
    if model['ap50'] > baseline['ap50']:
        return 'above baseline, intervals overlap'
    return 'not above baseline'


def summarize_cross_validation(work_dir, folds, classes, group_regex=None, n_bootstrap=1000,
                               seed=0, config=None, write=True):
    """Pool the folds of ``work_dir`` (tbmm.apis.cross_validation's layout), evaluate the model and
    the baseline, and write ``cv_summary.json`` and ``cv_summary.md``; returns the summary dict
    (with ``'markdown'`` and ``'paths'``)."""
    classes = list(classes)
    gt, pred, base, fold_rows = [], [], [], []
    for k in range(folds):
        train_path, val_path, pred_path, info_path = _fold_files(work_dir, k)
        train, val = read_annotations(train_path), read_annotations(val_path)
        fold_pred = read_annotations(pred_path, require_scores=True)
        gt += val
        pred += fold_pred
        base += baseline_predictions(train, [r['file_name'] for r in val], classes)
        info = {}
        if osp.isfile(info_path):
            with open(info_path) as f:
                info = json.load(f)
        fold_result = evaluate_records(val, fold_pred, classes)
        fold_rows.append(dict(fold=k, n_train=len(train), n_val=len(val),
                              ap50=fold_result['overall']['ap50'],
                              froc_avgrecall=fold_result['overall']['froc_avgrecall'],
                              train_seconds=info.get('train_seconds'),
                              checkpoint=info.get('checkpoint')))
    groups = group_ids([r['file_name'] for r in gt], group_regex)
    summary = dict(config=config, folds=folds, group_regex=group_regex, n_bootstrap=n_bootstrap,
                   seed=seed, n_images=len(gt), n_patients=len(set(groups)), fold_rows=fold_rows)
    for name, records in (('model', pred), ('baseline', base)):
        result = evaluate_records(gt, records, classes)
        intervals = bootstrap_intervals(gt, records, classes, n_resamples=n_bootstrap,
                                        groups=groups, seed=seed)
        summary[name] = _scored(result, intervals, name)
    summary['verdict'] = {name: _verdict(summary['model'][name], summary['baseline'][name])
                          for name in summary['model']}
    markdown = format_cv_markdown(summary)
    summary['paths'] = {}
    if write:
        for suffix, text in (('json', None), ('md', markdown)):
            path = ensure_parent_dir(osp.join(work_dir, f'cv_summary.{suffix}'))
            summary['paths'][suffix] = path
            with open(path, 'w') as f:
                if text is None:
                    json.dump({k: v for k, v in summary.items() if k != 'paths'}, f, indent=2)
                else:
                    f.write(text)
    summary['markdown'] = markdown
    return summary


def _value(value, interval):
    if value is None:
        return 'n/a'
    if not interval:
        return f'{value:.3f}'
    return f'{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]'


def format_cv_markdown(summary):
    """The summary as Markdown: per-class table (model vs baseline, intervals), folds table."""
    lines = [f'# Cross-validation: {summary.get("config") or ""}'.rstrip(), '',
             f'{summary["folds"]} folds, {summary["n_images"]} images of '
             f'{summary["n_patients"]} patients, out-of-fold predictions pooled; 95 % intervals '
             f'from {summary["n_bootstrap"]} bootstrap resamples of patients.', '',
             '| class | GT boxes | AP50 model | AP50 baseline | FROC model | FROC baseline | '
             'verdict |', '|---|---:|---:|---:|---:|---:|---|']
    for name, model in summary['model'].items():
        base = summary['baseline'][name]
        label = f'**{name}**' if name == 'mean' else name
        lines.append(
            f'| {label} | {model["n_gt"]} | {_value(model["ap50"], model["ap50_ci95"])} | '
            f'{_value(base["ap50"], base["ap50_ci95"])} | '
            f'{_value(model["froc_avgrecall"], model["froc_avgrecall_ci95"])} | '
            f'{_value(base["froc_avgrecall"], base["froc_avgrecall_ci95"])} | '
            f'{summary["verdict"][name]} |')
    lines += ['', 'Baseline: each class\'s typical training boxes (k-means box priors of the '
              'fold\'s training part) predicted on every image with a constant score. "beats '
              'baseline": the model\'s AP50 interval lies above the baseline\'s.', '',
              '| fold | train images | val images | mAP50 (its val part) | FROC | training time |',
              '|---:|---:|---:|---:|---:|---:|']
    for row in summary['fold_rows']:
        seconds = row['train_seconds']
        minutes = 'n/a' if seconds is None else f'{seconds / 60:.1f} min'
        lines.append(f'| {row["fold"]} | {row["n_train"]} | {row["n_val"]} | '
                     f'{_value(row["ap50"], None)} | {_value(row["froc_avgrecall"], None)} | '
                     f'{minutes} |')
    return '\n'.join(lines) + '\n'
