"""A training run killed with SIGKILL in the middle of an epoch resumes with --resume and ends
where an uninterrupted run ends; its last checkpoint evaluates in tools/test.py."""
import signal
import subprocess
import time

from tests.engine.tool_runs import (
    REPO,
    TINY_CONFIG,
    data_overrides,
    load_checkpoint,
    run_tool,
    tail,
    tool_command,
    tool_env,
    train_log_positions,
)

# Six iterations per epoch leave the kill a wide margin inside epoch 2.
TRAIN_IMAGES, BATCH, EPOCHS = 12, 2, 3
ITERS_PER_EPOCH = TRAIN_IMAGES // BATCH


def wait_for_second_epoch(proc, log_path, checkpoint, timeout=300):
    """Return once ``checkpoint`` exists and the log shows an iteration of epoch 2."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f'training ended before it could be killed:\n'
                                 f'{tail(log_path.read_text())}')
        positions = train_log_positions(log_path.read_text())
        if checkpoint.is_file() and any(epoch == 2 for epoch, _, _ in positions):
            return
        time.sleep(0.05)
    raise AssertionError(f'no iteration of epoch 2 within {timeout} s:\n'
                         f'{tail(log_path.read_text())}')


def test_run_killed_mid_epoch_resumes_to_the_same_end(tiny_phantom, tmp_path):
    work_dir = tmp_path / 'work'
    options = data_overrides(tiny_phantom, train_images=TRAIN_IMAGES, test_images=2) + [
        f'train_cfg.max_epochs={EPOCHS}', f'train_cfg.val_interval={EPOCHS}']
    args = [TINY_CONFIG, '--work-dir', work_dir, '--cfg-options', *options]

    log_path = tmp_path / 'killed_run.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(tool_command('train', *args), cwd=REPO, env=tool_env(),
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_second_epoch(proc, log_path, work_dir / 'epoch_1.pth')
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = train_log_positions(log_path.read_text())[-1]
    assert killed_at[0] == 2 and killed_at[1] < ITERS_PER_EPOCH, 'the kill must land inside epoch 2'
    assert not (work_dir / 'epoch_2.pth').exists()

    resumed = run_tool('train', *args, '--resume')
    assert resumed.returncode == 0, tail(resumed.stdout + resumed.stderr)
    positions = train_log_positions(resumed.stdout + resumed.stderr)
    # The interrupted epoch is trained again from its start; epoch 1 is not.
    assert positions[0] == (2, 1, ITERS_PER_EPOCH)
    assert positions[-1] == (EPOCHS, ITERS_PER_EPOCH, ITERS_PER_EPOCH)
    assert all(epoch >= 2 for epoch, _, _ in positions)

    final = load_checkpoint(work_dir / f'epoch_{EPOCHS}.pth')
    # An uninterrupted run ends after EPOCHS x ITERS_PER_EPOCH iterations.
    assert (final['meta']['epoch'], final['meta']['iter']) == (EPOCHS, EPOCHS * ITERS_PER_EPOCH)

    tested = run_tool('test', TINY_CONFIG, work_dir / f'epoch_{EPOCHS}.pth', '--work-dir',
                      tmp_path / 'test', '--cfg-options',
                      *data_overrides(tiny_phantom, test_images=2))
    assert tested.returncode == 0, tail(tested.stdout + tested.stderr)
    assert 'Class' in tested.stdout and 'mean (' in tested.stdout  # the per-class table
