"""Reading MMEngine scalar logs (resumed runs chained) and plotting them."""
import json
import os

import pytest

from tbmm.analysis.curves import (
    ScalarLogError,
    find_scalar_files,
    plot_training_curves,
    read_training_log,
)

CLASSES = ('Consolidation', 'Effusion', 'Nodule')


def train_entry(iteration, epoch, loss):
    return {'lr': 0.01 * min(1.0, iteration / 20), 'data_time': 0.01, 'loss': loss,
            'loss_cls': loss * 0.6, 'loss_bbox': loss * 0.4, 'time': 0.3, 'epoch': epoch,
            'iter': iteration, 'memory': 100, 'step': iteration}


def val_entry(epoch, ap):
    entry = {'chestxdet/mAP50': ap, 'chestxdet/mFROC': ap / 2, 'data_time': 0.01, 'time': 0.2,
             'step': epoch}
    for k, name in enumerate(CLASSES):
        entry[f'chestxdet/AP50/{name}'] = ap * (k + 1) / 3
        entry[f'chestxdet/FROC/{name}'] = ap * (k + 1) / 6
        entry[f'chestxdet/coco_AP/{name}'] = ap / 4
    return entry


def write_run(work_dir, timestamp, entries, tail=''):
    path = work_dir / timestamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(e) + '\n' for e in entries) + tail)
    return path


def epochs(first, last, iters_per_epoch=10, log_every=5):
    """Entries of epochs first..last: training every ``log_every`` iterations, then validation."""
    out = []
    for epoch in range(first, last + 1):
        for i in range(log_every, iters_per_epoch + 1, log_every):
            iteration = (epoch - 1) * iters_per_epoch + i
            out.append(train_entry(iteration, epoch, 2.0 / iteration))
        out.append(val_entry(epoch, 0.1 * epoch))
    return out


def test_resumed_run_continues_and_replaces_the_superseded_tail(tmp_path):
    # Run 1 got to epoch 3; run 2 resumed from the epoch-2 checkpoint and went to epoch 4.
    write_run(tmp_path, '20260101_000000', epochs(1, 3))
    write_run(tmp_path, '20260102_000000', epochs(3, 4))
    (tmp_path / '20260103_000000').mkdir()  # a run that crashed before logging anything
    log = read_training_log(tmp_path)
    assert len(log.runs) == 2
    iterations, _ = log.train_series('loss')
    assert iterations == [5, 10, 15, 20, 25, 30, 35, 40]  # each once, in order
    steps, values = log.val_series('chestxdet/mAP50')
    assert steps == [1, 2, 3, 4] and values == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert log.per_class_keys('AP50') == {n: f'chestxdet/AP50/{n}' for n in CLASSES}
    assert log.mean_key('FROC') == 'chestxdet/mFROC'
    assert log.last_validation('AP50')['step'] == 4


def test_fresh_restart_hides_the_earlier_run_and_latest_only_reads_one(tmp_path):
    write_run(tmp_path, '20260101_000000', epochs(1, 3))
    write_run(tmp_path, '20260102_000000', epochs(1, 1))
    assert read_training_log(tmp_path).train_series('loss')[0] == [5, 10]
    write_run(tmp_path, '20260103_000000', epochs(2, 2))
    assert read_training_log(tmp_path, latest_only=True).train_series('loss')[0] == [15, 20]


def test_cut_off_last_line_is_skipped_but_a_broken_middle_line_is_an_error(tmp_path):
    write_run(tmp_path / 'a', '20260101_000000', epochs(1, 1), tail='{"lr": 0.01, "lo')
    assert len(read_training_log(tmp_path / 'a').train) == 2
    path = write_run(tmp_path / 'b', '20260101_000000', epochs(1, 1))
    path.write_text('{"lr": 1\n' + path.read_text())
    with pytest.raises(ScalarLogError, match='line 1'):
        read_training_log(tmp_path / 'b')


def test_a_binary_file_is_a_one_line_error(tmp_path):
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'PK\x03\x04\x80\x02\xff\xfe binary')
    with pytest.raises(ScalarLogError, match='epoch_1.pth: not a text file .a checkpoint.'):
        read_training_log(checkpoint)


def test_missing_logs_are_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such work dir'):
        find_scalar_files(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        find_scalar_files(tmp_path)


def test_plots_are_written(tmp_path):
    write_run(tmp_path, '20260101_000000', epochs(1, 4))
    written = plot_training_curves(read_training_log(tmp_path), tmp_path / 'curves')
    names = sorted(os.path.basename(p) for p in written)
    assert names == ['ap50_per_class.png', 'froc_per_class.png', 'loss.png', 'lr.png']
    for path in written:
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_no_validation_means_no_metric_plots(tmp_path):
    write_run(tmp_path, '20260101_000000', [e for e in epochs(1, 2) if 'loss' in e])
    written = plot_training_curves(read_training_log(tmp_path), tmp_path / 'curves')
    assert sorted(os.path.basename(p) for p in written) == ['loss.png', 'lr.png']
