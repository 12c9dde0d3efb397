"""Comparing runs: values from test.metrics.json or the last validation, best per row marked."""
import json

import pytest

from tbmm.analysis.compare import (
    common_validation_step,
    format_comparison,
    load_run_metrics,
    run_labels,
)


def write_validation(work_dir, per_epoch):
    """Scalars of a run whose validations give ``per_epoch[i]`` = {class: AP50} at epoch i+1."""
    path = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    lines = []
    for epoch, values in enumerate(per_epoch, 1):
        lines.append({'lr': 0.01, 'loss': 1.0, 'epoch': epoch, 'iter': epoch * 10,
                      'step': epoch * 10})
        entry = {f'chestxdet/AP50/{name}': v for name, v in values.items()}
        entry.update({f'chestxdet/FROC/{name}': v / 2 for name, v in values.items()})
        entry['chestxdet/mAP50'] = sum(values.values()) / len(values)
        entry['chestxdet/mFROC'] = entry['chestxdet/mAP50'] / 2
        entry['step'] = epoch
        lines.append(entry)
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))


def write_test_metrics(work_dir, values, n_images=80):
    work_dir.mkdir(parents=True, exist_ok=True)
    result = {'classes': list(values),
              'per_class': {n: {'ap50': v, 'froc_avgrecall': None if v is None else v / 2}
                            for n, v in values.items()},
              'overall': {'ap50': 0.5, 'froc_avgrecall': 0.25},
              'images': {'n_images': n_images}}
    (work_dir / 'test.metrics.json').write_text(json.dumps(result))


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / 'r50', tmp_path / 'r101'
    # r50: the last validation counts, not the better first one.
    write_validation(a, [{'Nodule': 0.9, 'Mass': 0.9}, {'Nodule': 0.30, 'Mass': 0.60}])
    write_validation(b, [{'Nodule': 0.40, 'Mass': 0.50}])
    return a, b


def cells(table, row):
    line = next(line for line in table.splitlines() if line.startswith(f'| {row} |'))
    return [c.strip() for c in line.strip('|').split('|')][1:]


def test_best_run_per_class_is_bold(two_runs):
    runs = [load_run_metrics(d) for d in two_runs]
    assert runs[0].source == 'val epoch 2' and runs[0].per_class == {'Nodule': 0.3, 'Mass': 0.6}
    table = format_comparison(runs)
    assert table.splitlines()[0] == '| AP50 | r50 (val epoch 2) | r101 (val epoch 1) |'
    assert cells(table, 'Nodule') == ['0.300', '**0.400**']
    assert cells(table, 'Mass') == ['**0.600**', '0.500']
    assert cells(table, '**mean** (mAP50)') == ['0.450', '0.450']  # a tie marks nothing


def test_froc_and_test_metrics_take_precedence(two_runs, tmp_path):
    a, b = two_runs
    write_test_metrics(b, {'Nodule': 0.2, 'Mass': 0.8, 'Fracture': None})
    runs = [load_run_metrics(d, 'FROC') for d in two_runs]
    assert [r.source for r in runs] == ['val epoch 2', 'test']
    table = format_comparison(runs, 'FROC')
    assert cells(table, 'Nodule') == ['**0.150**', '0.100']
    assert cells(table, 'Mass') == ['0.300', '**0.400**']
    assert cells(table, 'Fracture') == ['n/a', 'n/a']
    assert 'mix test and validation' in table
    assert load_run_metrics(b, source='val').source == 'val epoch 1'


def test_test_results_on_test_sets_of_different_sizes_are_flagged(tmp_path):
    write_test_metrics(tmp_path / 'a', {'Nodule': 0.2})
    write_test_metrics(tmp_path / 'b', {'Nodule': 0.4}, n_images=6)
    write_test_metrics(tmp_path / 'c', {'Nodule': 0.3})
    runs = [load_run_metrics(tmp_path / name) for name in 'abc']
    assert 'test sets of different sizes (6, 80 images)' in format_comparison(runs)
    assert 'different sizes' not in format_comparison([runs[0], runs[2]])


def test_run_without_results_is_file_not_found(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError):
        load_run_metrics(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='test.metrics.json'):
        load_run_metrics(tmp_path / 'empty', source='test')


def test_repeated_names_are_told_apart_by_path(tmp_path):
    assert run_labels([tmp_path / 'x' / 'run', tmp_path / 'y' / 'run', tmp_path / 'z']) == [
        str(tmp_path / 'x' / 'run'), str(tmp_path / 'y' / 'run'), 'z']


def test_runs_stopped_at_different_epochs_are_compared_at_a_common_one(two_runs):
    a, b = two_runs  # a validated at epochs 1 and 2, b at epoch 1
    assert common_validation_step([a, b]) == 1
    assert common_validation_step([a]) == 2
    at_1 = load_run_metrics(a, step=1)
    assert at_1.source == 'val epoch 1' and at_1.per_class == {'Nodule': 0.9, 'Mass': 0.9}
    with pytest.raises(FileNotFoundError, match=r'no validation with AP50 at epoch 2 '
                                                r'\(validated at: 1\)'):
        load_run_metrics(b, step=2)


def test_no_common_validation_is_a_clear_error(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write_validation(a, [{'Nodule': 0.5}])
    (b / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (b / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        '{"lr": 0.01, "loss": 1.0, "epoch": 1, "iter": 10, "step": 10}\n')  # stopped before one
    with pytest.raises(FileNotFoundError, match='no validation of AP50 at a step common'):
        common_validation_step([a, b])
