"""Per-class AP50 / FROC of several runs side by side, as a markdown table.

A run's numbers come from its test evaluation, ``WORK_DIR/test.metrics.json`` (what
``tools/test.py`` writes by default), or from the last validation in its scalar logs
(``chestxdet/AP50/<class>``, ``chestxdet/FROC/<class>``, ``chestxdet/mAP50``, ``chestxdet/mFROC``).
Each column says which, since test and validation sets differ.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional

from tbmm.analysis.curves import MEAN_KEY, PER_CLASS_KEY, read_training_log

#: Metrics that can be compared and their key in a ``*.metrics.json`` result.
METRICS = {'AP50': 'ap50', 'FROC': 'froc_avgrecall'}
TEST_METRICS_FILE = 'test.metrics.json'
#: Decimals shown; the best value of a row is picked at this precision, so ties look tied.
DECIMALS = 3


@dataclass
class RunMetrics:
    """One run's values of one metric: per class and the class mean (None = not available)."""
    label: str
    source: str  # 'test' or 'val epoch N' / 'val iter N'
    per_class: Dict[str, Optional[float]]
    mean: Optional[float]
    n_images: Optional[int] = None  # test images, where the metrics file says (not validation)


def _from_test_result(path, metric):
    with open(path, encoding='utf-8') as f:
        result = json.load(f)
    try:
        key = METRICS[metric]
        per_class = {name: result['per_class'][name].get(key) for name in result['classes']}
        mean = result['overall'].get(key)
    except (KeyError, TypeError, AttributeError):
        raise ValueError(f'{path}: not a metrics JSON of tools/test.py / tools/evaluate.py '
                         '(needs "classes", "per_class" and "overall")') from None
    n_images = (result.get('images') or {}).get('n_images')
    return per_class, mean, n_images


def _from_validation(work_dir, metric, step=None):
    log = read_training_log(work_dir)
    entry = log.last_validation(metric, step)
    if entry is None and step is not None:
        unit = 'epoch' if log.by_epoch else 'iteration'
        raise FileNotFoundError(f'{work_dir}: no validation with {metric} at {unit} {step} '
                                f'(validated at: {_steps_text(log.validation_steps(metric))})')
    if entry is None:
        raise FileNotFoundError(f'{work_dir}: no validation with {metric} in the scalar logs and '
                                f'no {TEST_METRICS_FILE}')
    per_class, mean = {}, None
    for key, value in entry.items():
        match = PER_CLASS_KEY.match(key)
        if match and match['metric'] == metric:
            per_class[match['cls']] = value
        match = MEAN_KEY.match(key)
        if match and match['metric'] == metric:
            mean = value
    step = f'epoch {entry["step"]}' if log.by_epoch else f'iter {entry["step"]}'
    return per_class, mean, f'val {step}'


def _steps_text(steps):
    return ', '.join(map(str, steps)) or 'none'


def common_validation_step(work_dirs, metric='AP50'):
    """The last step (epoch or iteration) at which every one of ``work_dirs`` validated
    ``metric``: runs stopped at different points are compared at the same one."""
    steps = None
    for work_dir in work_dirs:
        own = set(read_training_log(os.fspath(work_dir)).validation_steps(metric))
        steps = own if steps is None else steps & own
    if not steps:
        raise FileNotFoundError(f'no validation of {metric} at a step common to all of: '
                                + ', '.join(map(os.fspath, work_dirs)))
    return max(steps)


def load_run_metrics(work_dir, metric='AP50', source='auto', label=None, step=None):
    """:class:`RunMetrics` of ``work_dir``.

    Args:
        metric: ``'AP50'`` or ``'FROC'`` (ChestX-Det10 FROC: mean sensitivity at 0.05/0.1/0.2
            FP per image).
        source: ``'test'`` (``test.metrics.json``), ``'val'`` (last validation) or ``'auto'``
            (test when present, else validation).
        label: column name (default: the work dir's name).
        step: the validation at this epoch (iteration for iteration-based runs) instead of the
            last one; implies ``source='val'``.
    """
    if step is not None:
        source = 'val'
    if metric not in METRICS:
        raise ValueError(f'unknown metric {metric!r}; choose from {", ".join(METRICS)}')
    work_dir = os.fspath(work_dir)
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: no such work dir')
    label = label or osp.basename(osp.normpath(work_dir))
    test_path = osp.join(work_dir, TEST_METRICS_FILE)
    if source == 'test' or (source == 'auto' and osp.isfile(test_path)):
        if not osp.isfile(test_path):
            raise FileNotFoundError(f'{test_path}: not found (run tools/test.py first)')
        per_class, mean, n_images = _from_test_result(test_path, metric)
        return RunMetrics(label, 'test', per_class, mean, n_images)
    if source not in ('auto', 'val'):
        raise ValueError(f"source must be 'auto', 'test' or 'val', got {source!r}")
    per_class, mean, where = _from_validation(work_dir, metric, step)
    return RunMetrics(label, where, per_class, mean)


def run_labels(work_dirs):
    """Column names: each work dir's name, or its path as given where names repeat."""
    names = [osp.basename(osp.normpath(os.fspath(d))) for d in work_dirs]
    return [name if names.count(name) == 1 else os.fspath(d) for name, d in zip(names, work_dirs)]


def _best_marks(values):
    """Which values of a row are the best (highest at the shown precision); None never is.

    Nothing is marked when fewer than two runs have a value or all of them tie.
    """
    shown = [None if v is None else round(v, DECIMALS) for v in values]
    present = [v for v in shown if v is not None]
    if len(present) < 2 or len(set(present)) == 1:
        return [False] * len(values)
    best = max(present)
    return [v is not None and v == best for v in shown]


def format_comparison(runs, metric='AP50'):
    """Markdown table: a row per class (then the class mean), a column per run, best in bold."""
    classes = []
    for run in runs:
        classes.extend(name for name in run.per_class if name not in classes)
    mean_name = {'AP50': 'mAP50', 'FROC': 'mFROC'}[metric]
    header = [metric] + [f'{run.label} ({run.source})' for run in runs]
    lines = ['| ' + ' | '.join(header) + ' |', '|---' + '|---:' * len(runs) + '|']
    rows = [(name, [run.per_class.get(name) for run in runs]) for name in classes]
    rows.append((f'**mean** ({mean_name})', [run.mean for run in runs]))
    for name, values in rows:
        cells = []
        for value, best in zip(values, _best_marks(values)):
            text = 'n/a' if value is None else f'{value:.{DECIMALS}f}'
            cells.append(f'**{text}**' if best else text)
        lines.append('| ' + ' | '.join([name] + cells) + ' |')
    sources = {run.source.split()[0] for run in runs}
    note = 'Best per row in bold. n/a: class without ground truth or not logged.'
    if len(sources) > 1:
        note += ' Columns mix test and validation results, which are on different images.'
    test_sizes = sorted({run.n_images for run in runs if run.n_images is not None})
    if len(test_sizes) > 1:
        note += (f' The test results are on test sets of different sizes '
                 f'({", ".join(map(str, test_sizes))} images): not comparable.')
    return '\n'.join(lines) + '\n\n' + note + '\n'
