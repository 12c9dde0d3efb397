"""tools/dist_train.sh with two CPU processes (torchrun, gloo): the validation metrics it gathers
across ranks equal a one-process evaluation (tools/test.py) of the same checkpoint and data."""
import json
import subprocess
import sys

from tests.engine.tool_runs import (
    PREDICT_ALL,
    REPO,
    TINY_CONFIG,
    data_overrides,
    free_port,
    run_tool,
    tail,
    tool_env,
    train_log_positions,
)

# Odd on purpose: the distributed sampler pads rank 1 with a repeat of image 0, which the
# evaluator has to drop again.
TEST_IMAGES = 5
TRAIN_IMAGES, BATCH, WORLD_SIZE = 8, 2, 2


def test_two_cpu_processes_validate_like_one_process_test(tiny_phantom, tmp_path):
    data = data_overrides(tiny_phantom, train_images=TRAIN_IMAGES, test_images=TEST_IMAGES)
    work_dir = tmp_path / 'dist'
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', TINY_CONFIG, str(WORLD_SIZE), '--work-dir', str(work_dir),
         '--cfg-options', *data, *PREDICT_ALL, 'train_cfg.max_epochs=1',
         'env_cfg.dist_cfg.backend=gloo', f'val_evaluator.outfile_prefix={tmp_path}/dist_val'],
        cwd=REPO, env=tool_env(PYTHON=sys.executable, PORT=str(free_port())),
        capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, tail(output)
    # Each rank takes half of the images: half the iterations of a one-process epoch.
    assert train_log_positions(output)[-1] == (1, 2, TRAIN_IMAGES // (BATCH * WORLD_SIZE))

    single = run_tool('test', TINY_CONFIG, work_dir / 'epoch_1.pth', '--work-dir',
                      tmp_path / 'single', '--metrics-prefix', tmp_path / 'single_test',
                      '--no-report', '--cfg-options', *data, *PREDICT_ALL)
    assert single.returncode == 0, tail(single.stdout + single.stderr)
    assert f'Per-class metrics: {tmp_path}/single_test.metrics.json' in single.stdout

    def read(name):
        return json.loads((tmp_path / name).read_text())

    gathered, one_process = read('dist_val.predictions.json'), read('single_test.predictions.json')
    test_names = [r['file_name'] for r in json.loads(
        (tiny_phantom / 'annotation' / 'test.json').read_text())[:TEST_IMAGES]]
    # Every test image once (the padding repeat dropped), in data set order.
    assert [r['file_name'] for r in gathered] == test_names
    assert sum(len(r['boxes']) for r in gathered) > 0, 'compare real predictions, not empty lists'
    assert gathered == one_process
    assert read('dist_val.metrics.json') == read('single_test.metrics.json')
