import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Tests run on CPU, on two cores shared with other work: one OpenMP thread per process. With two,
# a ResNet-18 RetinaNet step at 128 px took 7.3 s instead of 0.16 s (threads spin-waiting).
os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def tiny_phantom(tmp_path_factory):
    """A small phantom data set shared by the training tests (128 px, 24 train / 12 test images)."""
    from tbmm.datasets.phantom import make_phantom_dataset
    root = tmp_path_factory.mktemp('phantom_tiny')
    make_phantom_dataset(str(root), num_train=24, num_test=12, image_size=128, seed=1)
    return root
