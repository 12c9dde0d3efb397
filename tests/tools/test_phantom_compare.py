"""tools/misc/make_phantom.py --demo-mix, .dev_scripts/phantom_compare.sh (side-by-side phantom
training) and .dev_scripts/gpu_checks.sh's usage and pytest part."""
import json
import os
import re
import subprocess
import sys

from tbmm.datasets.phantom import DEMO_PHANTOM_OPTIONS, make_phantom_dataset

PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'
PHANTOM_FAST = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_bf16.py'


def test_demo_mix_writes_the_demos_data_set(repo_root, tmp_path):
    from tools.misc.make_phantom import main
    assert main([str(tmp_path / 'cli'), '--num-train', '6', '--num-test', '2', '--image-size',
                 '64', '--demo-mix']) == 0
    make_phantom_dataset(str(tmp_path / 'demo'), num_train=6, num_test=2, image_size=64, seed=0,
                         **DEMO_PHANTOM_OPTIONS)
    make_phantom_dataset(str(tmp_path / 'real_mix'), num_train=6, num_test=2, image_size=64,
                         seed=0)

    def records(name):
        return json.loads((tmp_path / name / 'annotation' / 'train.json').read_text())

    assert records('cli') == records('demo')
    assert records('cli') != records('real_mix')


def compare_tiny_runs(repo_root, out, max_epochs, **env):
    """phantom_compare.sh on a 4-image 64-px set: the phantom config and its fast twin, seed 3."""
    env = dict(os.environ, PYTHON=sys.executable, NUM_TRAIN='4', NUM_TEST='2',
               DATA_ROOT=str(out / 'data'), PARALLEL='2', OMP_NUM_THREADS='1',
               EXTRA=f'train_cfg.max_epochs={max_epochs} train_cfg.val_interval=1 '
                     'param_scheduler.0.end=1 train_dataloader.batch_size=2', **env)
    proc = subprocess.run(['bash', '.dev_scripts/phantom_compare.sh', str(out), '64', '3', PHANTOM,
                           PHANTOM_FAST], cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_compare_script_trains_each_config_and_writes_both_tables(repo_root, tmp_path):
    out = tmp_path / 'out'
    compare_tiny_runs(repo_root, out, max_epochs=1)
    for name in ('retinanet_r18_fpn_phantom-seed3', 'retinanet_r18_fpn_phantom_fast_bf16-seed3'):
        assert (out / name / 'last_checkpoint').is_file()
    for metric in ('AP50', 'FROC'):
        header = (out / f'{metric}-seed3.md').read_text().splitlines()[0]
        assert 'retinanet_r18_fpn_phantom-seed3 (val epoch 1)' in header
        assert 'retinanet_r18_fpn_phantom_fast_bf16-seed3 (val epoch 1)' in header


def test_time_limit_stops_the_runs_and_keeps_their_last_validation(repo_root, tmp_path):
    # A schedule far longer than the limit: both runs are stopped, the tables still come.
    out = tmp_path / 'out'
    proc = compare_tiny_runs(repo_root, out, max_epochs=10000, TIME_LIMIT_S='45')
    assert '2 run(s) stopped at the time limit (45 s)' in proc.stdout
    header = (out / 'AP50-seed3.md').read_text().splitlines()[0]
    epochs = re.findall(r'-seed3 \(val epoch (\d+)\)', header)
    # stopped wherever each was, compared at the same epoch
    assert len(epochs) == 2 and epochs[0] == epochs[1] and 1 <= int(epochs[0]) < 10000


def test_compare_script_without_arguments_prints_usage(repo_root):
    proc = subprocess.run(['bash', '.dev_scripts/phantom_compare.sh'], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'phantom_compare.sh OUT_DIR IMAGE_SIZE' in proc.stdout


def test_gpu_checks_without_a_part_prints_usage(repo_root):
    proc = subprocess.run(['bash', '.dev_scripts/gpu_checks.sh'], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'gpu_checks.sh speed' in proc.stdout and 'gpu_checks.sh accuracy' in proc.stdout
    assert 'gpu_checks.sh fp16' in proc.stdout and 'gpu_checks.sh pytest' in proc.stdout


def test_gpu_checks_pytest_part_runs_the_gpu_tests_and_fails_without_a_gpu(repo_root, tmp_path):
    import torch
    proc = subprocess.run(['bash', '.dev_scripts/gpu_checks.sh', 'pytest'], cwd=repo_root,
                          env=dict(os.environ, OUT_DIR=str(tmp_path)), capture_output=True,
                          text=True, timeout=600)
    log = (tmp_path / 'pytest_cuda.log').read_text()
    assert (tmp_path / 'pytest_cuda.xml').is_file()
    if torch.cuda.is_available():
        assert proc.returncode == 0, log[-3000:]
    else:  # CI=true deselects them: "no tests ran", which the device run must not take for a pass
        assert proc.returncode == 5, log[-3000:]
        assert 'CI=true without a CUDA device: deselected' in log
        assert 'pytest -m cuda: exit 5' in log
