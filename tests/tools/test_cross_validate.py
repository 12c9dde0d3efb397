"""tools/analysis_tools/cross_validate.py: folds, one model per fold, pooled out-of-fold summary,
resumable."""
import json
import os
import os.path as osp

import pytest

from tbmm.datasets.annotations import read_annotations
from tbmm.utils import run_cli

TINY = 'tests/fixtures/configs/phantom_tiny.py'


def load_tool(repo_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'cross_validate_tool', repo_root / 'tools' / 'analysis_tools' / 'cross_validate.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cv_args(repo_root, tiny_phantom, work_dir, *extra):
    return [str(repo_root / TINY), '--ann', str(tiny_phantom / 'annotation' / 'train.json'),
            '--img-dir', str(tiny_phantom / 'train_data'), '--folds', '2', '--work-dir',
            str(work_dir), '--bootstrap', '50', *extra, '--cfg-options', 'train_cfg.max_epochs=1']


@pytest.fixture(scope='module')
def finished_cv(repo_root, tiny_phantom, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('cv')
    tool = load_tool(repo_root)
    assert run_cli(tool.main, cv_args(repo_root, tiny_phantom, work_dir)) == 0
    return tool, work_dir


def test_every_image_predicted_once_by_the_model_that_did_not_train_on_it(finished_cv,
                                                                          tiny_phantom):
    _, work_dir = finished_cv
    all_names = sorted(r['file_name']
                       for r in read_annotations(tiny_phantom / 'annotation' / 'train.json'))
    predicted = []
    for k in range(2):
        train = {r['file_name'] for r in read_annotations(work_dir / 'splits' / f'fold{k}' /
                                                          'train.json')}
        val = [r['file_name'] for r in read_annotations(work_dir / 'splits' / f'fold{k}' /
                                                        'val.json')]
        assert train.isdisjoint(val) and len(train) + len(val) == len(all_names)
        oof = read_annotations(work_dir / f'fold{k}' / 'oof.predictions.json', require_scores=True)
        assert sorted(r['file_name'] for r in oof) == sorted(val)
        predicted += val
        info = json.loads((work_dir / f'fold{k}' / 'fold.json').read_text())
        assert osp.basename(info['checkpoint']) == 'epoch_1.pth' and info['train_seconds'] > 0
    assert sorted(predicted) == all_names


def test_summary_pools_all_folds_beside_the_baseline(finished_cv, tiny_phantom):
    _, work_dir = finished_cv
    summary = json.loads((work_dir / 'cv_summary.json').read_text())
    gt = read_annotations(tiny_phantom / 'annotation' / 'train.json')
    assert summary['n_images'] == len(gt) and summary['folds'] == 2
    n_boxes = sum(len(r['boxes']) for r in gt)
    assert summary['model']['mean']['n_gt'] == n_boxes == summary['baseline']['mean']['n_gt']
    for side in ('model', 'baseline'):
        for name, row in summary[side].items():
            if row['ap50'] is None:
                continue
            lo, hi = row['ap50_ci95']
            assert lo <= row['ap50'] <= hi, (side, name)
    markdown = (work_dir / 'cv_summary.md').read_text()
    assert '| **mean** |' in markdown and 'baseline' in markdown
    assert len(summary['fold_rows']) == 2


def test_report_of_the_pooled_out_of_fold_predictions(finished_cv, tiny_phantom):
    _, work_dir = finished_cv
    summary = json.loads((work_dir / 'cv_summary.json').read_text())
    metrics = json.loads((work_dir / 'cv.metrics.json').read_text())
    # The same pooled evaluation as the summary's, with its intervals.
    assert metrics['overall']['ap50'] == summary['model']['mean']['ap50']
    assert metrics['overall']['ap50_ci95'] == summary['model']['mean']['ap50_ci95']
    assert metrics['bootstrap']['n_resamples'] == 50
    confusion = json.loads((work_dir / 'cv.analysis' / 'confusion.json').read_text())
    assert confusion['n_images'] == summary['n_images']
    page = (work_dir / 'cv.report.html').read_text()
    assert 'fold 0: loss.png' in page and 'fold 1: loss.png' in page  # each fold's curves
    assert '<section id="gallery">' in page and 'data:image/jpeg' in page  # crops from --img-dir


def test_rerun_redoes_nothing_and_a_lost_prediction_is_remade_without_training(
        finished_cv, repo_root, tiny_phantom, capsys):
    tool, work_dir = finished_cv
    checkpoint = work_dir / 'fold1' / 'epoch_1.pth'
    stamp = checkpoint.stat().st_mtime_ns
    os.remove(work_dir / 'fold1' / 'oof.predictions.json')
    assert run_cli(tool.main, cv_args(repo_root, tiny_phantom, work_dir)) == 0
    out = capsys.readouterr().out
    assert 'fold 0: done' in out and 'fold 1: training' not in out
    assert (work_dir / 'fold1' / 'oof.predictions.json').is_file()
    assert checkpoint.stat().st_mtime_ns == stamp  # not retrained


def test_another_split_in_the_same_work_dir_is_one_error_line(finished_cv, repo_root,
                                                              tiny_phantom, capsys):
    tool, work_dir = finished_cv
    assert run_cli(tool.main, cv_args(repo_root, tiny_phantom, work_dir, '--seed', '3')) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'seed' in err and str(work_dir) in err
