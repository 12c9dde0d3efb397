"""MMEngine Runner checkpoints load with weights_only=True; foreign pickles are refused."""
import json
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mmengine_checkpoint
from torch.utils.data import Dataset

from tbmm import checkpoint as tbmm_checkpoint
from tbmm.checkpoint import (
    UNSAFE_LOAD_ENV,
    CheckpointReadError,
    UnsafeCheckpointError,
    allow_unsafe_checkpoint_loading,
    setup_checkpoint_loading,
)

pytestmark = pytest.mark.skipif(not tbmm_checkpoint.WEIGHTS_ONLY_SUPPORTED,
                                reason='weights-only loading is enforced from torch 2.6')

ITERS_PER_EPOCH = 2


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        outputs = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((outputs - targets)**2).mean())
        return [dict(pred=o, target=t) for o, t in zip(outputs, targets)]


class ToyDataset(Dataset):
    # Like a detection dataset's metainfo, so the checkpoint's meta carries dataset_meta.
    metainfo = dict(classes=('Nodule', 'Mass'), palette=[(220, 20, 60), (0, 0, 142)])

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(8, 2, generator=generator)
        self.targets = torch.randn(8, 1, generator=generator)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return dict(inputs=self.inputs[index], targets=self.targets[index])


class ToyMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(float((d['pred'] - d['target']).abs()) for d in data_samples)

    def compute_metrics(self, results):
        # A numpy scalar, as metrics often return: it lands in the checkpoint as 'best_score'.
        return dict(mae=np.float64(np.mean(results)))


class EpochCounter(Hook):

    def __init__(self):
        self.epochs_run = 0
        self.weights_at_start = None

    def before_train(self, runner):
        self.weights_at_start = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def after_train_epoch(self, runner):
        self.epochs_run += 1


def make_runner(work_dir, max_epochs, resume=False, custom_hooks=None):
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                  batch_size=8 // ITERS_PER_EPOCH, num_workers=0,
                  collate_fn=dict(type='default_collate'))
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'ckpt_{uuid.uuid4().hex[:8]}',
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=[ToyMetric()],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
            dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        ],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1, save_best='mae', rule='less')),
        custom_hooks=custom_hooks,
        randomness=dict(seed=0),
        resume=resume,
        log_level='WARNING')


@pytest.fixture(scope='module')
def trained_work_dir(tmp_path_factory):
    """A work_dir holding the checkpoints of 2 epochs of MMEngine training."""
    work_dir = tmp_path_factory.mktemp('ckpt_work_dir')
    make_runner(work_dir, max_epochs=2).train()
    assert (work_dir / 'epoch_2.pth').is_file()
    return work_dir


def _touch(path):
    with open(path, 'w'):
        pass


class Payload:
    """Runs ``_touch(marker)`` when unpickled: the kind of object weights_only must refuse."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch, (self.marker, )


@pytest.fixture
def foreign_checkpoint(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict=ToyModel().state_dict(), meta=dict(extra=Payload(marker))), path)
    return path, marker


@pytest.fixture
def safe_loading(monkeypatch):
    setup_checkpoint_loading()
    monkeypatch.delenv(UNSAFE_LOAD_ENV, raising=False)
    allow_unsafe_checkpoint_loading(False)
    yield
    allow_unsafe_checkpoint_loading(False)


@pytest.fixture
def load_calls(monkeypatch):
    """Records the ``weights_only`` argument of every torch.load call."""
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', recording_load)
    return calls


def test_plain_torch_load_refuses_mmengine_checkpoint_without_allow_list(trained_work_dir):
    # A fresh interpreter without tbmm: torch's default weights_only=True rejects MMEngine's own
    # file, and the globals it names are exactly those register_mmengine_safe_globals adds by name.
    script = (
        'import json, sys, torch\n'
        'unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(sys.argv[1])\n'
        'try:\n'
        '    torch.load(sys.argv[1])\n'
        '    error = None\n'
        'except Exception as e:\n'
        '    error = type(e).__name__\n'
        'print(json.dumps(dict(unsafe=sorted(unsafe), error=error)))\n')
    result = subprocess.run([sys.executable, '-c', script, str(trained_work_dir / 'epoch_2.pth')],
                            capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['error'] == 'UnpicklingError'
    assert {'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
            'numpy.ndarray', 'numpy.dtype'} <= set(report['unsafe'])
    assert report['unsafe'] == sorted(_registered_global_names())


def _registered_global_names():
    """Names of the allow-list entries that pickle refers to by name (dtype classes are not)."""
    names = []
    for entry in tbmm_checkpoint._mmengine_safe_globals():
        if isinstance(entry, tuple):
            names.append(entry[1])
        elif entry is np.dtype or not (isinstance(entry, type) and issubclass(entry, np.dtype)):
            names.append(f'{entry.__module__}.{entry.__qualname__}')
    return names


def test_allow_list_covers_every_saved_checkpoint(trained_work_dir, safe_loading):
    paths = sorted(trained_work_dir.glob('*.pth'))
    assert {p.name for p in paths} >= {'epoch_1.pth', 'epoch_2.pth'}
    assert any(p.name.startswith('best_') for p in paths)
    for path in paths:
        assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
        assert checkpoint['meta']['dataset_meta']['classes'] == ('Nodule', 'Mass')
        assert checkpoint['message_hub']['log_scalars']['train/loss'].current() > 0


def test_setup_is_idempotent(safe_loading):
    before = len(torch.serialization.get_safe_globals())
    assert setup_checkpoint_loading() is True
    assert setup_checkpoint_loading() is True
    assert len(torch.serialization.get_safe_globals()) == before
    loader = mmengine_checkpoint.CheckpointLoader._get_checkpoint_loader('work_dirs/epoch_1.pth')
    assert loader is tbmm_checkpoint.load_from_safe_local


def test_resume_under_weights_only(trained_work_dir, tmp_path, safe_loading, load_calls):
    # Auto-resume (what --resume does) in a copy of the work_dir, leaving the shared one untouched.
    work_dir = tmp_path / 'resumed'
    work_dir.mkdir()
    (work_dir / 'epoch_2.pth').write_bytes((trained_work_dir / 'epoch_2.pth').read_bytes())
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_2.pth'))
    counter = EpochCounter()
    runner = make_runner(work_dir, max_epochs=3, resume=True, custom_hooks=[counter])
    runner.train()

    assert load_calls and all(w is True for w in load_calls)
    assert counter.epochs_run == 1  # epochs 1-2 came from the checkpoint
    assert runner.epoch == 3 and runner.iter == 3 * ITERS_PER_EPOCH
    saved = torch.load(trained_work_dir / 'epoch_2.pth', map_location='cpu', weights_only=True)
    for key, value in saved['state_dict'].items():
        assert torch.equal(counter.weights_at_start[key], value)


def test_load_checkpoint_into_model(trained_work_dir, safe_loading, load_calls):
    # The path MMDetection's init_detector and `load_from` take.
    model = ToyModel()
    checkpoint = mmengine_checkpoint.load_checkpoint(model, str(trained_work_dir / 'epoch_1.pth'),
                                                     map_location='cpu')
    assert checkpoint['meta']['epoch'] == 1
    assert load_calls == [True]
    for key, value in checkpoint['state_dict'].items():
        assert torch.equal(model.state_dict()[key], value)


def test_foreign_class_is_refused_with_one_line_message(foreign_checkpoint, safe_loading):
    path, marker = foreign_checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        mmengine_checkpoint._load_checkpoint(str(path), map_location='cpu')
    message = str(info.value)
    assert '\n' not in message
    assert str(path) in message
    assert info.value.offending_globals == [f'{_touch.__module__}._touch']
    assert f'{_touch.__module__}._touch' in message
    assert '--unsafe-load-checkpoint' in message
    assert not marker.exists()


def test_refusal_without_a_named_global_is_one_line(tmp_path, safe_loading):
    # A float32 numpy scalar needs a dtype class MMEngine never saves: refused at build time, so
    # torch's own reason is reported instead of a list of globals.
    path = tmp_path / 'float32.pth'
    torch.save(dict(meta=dict(score=np.float32(0.5))), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        mmengine_checkpoint._load_checkpoint(str(path), map_location='cpu')
    assert info.value.offending_globals == []
    assert '\n' not in str(info.value) and 'Float32DType' in str(info.value)


def test_unsafe_loading_when_enabled(foreign_checkpoint, safe_loading):
    path, marker = foreign_checkpoint
    allow_unsafe_checkpoint_loading(True)
    checkpoint = mmengine_checkpoint._load_checkpoint(str(path), map_location='cpu')
    assert set(checkpoint) == {'state_dict', 'meta'}
    assert marker.exists()  # proof that the full unpickler ran


def test_unsafe_loading_from_environment(foreign_checkpoint, safe_loading, monkeypatch):
    path, marker = foreign_checkpoint
    monkeypatch.setenv(UNSAFE_LOAD_ENV, '1')
    mmengine_checkpoint._load_checkpoint(str(path), map_location='cpu')
    assert marker.exists()


def test_url_checkpoints_are_loaded_safely(trained_work_dir, foreign_checkpoint, tmp_path,
                                           safe_loading, load_calls):
    # torchvision://, open-mmlab:// and http(s):// all end in load_from_http; a file:// URL
    # exercises its download-and-load path offline.
    cache = tmp_path / 'hub_cache'
    good_url = (trained_work_dir / 'epoch_1.pth').as_uri()
    checkpoint = mmengine_checkpoint.load_from_http(good_url, map_location='cpu',
                                                    model_dir=str(cache))
    assert checkpoint['meta']['epoch'] == 1
    assert (cache / 'epoch_1.pth').is_file()

    path, marker = foreign_checkpoint
    with pytest.raises(UnsafeCheckpointError, match='foreign.pth'):
        mmengine_checkpoint.load_from_http(path.as_uri(), map_location='cpu',
                                           model_dir=str(cache))
    assert not marker.exists()
    assert load_calls and all(w is True for w in load_calls)


def test_missing_file_is_reported(tmp_path, safe_loading):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        mmengine_checkpoint._load_checkpoint(str(tmp_path / 'missing.pth'))


def _damaged_checkpoints(directory):
    good = directory / 'good.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(3))), good)
    data = good.read_bytes()
    files = {'text.pth': b'not a checkpoint\n', 'empty.pth': b'',
             'truncated.pth': data[:len(data) // 2],
             # A config where the checkpoint goes (IndexError in the weights-only unpickler).
             'config.pth': b"_base_ = './retinanet_r101_fpn_10e_chestxdet.py'\n"}
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return [directory / name for name in files]


@pytest.mark.parametrize('unsafe', [False, True])
def test_damaged_checkpoint_is_one_line_error(tmp_path, safe_loading, unsafe):
    # A text file, an empty file and a cut-off archive: torch raises KeyError, EOFError and
    # RuntimeError, with or without the weights-only unpickler.
    allow_unsafe_checkpoint_loading(unsafe)
    for path in _damaged_checkpoints(tmp_path):
        with pytest.raises(CheckpointReadError) as info:
            mmengine_checkpoint._load_checkpoint(str(path), map_location='cpu')
        message = str(info.value)
        assert message.startswith(f'{path}: cannot load this checkpoint (')
        assert '\n' not in message


def test_damaged_checkpoint_in_a_tool_is_one_error_line(tmp_path, capsys):
    from tbmm.utils import run_cli
    text_file = _damaged_checkpoints(tmp_path)[0]

    def main(argv):
        setup_checkpoint_loading()
        mmengine_checkpoint._load_checkpoint(str(text_file), map_location='cpu')

    assert run_cli(main, []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {text_file}: cannot load this checkpoint (')
    assert '\n' not in err
