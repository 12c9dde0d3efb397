"""tools/export.py: writes a checked model, and refuses what the runtime could not reproduce."""
import json

import pytest

from tests.deploy.conftest import CONFIGS, run_tool

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')


def test_export_writes_a_model_checked_against_pytorch(exported, tmp_path):
    config, checkpoint, _ = exported('main')
    thresholds = tmp_path / 'thresholds.json'
    thresholds.write_text(json.dumps({'classes': {'Nodule': 0.4}}))
    out = tmp_path / 'sub' / 'model.onnx'
    result = run_tool('export.py', config, checkpoint, '--out', out, '--image-size', 96)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'onnxruntime vs PyTorch on (2, 3, 96, 96)' in result.stdout
    props = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert props['tbmm.preprocess']['resize']['scale'] == [96, 96]

    # A thresholds file must name every class of the model.
    refused = run_tool('export.py', config, checkpoint, '--out', tmp_path / 'm2.onnx',
                       '--thresholds', thresholds, '--no-check')
    assert refused.returncode == 2, refused.stderr[-2000:]
    errors = [line for line in refused.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and "no threshold for class 'Consolidation'" in errors[0]
    assert 'Traceback' not in refused.stderr
    assert not (tmp_path / 'm2.onnx').exists()


def test_a_pipeline_step_the_runtime_cannot_reproduce_is_refused(exported, tmp_path):
    _, checkpoint, _ = exported('main')
    config = tmp_path / 'flipped.py'
    config.write_text(f"_base_ = '{CONFIGS['main']}'\n"
                      "test_pipeline = [dict(type='LoadXRayImageFromFile'),\n"
                      "                 dict(type='Resize', scale=(128, 128), keep_ratio=True),\n"
                      "                 dict(type='RandomFlip', prob=1.0),\n"
                      "                 dict(type='PackDetInputs')]\n"
                      "test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n")
    result = run_tool('export.py', config, checkpoint, '--out', tmp_path / 'm.onnx')
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'error: the test pipeline step RandomFlip is not one the ONNX runtime' in result.stderr
