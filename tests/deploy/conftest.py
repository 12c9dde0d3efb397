"""Shared fixtures of the deploy tests: phantom images in every format the readers take, and each
model family exported once (random weights from a fixed seed; nothing is trained)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.deploy.model_factory import build_random_detector, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    'main': REPO / 'tests/fixtures/configs/phantom_tiny.py',
    'fast': REPO / 'tests/fixtures/configs/phantom_tiny_fast.py',
}

# Modules the runtime must never load; a finder refusing them runs before every other one.
FORBIDDEN = ('torch', 'mmcv', 'mmdet', 'mmengine')
_BLOCKER = f"""
import sys
class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {FORBIDDEN!r}:
            raise ImportError('tbmm.deploy must not import ' + name)
        return None
sys.meta_path.insert(0, _Refuse())
import runpy
sys.argv = ['python -m tbmm.deploy'] + sys.argv[1:]
runpy.run_module('tbmm.deploy', run_name='__main__', alter_sys=True)
"""


def run_deploy(*args, python=sys.executable, env=None):
    """``python -m tbmm.deploy ARGS`` in a subprocess whose importer refuses torch, mmcv, mmdet
    and mmengine; returns the CompletedProcess."""
    run_env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    run_env.update(env or {})
    return subprocess.run([python, '-c', _BLOCKER, *map(str, args)], cwd=REPO, env=run_env,
                          capture_output=True, text=True, timeout=300)


def run_tool(script, *args):
    """``python tools/SCRIPT ARGS`` in a subprocess; returns the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'tools' / script), *map(str, args)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='session')
def phantom_images(tmp_path_factory):
    """A folder of phantom X-rays: the 128 px phantom test images (8-bit PNG) plus the same
    anatomy as a non-square 16-bit PNG, a JPEG and a MONOCHROME1 DICOM."""
    from tbmm.datasets.phantom import make_phantom_dataset

    root = tmp_path_factory.mktemp('deploy_phantom')
    make_phantom_dataset(str(root), num_train=1, num_test=5, image_size=128, seed=3)
    folder = root / 'test_data'
    first = sorted(folder.glob('*.png'))[0]
    gray = cv2.imread(str(first), cv2.IMREAD_GRAYSCALE)
    wide = cv2.resize(gray, (160, 112), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(folder / 'wide16.png'), wide.astype(np.uint16) * 257 + 3)
    cv2.imwrite(str(folder / 'photo.jpg'), gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    pytest.importorskip('pydicom')
    from tests.helpers import write_dicom
    write_dicom(str(folder / 'inverted.dcm'), 4095 - gray.astype(np.uint16) * 16,
                photometric='MONOCHROME1', bits_stored=12)
    return folder


@pytest.fixture(scope='session')
def exported(tmp_path_factory):
    """``exported(family)`` -> ``(config, checkpoint, model.onnx)`` for 'main' or 'fast',
    exported once per session with :func:`tbmm.apis.export.export_onnx`."""
    cache = {}

    def get(family):
        if family not in cache:
            from tbmm.apis.export import export_onnx

            folder = tmp_path_factory.mktemp(f'export_{family}')
            config = CONFIGS[family]
            cfg, model = build_random_detector(config, seed=0)
            checkpoint = save_checkpoint(model, cfg.metainfo['classes'], folder / 'model.pth')
            summary = export_onnx(str(config), str(checkpoint), str(folder / 'model.onnx'))
            cache[family] = (config, checkpoint, Path(summary.path))
        return cache[family]

    return get
