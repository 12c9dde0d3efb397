"""K-fold cross-validation behind ``tools/analysis_tools/cross_validate.py``.

Layout of a cross-validation work dir ``W``::

    W/splits/split.json           the split's settings and the annotation file's SHA-256
    W/splits/fold{k}/train.json   \\  tools/dataset_converters/split.py --folds K
    W/splits/fold{k}/val.json     /   --group-regex R (patient-grouped, multi-label stratified)
    W/fold{k}/                    MMEngine's work dir of fold k: logs, checkpoints, learning curves
    W/fold{k}/oof.predictions.json  the last checkpoint's predictions on fold k's val part
    W/fold{k}/oof.metrics.json      their per-class metrics on that part alone
    W/fold{k}/fold.json             wall times and the checkpoint used
    W/cv_summary.{md,json}        pooled out-of-fold metrics with bootstrap intervals, and the
                                  trivial baseline's on the same folds
                                  (tbmm.evaluation.cross_validation)

Every step is skipped when its output exists, so rerunning the same command after a kill goes on
where it stopped: a fold with predictions is done, a fold with checkpoints resumes training.
"""
import json
import os
import os.path as osp
import time

from tbmm.datasets.annotations import load_annotation_list, read_annotations, write_annotations
from tbmm.datasets.split import kfold_records
from tbmm.errors import UserInputError
from tbmm.utils import file_sha256

from .runner import config_classes, load_config

__all__ = ['CrossValidationError', 'make_folds', 'fold_paths', 'run_fold', 'run_cross_validation']


class CrossValidationError(UserInputError):
    """A work dir or setting that does not fit this cross-validation (printed as one line)."""



def fold_paths(work_dir, fold):
    """The files of ``fold`` in a cross-validation work dir (see the module's docstring)."""
    fold_dir = osp.join(work_dir, f'fold{fold}')
    split_dir = osp.join(work_dir, 'splits', f'fold{fold}')
    return dict(
        work_dir=fold_dir,
        train=osp.join(split_dir, 'train.json'),
        val=osp.join(split_dir, 'val.json'),
        predictions=osp.join(fold_dir, 'oof.predictions.json'),
        metrics_prefix=osp.join(fold_dir, 'oof'),
        info=osp.join(fold_dir, 'fold.json'))


def make_folds(ann_file, work_dir, folds=5, group_regex=None, seed=0, classes=None):
    """Write the fold files once; a rerun checks that they were made from the same settings.

    Returns the settings recorded in ``W/splits/split.json``.
    """
    read_annotations(ann_file)  # validates, with one-line errors
    settings = dict(ann_file=osp.abspath(ann_file), ann_sha256=file_sha256(ann_file), folds=folds,
                    group_regex=group_regex, seed=seed,
                    classes=None if classes is None else list(classes))
    record_path = osp.join(work_dir, 'splits', 'split.json')
    if osp.isfile(record_path):
        with open(record_path) as f:
            recorded = json.load(f)
        changed = [key for key in ('ann_sha256', 'folds', 'group_regex', 'seed', 'classes')
                   if recorded.get(key) != settings[key]]
        if changed:
            raise CrossValidationError(
                f'{work_dir} holds the folds of another split ({", ".join(changed)} differ: '
                f'{record_path}); give another --work-dir, or the same settings to resume')
        return recorded
    records = load_annotation_list(ann_file)
    for k, (train, val) in enumerate(kfold_records(records, folds, seed, classes, group_regex)):
        paths = fold_paths(work_dir, k)
        write_annotations(paths['train'], train)
        write_annotations(paths['val'], val)
    _write_json(record_path, settings)
    return settings


def _write_json(path, obj):
    # Replaced in one step: a fold killed while writing leaves the old file, not half a new one.
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _fold_options(cfg_options, paths, img_dir):
    """--cfg-options of one fold: train on its train part, validate and test on its val part."""
    options = dict(cfg_options or {})
    for loader, ann in (('train_dataloader', paths['train']), ('val_dataloader', paths['val']),
                        ('test_dataloader', paths['val'])):
        options[f'{loader}.dataset.ann_file'] = osp.abspath(ann)
        if img_dir is not None:
            options[f'{loader}.dataset.data_prefix'] = dict(img=osp.abspath(img_dir) + os.sep)
    return options


def _last_checkpoint(cfg):
    """The checkpoint of the config's final epoch in its work dir, or None."""
    path = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    return path if osp.isfile(path) else None


def run_fold(config, work_dir, fold, cfg_options=None, img_dir=None, amp=False,
             amp_dtype='bfloat16', log=print):
    """Train fold ``fold`` (resuming a killed run) and predict its val part with the last
    checkpoint; skipped where the fold's predictions already exist. Returns the fold's paths."""
    from .runner import prepare_test_config, prepare_train_config, run_test, run_train
    paths = fold_paths(work_dir, fold)
    if osp.isfile(paths['predictions']):
        log(f'fold {fold}: done ({paths["predictions"]})')
        return paths
    options = _fold_options(cfg_options, paths, img_dir)
    cfg = prepare_train_config(config, work_dir=paths['work_dir'], cfg_options=options, amp=amp,
                               amp_dtype=amp_dtype, resume='auto')
    info = {}
    if osp.isfile(paths['info']):
        with open(paths['info']) as f:
            info = json.load(f)
    checkpoint = _last_checkpoint(cfg)
    if checkpoint is None:
        log(f'fold {fold}: training in {paths["work_dir"]}')
        start = time.time()
        run_train(cfg)
        # A resumed fold adds the time of each of its runs.
        info['train_seconds'] = info.get('train_seconds', 0) + time.time() - start
        checkpoint = _last_checkpoint(cfg)
        if checkpoint is None:
            raise CrossValidationError(f'fold {fold}: training ended without '
                                       f'epoch_{cfg.train_cfg.max_epochs}.pth in {cfg.work_dir}')
    log(f'fold {fold}: predicting its val part with {checkpoint}')
    start = time.time()
    test_cfg = prepare_test_config(config, checkpoint, work_dir=paths['work_dir'],
                                   cfg_options=options, metrics_prefix=paths['metrics_prefix'])
    run_test(test_cfg)
    info.update(checkpoint=osp.abspath(checkpoint), predict_seconds=time.time() - start)
    _write_json(paths['info'], info)
    return paths


def run_cross_validation(config, ann_file, work_dir, folds=5, group_regex=None, seed=0,
                         img_dir=None, cfg_options=None, amp=False, amp_dtype='bfloat16',
                         only_folds=None, log=print):
    """Split ``ann_file`` into patient-grouped folds, train and predict each (resumable).

    Stratifies on the config's training classes. Returns the list of the folds' paths
    (:func:`fold_paths`); the summary is :func:`tbmm.evaluation.cross_validation.summarize`'s job.
    """
    cfg = load_config(config, cfg_options)
    classes = config_classes(cfg, 'train_dataloader')
    make_folds(ann_file, work_dir, folds, group_regex, seed, classes)
    done = []
    for k in range(folds):
        if only_folds is not None and k not in only_folds:
            continue
        done.append(run_fold(config, work_dir, k, cfg_options, img_dir, amp, amp_dtype, log))
    return done
