"""register_all_modules registers tbmm's parts and the safe checkpoint loading, in a fresh process
(this test process has imported the plugin long ago)."""
import subprocess
import sys

PROBE = '''
from mmdet.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
assert MODELS.get('WBFTTAModel') is None and DATASETS.get('ChestXDetDataset') is None
from tbmm.setup_env import register_all_modules
register_all_modules()
register_all_modules()  # a second call changes nothing
from mmengine.registry import DefaultScope
print(DefaultScope.get_current_instance().scope_name)
for registry, name in [(DATASETS, 'ChestXDetDataset'), (TRANSFORMS, 'LoadXRayImageFromFile'),
                       (MODELS, 'WBFTTAModel'), (MODELS, 'FastRetinaNet'),
                       (MODELS, 'MultiLabelFocalLoss'), (METRICS, 'ChestXDetMetric'),
                       (HOOKS, 'StopOnNonFiniteLossHook'), (MODELS, 'RetinaNet')]:
    assert registry.get(name) is not None, name
import mmengine.runner.checkpoint as checkpoint
print(checkpoint.CheckpointLoader._schemes[''].__module__)
'''


def test_register_all_modules_registers_every_part_and_safe_loading():
    proc = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scope, loader_module = proc.stdout.split()
    assert scope == 'mmdet'
    assert loader_module.startswith('tbmm.')
