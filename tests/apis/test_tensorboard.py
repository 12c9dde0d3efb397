"""tools/train.py --vis tensorboard: losses and every validation metric, per class too, in
TensorBoard event files beside MMEngine's scalars.json."""
import importlib
import importlib.util
import json
import os.path as osp

import pytest

from tbmm.utils import run_cli

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO_ROOT, 'tests', 'fixtures', 'configs', 'phantom_tiny.py')


def test_vis_tensorboard_adds_the_backend_and_keeps_the_local_one(tmp_path):
    from tbmm.apis import prepare_train_config

    cfg = prepare_train_config(TINY, work_dir=str(tmp_path), vis=['tensorboard'])
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']
    # Asked twice, or already in the config: one backend.
    from tbmm.apis.runner import add_vis_backends
    assert [b['type'] for b in add_vis_backends(cfg, ['tensorboard']).visualizer.vis_backends] \
        == types
    assert [b['type'] for b in prepare_train_config(TINY, work_dir=str(tmp_path))
            .visualizer.vis_backends] == ['LocalVisBackend']


def test_vis_tensorboard_without_the_package_is_one_error_line(tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec

    def without_tensorboard(name, *args):
        return None if name == 'tensorboard' else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, 'find_spec', without_tensorboard)
    argv = [TINY, '--work-dir', str(tmp_path), '--vis', 'tensorboard']
    assert run_cli(importlib.import_module('tools.train').main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --vis tensorboard needs the tensorboard package, which is not "
                   "installed: pip install tensorboard (or 'tbmm[tensorboard]')")
    assert not list(tmp_path.glob('*/vis_data'))  # stopped before training


def test_training_with_vis_tensorboard_writes_per_class_metrics(tiny_phantom, tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    options = [f'{split}_dataloader.dataset.data_root={tiny_phantom}/'
               for split in ('train', 'val', 'test')]
    options += ['train_dataloader.dataset.indices=4', 'val_dataloader.dataset.indices=4',
                'train_cfg.max_epochs=1', 'model.test_cfg.score_thr=0.0']
    argv = [TINY, '--work-dir', str(tmp_path), '--vis', 'tensorboard', '--cfg-options', *options]
    assert run_cli(importlib.import_module('tools.train').main, argv) == 0

    (vis_dir, ) = tmp_path.glob('*/vis_data')
    events = list(vis_dir.glob('events.out.tfevents.*'))
    assert events, list(vis_dir.iterdir())
    accumulator = EventAccumulator(str(vis_dir))
    accumulator.Reload()
    tags = set(accumulator.Tags()['scalars'])
    # The same numbers as LocalVisBackend's scalars.json (validation: one line per epoch).
    records = [json.loads(line) for line in (vis_dir / 'scalars.json').open()]
    (val, ) = [r for r in records if 'chestxdet/mAP50' in r]
    per_class_ap50 = {k: v for k, v in val.items() if k.startswith('chestxdet/AP50/')}
    assert per_class_ap50, val  # ChestXDetMetric returns a value per class with ground truth
    for key in ('chestxdet/mAP50', 'chestxdet/mFROC', *per_class_ap50,
                *(k for k in val if k.startswith('chestxdet/FROC/'))):
        assert key in tags, (key, sorted(tags))
        (event, ) = accumulator.Scalars(key)
        assert event.step == 1 and event.value == pytest.approx(val[key], abs=1e-6), key
    assert 'loss' in tags and 'lr' in tags
