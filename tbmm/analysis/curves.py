"""Read MMEngine's scalar logs of a work dir: training losses, learning rate, validation metrics.

MMEngine writes one JSON object per line to ``WORK_DIR/<timestamp>/vis_data/scalars.json``, a new
timestamp folder per start of ``tools/train.py``: training entries (``lr``, ``loss``, ``loss_cls``,
``loss_bbox``, ..., ``epoch``, ``iter``, ``step`` = iteration) and validation entries
(``chestxdet/mAP50``, ``chestxdet/AP50/<class>``, ``chestxdet/FROC/<class>``, ..., ``step`` = epoch
for epoch-based training).

A resumed run continues in a new folder. :func:`read_training_log` chains the runs in time
order: each run replaces what earlier ones logged from its own first step on, so a resume from an
older checkpoint (or a fresh restart) hides the superseded tail, and the result is what the latest
run's weights actually went through.
"""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import List

from tbmm.errors import UserInputError

SCALARS_FILE = osp.join('vis_data', 'scalars.json')

#: Per-class validation keys: ``<prefix>/AP50/<class>`` and ``<prefix>/FROC/<class>``.
PER_CLASS_KEY = re.compile(r'^(?:(?P<prefix>[^/]+)/)?(?P<metric>AP50|FROC)/(?P<cls>[^/]+)$')
#: Their means: ``<prefix>/mAP50`` and ``<prefix>/mFROC``.
MEAN_KEY = re.compile(r'^(?:(?P<prefix>[^/]+)/)?m(?P<metric>AP50|FROC)$')


class ScalarLogError(UserInputError):
    """A scalars file that cannot be read; the message names the file and the line."""


@dataclass
class TrainingLog:
    """Chained scalar entries of a work dir's runs."""
    runs: List[str]  # scalars files read, oldest first
    train: List[dict] = field(default_factory=list)  # entries with losses / lr, by iteration
    val: List[dict] = field(default_factory=list)  # entries with metrics (keys with a '/')
    by_epoch: bool = True  # validation steps are epochs (else iterations)

    def train_series(self, key):
        """``(iterations, values)`` of a training key (e.g. ``'loss'``), entries that have it."""
        points = [(_train_step(e), e[key]) for e in self.train if _is_number(e.get(key))]
        return [p[0] for p in points], [p[1] for p in points]

    def val_series(self, key):
        """``(steps, values)`` of a validation key; steps are epochs for epoch-based training."""
        points = [(e['step'], e[key]) for e in self.val if _is_number(e.get(key))]
        return [p[0] for p in points], [p[1] for p in points]

    def loss_keys(self):
        """Loss keys logged, ``loss`` first (``loss``, ``loss_cls``, ``loss_bbox``, ...)."""
        keys = {k for e in self.train for k in e if k.startswith('loss')}
        return sorted(keys, key=lambda k: (k != 'loss', k))

    def per_class_keys(self, metric):
        """``{class: key}`` of the per-class keys of ``metric`` (``'AP50'``, ``'FROC'``)."""
        found = {}
        for entry in self.val:
            for key in entry:
                match = PER_CLASS_KEY.match(key)
                if match and match['metric'] == metric:
                    found.setdefault(match['cls'], key)
        return found

    def mean_key(self, metric):
        """Key of the class mean of ``metric`` (``chestxdet/mAP50``, ``.../mFROC``), or None."""
        for entry in self.val:
            for key in entry:
                match = MEAN_KEY.match(key)
                if match and match['metric'] == metric:
                    return key
        return None

    def last_validation(self, metric, step=None):
        """The last validation entry logging ``metric`` per class or as a mean (at ``step``, an
        epoch or iteration, when given), or None."""
        for entry in reversed(self.val):
            if step is not None and entry.get('step') != step:
                continue
            if any(_metric_of(key) == metric for key in entry):
                return entry
        return None

    def validation_steps(self, metric):
        """The steps (epochs or iterations) with a validation of ``metric``, in order."""
        return [entry['step'] for entry in self.val
                if any(_metric_of(key) == metric for key in entry)]


def _metric_of(key):
    """``'AP50'``/``'FROC'`` for a per-class or mean key of that metric, else None."""
    match = PER_CLASS_KEY.match(key) or MEAN_KEY.match(key)
    return match['metric'] if match else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _train_step(entry):
    return entry.get('iter', entry.get('step'))


def _is_validation(entry):
    return any('/' in key for key in entry)


def _is_training(entry):
    return 'lr' in entry or any(key.startswith('loss') for key in entry)


def find_scalar_files(work_dir):
    """Scalars files of ``work_dir``'s runs, oldest first.

    ``work_dir`` may also be one run's timestamp folder or a ``scalars.json`` file itself.
    """
    work_dir = os.fspath(work_dir)
    if osp.isfile(work_dir):
        return [work_dir]
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: no such work dir')
    if osp.isfile(osp.join(work_dir, SCALARS_FILE)):
        return [osp.join(work_dir, SCALARS_FILE)]
    # Timestamp folder names (YYYYMMDD_HHMMSS) sort in time order.
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isfile(osp.join(work_dir, d, SCALARS_FILE)))
    if not runs:
        raise FileNotFoundError(f'{work_dir}: no <timestamp>/{SCALARS_FILE} (has a training run '
                                'logged here yet?)')
    return [osp.join(work_dir, d, SCALARS_FILE) for d in runs]


def read_scalars(path):
    """The entries of one scalars file. A cut-off last line (a run still writing) is skipped."""
    entries = []
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise ScalarLogError(f'{path}: not a text file (a checkpoint?); give a work dir or its '
                             f'<timestamp>/{SCALARS_FILE}') from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):
                break
            raise ScalarLogError(f'{path}: line {number}: not valid JSON ({e})') from None
        if not isinstance(entry, dict):
            raise ScalarLogError(f'{path}: line {number}: expected a JSON object')
        entries.append(entry)
    return entries


def read_training_log(work_dir, latest_only=False):
    """The chained :class:`TrainingLog` of ``work_dir`` (see the module docstring).

    With ``latest_only``, only the newest run that logged anything is read.
    """
    files = find_scalar_files(work_dir)
    runs = [(path, read_scalars(path)) for path in files]
    runs = [(path, entries) for path, entries in runs if entries]
    if not runs:
        raise FileNotFoundError(f'{work_dir}: the scalars files are empty (nothing logged yet)')
    if latest_only:
        runs = runs[-1:]
    log = TrainingLog(runs=[path for path, _ in runs])
    for _, entries in runs:
        train = [e for e in entries if _is_training(e) and not _is_validation(e)]
        val = [e for e in entries if _is_validation(e) and 'step' in e]
        if train:
            log.by_epoch = 'epoch' in train[0]
            first_iter = _train_step(train[0])
            # The run restarted at first_iter: what earlier runs logged from there on is superseded.
            log.train = [e for e in log.train if _train_step(e) < first_iter]
            first_val_step = train[0]['epoch'] if log.by_epoch else first_iter
            log.val = [e for e in log.val if e['step'] < first_val_step]
        log.train.extend(train)
        log.val.extend(val)
    return log


def plot_training_curves(log, out_dir, classes=None):
    """Write the curves of a :class:`TrainingLog` as PNGs in ``out_dir``; return their paths.

    ``loss.png`` (every ``loss*`` key vs iteration), ``lr.png``, and when validation logged them
    ``ap50_per_class.png`` / ``froc_per_class.png`` (one line per class, class mean dashed).
    ``classes`` orders the lines and fixes their colours (default: see :func:`_class_order`).
    """
    from tbmm.visualization.curves import plot_lines, plot_per_class

    written = []
    losses = {key: log.train_series(key) for key in log.loss_keys()}
    losses = {key: xy for key, xy in losses.items() if xy[0]}
    if losses:
        written.append(plot_lines(losses, osp.join(out_dir, 'loss.png'), 'Training loss',
                                  'iteration', 'loss'))
    lr = log.train_series('lr')
    if lr[0]:
        written.append(plot_lines({'lr': lr}, osp.join(out_dir, 'lr.png'), 'Learning rate',
                                  'iteration', 'learning rate'))
    step_label = 'epoch' if log.by_epoch else 'iteration'
    for metric, file_name, ylabel in (('AP50', 'ap50_per_class.png', 'AP50'),
                                      ('FROC', 'froc_per_class.png', 'FROC (mean sensitivity)')):
        keys = log.per_class_keys(metric)
        if not keys:
            continue
        names = list(classes) if classes else _class_order(keys)
        per_class = {name: log.val_series(keys[name]) for name in names if name in keys}
        mean_key = log.mean_key(metric)
        mean = None
        if mean_key:
            mean = (f'mean ({mean_key.split("/")[-1]})', *log.val_series(mean_key))
        written.append(plot_per_class(per_class, osp.join(out_dir, file_name),
                                      f'Validation {metric} per class', ylabel, step_label,
                                      mean=mean, classes=names))
    return written


def _class_order(names):
    """The smallest ChestX-Det class list holding ``names`` (the model's label order, which gives
    the overlays their colours), else the names sorted."""
    from tbmm.classes import CHESTXDET10_CLASSES, CHESTXDET13_CLASSES, CHESTXDET_9_CLASSES

    for preset in (CHESTXDET_9_CLASSES, CHESTXDET10_CLASSES, CHESTXDET13_CLASSES):
        if set(names) <= set(preset):
            return list(preset)
    return sorted(names)
