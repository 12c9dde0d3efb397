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


# --- CI=true: a check that did not run fails the run ----------------------------------------------
# Tests skip where an optional part is missing (pydicom, mmcv's compiled ops, torch >= 2.6 for
# weights-only loading, ...). Locally that is a note; under CI=true (what CI services set) it means
# the installation lacks something `make setup` should provide, so a skip is turned into a failure
# that names the test and the reason. GPU-only tests (marker `cuda`) cannot run on a CPU machine:
# there they are skipped locally and deselected under CI=true, with one line saying so.

def running_in_ci():
    return os.environ.get('CI', '').strip().lower() in ('1', 'true', 'yes')


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


_DESELECTED_CUDA = pytest.StashKey[int]()
_SKIPS_FAILED = pytest.StashKey[list]()


def pytest_collection_modifyitems(config, items):
    gpu_only = [item for item in items if item.get_closest_marker('cuda') is not None]
    if not gpu_only or _cuda_available():
        return
    if running_in_ci():
        items[:] = [item for item in items if item.get_closest_marker('cuda') is None]
        config.hook.pytest_deselected(items=gpu_only)
        config.stash[_DESELECTED_CUDA] = len(gpu_only)
    else:
        for item in gpu_only:
            item.add_marker(pytest.mark.skip(reason='needs a CUDA GPU (marker cuda)'))


def pytest_report_collectionfinish(config):
    n = config.stash.get(_DESELECTED_CUDA, 0)
    if n:
        return (f'CI=true without a CUDA device: deselected {n} GPU-only test(s) (marker cuda); '
                f'run them on a GPU machine')
    return None


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, 'Skipped: reason')
        return str(longrepr[2]).removeprefix('Skipped: ')
    return str(longrepr)


def _skip_in_ci(config, report):
    """Under CI=true, note a skipped report (not an xfail) with its reason; return the reason."""
    if not (running_in_ci() and report.skipped and not hasattr(report, 'wasxfail')):
        return None
    reason = _skip_reason(report)
    config.stash.setdefault(_SKIPS_FAILED, []).append((report.nodeid, reason))
    return reason


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    reason = _skip_in_ci(item.config, report)
    if reason is not None:  # a failure like any other: counted, listed, and -x stops there
        report.outcome = 'failed'
        report.longrepr = f'skipped under CI=true, which counts as a failure: {reason}'
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    # A module-level importorskip skips a whole file here. Left a skip (as a collection error it
    # would stop the run before the other tests), noted, and failing the run at its end.
    report = yield
    _skip_in_ci(collector.config, report)
    return report


def pytest_sessionfinish(session, exitstatus):
    if session.config.stash.get(_SKIPS_FAILED, []) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    skipped = config.stash.get(_SKIPS_FAILED, [])
    if skipped:
        terminalreporter.section(f'CI=true: {len(skipped)} skipped test(s) or file(s) fail the '
                                 f'run', sep='=', red=True)
        for nodeid, reason in skipped:
            terminalreporter.line(f'{nodeid}: {reason}')
