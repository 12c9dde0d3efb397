"""tools/analysis_tools/benchmark.py --backend onnxruntime runs both backends on the same model and
image: their detections agree, so a ratio never comes from an export that computes something
else."""
import json
import subprocess
import sys

import pytest

from tests.engine.tool_runs import REPO, tool_env, tool_path

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


def benchmark(*args):
    return subprocess.run([sys.executable, tool_path('benchmark'), *map(str, args)], cwd=REPO,
                          env=tool_env(), capture_output=True, text=True, timeout=600)


def test_speed_comparison_times_the_same_detections(tmp_path):
    record = tmp_path / 'speed.jsonl'
    result = benchmark('--task', 'infer', '--backend', 'onnxruntime', '--compare-stock',
                       '--image-size', 128, '--iters', 1, '--warmup', 0, '--threads', 1,
                       '--json', record)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ratio (stock time / onnxruntime time):' in result.stdout
    saved = json.loads(record.read_text().splitlines()[-1])
    assert saved['detections']['stock'] == saved['detections']['onnx'] > 0
    assert saved['detections']['max_score_diff'] <= 1e-4
    assert saved['stock_median_s'] > 0 and saved['onnx_median_s'] > 0
    assert saved['ratio'] == pytest.approx(saved['stock_median_s'] / saved['onnx_median_s'])
    assert '--backend onnxruntime' in saved['command']


def test_int8_is_timed_beside_float32_and_labelled_across_precisions(tmp_path):
    pytest.importorskip('onnxruntime.quantization')
    record = tmp_path / 'speed.jsonl'
    result = benchmark('--task', 'infer', '--backend', 'onnxruntime', '--compare-stock',
                       '--image-size', 128, '--iters', 1, '--warmup', 0, '--threads', 1,
                       '--precision', 'int8', '--calibration-count', 1, '--json', record)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ratio (stock time / onnxruntime time):' in result.stdout
    assert '(same precision, float32)' in result.stdout
    assert 'ratio (stock float32 time / onnxruntime int8 time), across precisions:' \
        in result.stdout
    saved = json.loads(record.read_text().splitlines()[-1])
    assert saved['precision'] == 'stock float32; onnxruntime float32 and int8'
    assert saved['detections']['max_score_diff'] <= 1e-4  # the float32 side is unchanged
    int8 = saved['int8']
    assert int8['ratio'] == pytest.approx(saved['stock_median_s'] / int8['onnx_median_s'])
    assert int8['ratio_vs_onnx_float32'] == pytest.approx(
        saved['onnx_median_s'] / int8['onnx_median_s'])
    assert int8['quantization']['calibration_images'] == 1
    assert int8['detections']['onnx'] > 0


@pytest.mark.parametrize('args', [
    ['--task', 'infer', '--backend', 'onnxruntime', '--compare-stock', '--iters', 0],
    ['--task', 'train', '--backend', 'onnxruntime', '--compare-stock'],
    ['--task', 'infer', '--backend', 'onnxruntime'],
    ['--task', 'infer', '--precision', 'int8', '--compare-stock', 'config.py'],
])
def test_bad_arguments_are_one_error_line(args):
    result = benchmark(*args)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if 'error:' in line]
    assert 'Traceback' not in result.stderr
