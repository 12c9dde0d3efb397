"""Run the command-line tools on the tiny phantom set, as a user would, for the engine tests."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = 'tests/fixtures/configs/phantom_tiny.py'
TRAIN_LOG_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def data_overrides(root, train_images=None, test_images=None):
    """``--cfg-options`` items pointing the tiny config at ``root``, optionally at its first
    images."""
    opts = [f'{split}_dataloader.dataset.data_root={root}/' for split in ('train', 'val', 'test')]
    if train_images:
        opts.append(f'train_dataloader.dataset.indices={train_images}')
    if test_images:
        opts += [f'{split}_dataloader.dataset.indices={test_images}' for split in ('val', 'test')]
    return opts


# Predict every box above zero, so that evaluations compare many boxes instead of two empty lists.
PREDICT_ALL = ['model.test_cfg.score_thr=0.0', 'model.test_cfg.max_per_img=20']


def tool_env(**extra):
    env = dict(os.environ)
    # One thread per process: on two cores shared with other work, two OpenMP threads per process
    # spin against each other and made an iteration 20x slower here.
    env['OMP_NUM_THREADS'] = '1'
    env.pop('TBMM_UNSAFE_LOAD', None)
    env.update(extra)
    return env


def tool_path(tool):
    """``tools/<group>/<tool>.py`` for a tool's name (the tools are grouped as in mmdet)."""
    found = sorted(REPO.glob(f'tools/**/{tool}.py'))
    assert len(found) == 1, f'{tool}: {found}'
    return str(found[0].relative_to(REPO))


def tool_command(tool, *args):
    return [sys.executable, tool_path(tool), *map(str, args)]


def run_tool(tool, *args, timeout=300, **env):
    return subprocess.run(tool_command(tool, *args), cwd=REPO, env=tool_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith('error:')]


def train_log_positions(text):
    """``(epoch, iteration in epoch, iterations per epoch)`` of every training log line."""
    return [tuple(map(int, m)) for m in TRAIN_LOG_LINE.findall(text)]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tail(text, lines=30):
    """The last lines of a tool's output, after any abort or error lines from earlier in it
    (a crashed rank's own message comes before torchrun's long report)."""
    all_lines = text.splitlines()
    alarms = [line for line in all_lines[:-lines]
              if re.search(r'terminate|abort|Error|Exception|what\(\)', line)]
    return '\n'.join(alarms[-20:] + all_lines[-lines:])


def load_checkpoint(path):
    """A checkpoint the tools wrote, loaded as they load it (weights only, MMEngine's
    allow-list)."""
    from tbmm.checkpoint import load_checkpoint_file, register_mmengine_safe_globals
    register_mmengine_safe_globals()
    return load_checkpoint_file(path)
