"""tests/conftest.py under CI=true: a skipped test fails the run and says why; GPU-only tests are
deselected on a machine without CUDA, with one line saying so. Run on a small suite in a subprocess
with a copy of the conftest."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name('conftest.py')

TESTS = {
    'test_mixed.py': '''
import pytest

def test_passes():
    pass

def test_skips_inside():
    pytest.skip('pydicom-like extra missing')

@pytest.mark.skipif(True, reason='torch too old for this')
def test_skipif_marker():
    pass

@pytest.mark.xfail(reason='known bug', strict=True)
def test_expected_failure():
    assert False

@pytest.mark.cuda
def test_gpu_only():
    import torch
    assert torch.cuda.is_available()
''',
    'test_module_skip.py': '''
import pytest
pytest.importorskip('no_such_module_tbmm', reason='compiled ops missing')

def test_never_collected():
    pass
''',
}


@pytest.fixture(scope='module')
def small_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp('ci_suite')
    (root / 'conftest.py').write_text(CONFTEST.read_text())
    (root / 'pytest.ini').write_text('[pytest]\nmarkers =\n    cuda: needs a CUDA GPU\n')
    for name, text in TESTS.items():
        (root / name).write_text(text)
    return root


def run_suite(root, ci):
    env = {k: v for k, v in os.environ.items() if k != 'CI'}
    if ci:
        env['CI'] = 'true'
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '-p', 'no:randomly', str(root)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def has_cuda():
    import torch
    return torch.cuda.is_available()


def test_without_ci_skips_are_skips(small_suite):
    proc = run_suite(small_suite, ci=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    skipped = 4 if not has_cuda() else 3  # 2 in test_mixed, the module, the GPU test on a CPU
    assert f'{skipped} skipped' in proc.stdout, proc.stdout
    assert ' failed' not in proc.stdout.splitlines()[-1]


def test_under_ci_every_skip_fails_the_run_and_says_why(small_suite):
    proc = run_suite(small_suite, ci=True)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert 'CI=true: 3 skipped test(s) or file(s) fail the run' in out
    for test, reason in (('test_mixed.py::test_skips_inside', 'pydicom-like extra missing'),
                         ('test_mixed.py::test_skipif_marker', 'torch too old for this'),
                         ('test_module_skip.py', 'compiled ops missing')):
        assert any(test in line and reason in line for line in out.splitlines()), (test, out)
    last = out.splitlines()[-1]
    # The skip inside a test is a failure, the skipif marker one in setup (an error); the skipped
    # file cannot count so (its tests were never collected) and fails the run by the exit status.
    assert '1 failed' in last and '1 error' in last and '1 passed' in last, last
    assert '1 skipped' in last, last
    assert '1 xfailed' in last, last  # an expected failure is not a missing check
    if not has_cuda():
        line = ('CI=true without a CUDA device: deselected 1 GPU-only test(s) (marker cuda); '
                'run them on a GPU machine')
        assert out.count(line) == 1, out
        assert '1 deselected' in last, last
