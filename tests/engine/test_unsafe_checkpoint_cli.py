"""tools/test.py refuses a checkpoint holding a foreign pickled class in one `error:` line that
names --unsafe-load-checkpoint, and loads it with that flag."""
import argparse

import pytest
import torch

from tbmm.checkpoint import WEIGHTS_ONLY_SUPPORTED
from tests.engine.tool_runs import REPO, TINY_CONFIG, data_overrides, error_lines, run_tool, tail

pytestmark = pytest.mark.skipif(not WEIGHTS_ONLY_SUPPORTED,
                                reason='weights-only loading is enforced from torch 2.6')


@pytest.fixture(scope='module')
def foreign_checkpoint(tmp_path_factory):
    """Weights of the tiny model plus an object of a class outside MMEngine's allow-list."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import tbmm.plugin  # noqa: F401
    register_all_modules(init_default_scope=False)
    model = MODELS.build(Config.fromfile(str(REPO / TINY_CONFIG)).model)
    path = tmp_path_factory.mktemp('foreign') / 'foreign.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(note=argparse.Namespace(origin='another tool'))), path)
    return path


def evaluate(checkpoint, root, work_dir, *flags):
    return run_tool('test', TINY_CONFIG, checkpoint, '--work-dir', work_dir, *flags,
                    '--cfg-options', *data_overrides(root, test_images=2))


def test_refused_in_one_error_line_naming_the_flag(foreign_checkpoint, tiny_phantom, tmp_path):
    proc = evaluate(foreign_checkpoint, tiny_phantom, tmp_path)
    assert proc.returncode == 2, tail(proc.stdout + proc.stderr)
    assert 'Traceback' not in proc.stderr
    [message] = error_lines(proc.stderr)
    assert str(foreign_checkpoint) in message and 'argparse.Namespace' in message
    assert '--unsafe-load-checkpoint' in message
    assert 'Class' not in proc.stdout  # nothing was evaluated


def test_loaded_with_the_unsafe_flag(foreign_checkpoint, tiny_phantom, tmp_path):
    proc = evaluate(foreign_checkpoint, tiny_phantom, tmp_path, '--unsafe-load-checkpoint')
    assert proc.returncode == 0, tail(proc.stdout + proc.stderr)
    assert 'with weights_only=False because unsafe loading is enabled' in proc.stdout + proc.stderr
    assert 'Class' in proc.stdout and 'mean (' in proc.stdout  # the per-class table
