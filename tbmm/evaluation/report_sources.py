"""The files one evaluation report is made of, found from a work dir, a metrics folder or a metrics
file (:func:`find_report_sources`); the page itself is :mod:`.report_html`, the writers the tools
call are :mod:`.report_page`.

Layout read by :func:`find_report_sources` (``P`` = a metrics file's path without
``.metrics.json``):

=================================  ==============================================================
``P.metrics.json``                 the evaluation result (``tools/evaluate.py --out``,
                                   ``tools/test.py``'s ``WORK_DIR/test.metrics.json``)
``P.froc.png``                     its FROC curve (drawn from the metrics when missing)
``P.analysis/`` or ``analysis/``   ``tools/evaluate.py --analysis`` (:mod:`.analysis`), plus
                                   ``dataset_stats.json`` (:func:`write_dataset_stats`)
``<timestamp>/vis_data/`` or       MMEngine's scalar logs: learning curves of the run, or of each
``fold<k>/<timestamp>/vis_data/``  fold of a cross-validation
=================================  ==============================================================
"""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, Optional

from tbmm.errors import UserInputError

#: Suffix of the report next to a metrics file: ``P.report.html``.
REPORT_SUFFIX = '.report.html'
METRICS_SUFFIX = '.metrics.json'
#: The data set statistics file the report reads from an analysis folder.
DATASET_STATS_FILE = 'dataset_stats.json'
#: Gallery crops shown per class and kind (false positives, missed lesions).
GALLERY_PER_KIND = 4
_FOLD_DIR = re.compile(r'^fold(\d+)$')


class ReportError(UserInputError):
    """A folder or file that holds nothing to report (printed as one line)."""


@dataclass
class ReportSources:
    """The files one report is made of (see the module docstring); None / empty where absent."""
    metrics: str
    analysis_dir: Optional[str] = None
    froc_png: Optional[str] = None
    work_dirs: Dict[str, str] = field(default_factory=dict)  # {label: work dir} for curves
    dataset_stats: Dict[str, dict] = field(default_factory=dict)  # {label: statistics}
    title: Optional[str] = None


def _metrics_in(folder):
    """The metrics file of ``folder``: ``test.metrics.json``, the only ``*.metrics.json``, or
    ``metrics.json``."""
    found = sorted(n for n in os.listdir(folder) if n.endswith(METRICS_SUFFIX))
    if 'test' + METRICS_SUFFIX in found:
        return osp.join(folder, 'test' + METRICS_SUFFIX)
    if len(found) == 1:
        return osp.join(folder, found[0])
    if len(found) > 1:
        raise ReportError(f'{folder}: several metrics files ({", ".join(found)}); name one '
                          f'with --metrics')
    if osp.isfile(osp.join(folder, 'metrics.json')):
        return osp.join(folder, 'metrics.json')
    raise ReportError(f'{folder}: no metrics file (test.metrics.json, *.metrics.json or '
                      f'metrics.json, as tools/test.py and tools/evaluate.py --out write)')


def metrics_prefix(metrics_path):
    """``P`` of the metrics file ``P.metrics.json`` (of another name: without its suffix)."""
    if metrics_path.endswith(METRICS_SUFFIX):
        return metrics_path[:-len(METRICS_SUFFIX)]
    return osp.splitext(metrics_path)[0]


def _has_training_log(work_dir):
    from tbmm.analysis.curves import find_scalar_files, read_training_log
    try:
        find_scalar_files(work_dir)
        return bool(read_training_log(work_dir).train)
    except (FileNotFoundError, ValueError):
        return False


def find_work_dirs(folder):
    """``{label: work dir}`` of the training runs logged in ``folder``: itself, else its
    ``fold<k>`` sub-folders (a cross-validation), in fold order."""
    if _has_training_log(folder):
        return {'run': folder}
    folds = sorted((int(m.group(1)), name) for name in os.listdir(folder)
                   if (m := _FOLD_DIR.match(name)) and osp.isdir(osp.join(folder, name)))
    return {f'fold {k}': osp.join(folder, name) for k, name in folds
            if _has_training_log(osp.join(folder, name))}


def find_report_sources(path, metrics=None, analysis_dir=None, ann_files=None, classes=None):
    """Collect a report's files from a work dir, a metrics folder or a metrics file.

    Args:
        path: work dir / folder holding the metrics file, or the metrics file itself.
        metrics: the metrics file, when the folder holds several.
        analysis_dir: the analysis folder, when not ``P.analysis`` or ``analysis`` next to it.
        ann_files: ``{label: annotation file}`` whose statistics to show (besides any
            ``dataset_stats.json`` of the analysis folder).
        classes: class list of those statistics (default: the metrics file's).
    """
    path = os.fspath(path)
    if not osp.exists(path):
        raise ReportError(f'{path}: no such file or folder')
    folder = path if osp.isdir(path) else osp.dirname(path) or '.'
    metrics = metrics or (path if osp.isfile(path) else _metrics_in(folder))
    if not osp.isfile(metrics):
        raise ReportError(f'{metrics}: no such metrics file')
    prefix = metrics_prefix(metrics)
    if analysis_dir is None:
        for candidate in (prefix + '.analysis', osp.join(folder, 'analysis')):
            if osp.isdir(candidate):
                analysis_dir = candidate
                break
    elif not osp.isdir(analysis_dir):
        raise ReportError(f'{analysis_dir}: not a folder (the --analysis DIR of '
                          f'tools/evaluate.py)')
    sources = ReportSources(metrics=metrics, analysis_dir=analysis_dir,
                            froc_png=prefix + '.froc.png' if osp.isfile(prefix + '.froc.png')
                            else None, work_dirs=find_work_dirs(folder))
    if analysis_dir is not None and osp.isfile(osp.join(analysis_dir, DATASET_STATS_FILE)):
        with open(osp.join(analysis_dir, DATASET_STATS_FILE), encoding='utf-8') as f:
            sources.dataset_stats.update(json.load(f)['sets'])
    if ann_files:
        from tbmm.analysis.stats import dataset_statistics
        from tbmm.datasets.annotations import read_annotations
        if classes is None:
            classes = read_report_json(metrics)['classes']
        for label, ann_file in ann_files.items():
            sources.dataset_stats[label] = dataset_statistics(read_annotations(ann_file), classes)
    return sources


def write_dataset_stats(path, sets, classes):
    """Write ``{"sets": {label: statistics}}`` for ``sets`` = ``{label: records}``
    (:func:`tbmm.analysis.stats.dataset_statistics`); returns the path."""
    from tbmm.analysis.stats import dataset_statistics
    from tbmm.utils import ensure_parent_dir

    data = {'sets': {label: dataset_statistics(records, classes)
                     for label, records in sets.items()}}
    with open(ensure_parent_dir(path), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    return path


def read_report_json(path):
    """The JSON document at ``path``; :class:`ReportError` when it cannot be read."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f'{path}: cannot read ({e})') from None
