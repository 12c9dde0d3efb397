"""tools/test.py writes the HTML report by default: bootstrap intervals in the metrics, the error
analysis with galleries from the test images, learning curves of the work dir and the train / test
set statistics; --no-report leaves the metrics alone."""
import importlib.util
import json
import os.path as osp

import pytest

from tbmm.datasets.annotations import read_annotations
from tbmm.utils import run_cli
from tests.helpers import save_untrained_phantom_checkpoint

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHANTOM = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('tool_test', osp.join(REPO_ROOT, 'tools',
                                                                        'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    from tbmm.datasets.phantom import make_phantom_dataset

    root = tmp_path_factory.mktemp('phantom_report')
    make_phantom_dataset(str(root), num_train=4, num_test=6, image_size=96, seed=2)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """An untrained phantom detector with classifier bias 0: boxes scoring about 0.5."""
    return save_untrained_phantom_checkpoint(
        PHANTOM, tmp_path_factory.mktemp('ckpt') / 'untrained.pth')


def data_options(root):
    options = []
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={root}/',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    return options


def test_test_writes_the_report_by_default(phantom, checkpoint, tmp_path, capsys):
    work_dir = tmp_path / 'run'
    logged = work_dir / '20260101_000000' / 'vis_data'  # an earlier training run's log
    logged.mkdir(parents=True)
    logged.joinpath('scalars.json').write_text('\n'.join(json.dumps(
        {'lr': 1e-3, 'loss': 1.0 / it, 'epoch': 1, 'iter': it, 'step': it}) for it in (1, 2, 3)))
    argv = [PHANTOM, checkpoint, '--work-dir', str(work_dir), '--cfg-options',
            *data_options(phantom)]
    assert run_cli(load_tool().main, argv) == 0
    stdout = capsys.readouterr().out
    report = work_dir / 'test.report.html'
    assert f'Report: {report}' in stdout
    metrics = json.loads((work_dir / 'test.metrics.json').read_text())
    assert metrics['bootstrap']['n_resamples'] == 1000 and metrics['bootstrap']['n_units'] == 6
    low, high = metrics['overall']['ap50_ci95']
    assert low <= metrics['overall']['ap50'] <= high
    assert '95% CI' in stdout  # the printed table shows the intervals

    analysis = work_dir / 'test.analysis'
    confusion = json.loads((analysis / 'confusion.json').read_text())
    test_gt = read_annotations(phantom / 'annotation' / 'test.json')
    assert confusion['n_images'] == len(test_gt) == 6
    assert any((analysis / 'gallery').rglob('*.png'))  # crops of the test images
    stats = json.loads((analysis / 'dataset_stats.json').read_text())['sets']
    assert list(stats) == ['train (train.json)', 'test (test.json)']
    assert [s['n_images'] for s in stats.values()] == [4, 6]

    page = report.read_text()
    for section in ('metrics', 'confusion', 'errors', 'curves', 'gallery', 'training',
                    'dataset'):
        assert f'<section id="{section}">' in page
    assert 'run: loss.png' in page


def test_no_report_writes_the_metrics_alone(phantom, checkpoint, tmp_path, capsys):
    argv = [PHANTOM, checkpoint, '--work-dir', str(tmp_path), '--no-report', '--cfg-options',
            *data_options(phantom)]
    assert run_cli(load_tool().main, argv) == 0
    assert 'Report:' not in capsys.readouterr().out
    assert (tmp_path / 'test.metrics.json').is_file()
    assert not (tmp_path / 'test.report.html').exists()
    assert not (tmp_path / 'test.analysis').exists()
    assert 'bootstrap' not in json.loads((tmp_path / 'test.metrics.json').read_text())
