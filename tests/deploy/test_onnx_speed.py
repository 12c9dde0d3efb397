"""tools/onnx_speed.py's comparison runs both backends on the same model and image: their
detections agree, so a ratio never comes from an export that computes something else."""
import json

import pytest

from tests.deploy.conftest import run_tool

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


def test_speed_comparison_times_the_same_detections(tmp_path):
    record = tmp_path / 'speed.json'
    result = run_tool('onnx_speed.py', '--image-size', 128, '--iters', 1, '--warmup', 0,
                      '--threads', 1, '--out', record)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ratio:' in result.stdout
    saved = json.loads(record.read_text())
    assert saved['detections']['stock'] == saved['detections']['onnx'] > 0
    assert saved['detections']['max_score_diff'] <= 1e-4
    assert saved['stock_median_s'] > 0 and saved['onnx_median_s'] > 0
    assert saved['ratio'] == pytest.approx(saved['stock_median_s'] / saved['onnx_median_s'])


def test_bad_arguments_are_one_error_line():
    result = run_tool('onnx_speed.py', '--iters', 0)
    assert result.returncode == 2 and result.stderr.startswith('error:')
