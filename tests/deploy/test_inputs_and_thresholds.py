"""Bad input to python -m tbmm.deploy gets one error line (or is listed while the other images run),
and per-class thresholds flag boxes (above_threshold) in the runtime and in tools/infer.py alike."""
import json
import shutil

import pytest

from tests.deploy.conftest import run_deploy, run_tool

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith('error:')]


def assert_one_error_line(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope='module')
def one_image(phantom_images, tmp_path_factory):
    folder = tmp_path_factory.mktemp('one_image')
    shutil.copy(sorted(phantom_images.glob('*.png'))[0], folder / 'a.png')
    return folder


def test_a_file_that_is_not_onnx(one_image, tmp_path):
    fake = tmp_path / 'model.onnx'
    fake.write_bytes(b'PK\x03\x04 this is a zip, not a protobuf' * 10)
    result = run_deploy(fake, one_image, '--out-dir', tmp_path / 'out')
    assert_one_error_line(result, str(fake), 'not a loadable ONNX model')


def test_an_onnx_model_without_tbmm_metadata(one_image, tmp_path):
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node('Identity', ['x'], ['y'])], 'plain',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 3, 8, 8])])
    plain = tmp_path / 'plain.onnx'
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)]), str(plain))
    result = run_deploy(plain, one_image, '--out-dir', tmp_path / 'out')
    assert_one_error_line(result, str(plain), 'without tbmm metadata')


def test_a_missing_model_file(one_image, tmp_path):
    result = run_deploy(tmp_path / 'nope.onnx', one_image, '--out-dir', tmp_path / 'out')
    assert_one_error_line(result, 'nope.onnx', 'not found')


def test_missing_and_unreadable_images_are_listed_and_the_others_run(exported, one_image,
                                                                     tmp_path):
    _, _, model = exported('main')
    broken = tmp_path / 'broken.dcm'
    broken.write_bytes(b'\0' * 128 + b'DICM' + b'\x02\x00\x10\x00garbage')
    result = run_deploy(model, one_image / 'a.png', tmp_path / 'gone.png', broken,
                        '--out-dir', tmp_path / 'out', '--no-progress')
    assert result.returncode == 0, result.stderr[-2000:]
    assert '2 file(s) could not be read' in result.stderr
    records = json.loads((tmp_path / 'out' / 'predictions.json').read_text())
    assert [r['file_name'] for r in records] == ['a.png']
    listed = dict(line.split('\t') for line in
                  (tmp_path / 'out' / 'unreadable.txt').read_text().splitlines())
    assert sorted(listed) == sorted(['broken.dcm', str(tmp_path / 'gone.png')])
    assert 'DICOM' in listed['broken.dcm']
    assert 'no such file' in listed[str(tmp_path / 'gone.png')]


def test_no_readable_image_is_one_error_line(exported, tmp_path):
    _, _, model = exported('main')
    (tmp_path / 'bad.png').write_bytes(b'not a png at all')
    result = run_deploy(model, tmp_path / 'bad.png', '--out-dir', tmp_path / 'out')
    assert_one_error_line(result, 'none of the 1 image file(s) could be read')


def _thresholds_file(path, classes, value=0.5, **changes):
    entries = {name: {'threshold': value} for name in classes}
    entries.update(changes)
    path.write_text(json.dumps({'format': 'tbmm-thresholds/1', 'classes': entries}))
    return path


CLASSES = ('Consolidation', 'Fibrosis', 'Effusion', 'Nodule', 'Mass', 'Emphysema',
           'Calcification', 'Atelectasis', 'Fracture')


@pytest.mark.parametrize('problem, fragment', [
    ('missing', "no threshold for class 'Fracture'"),
    ('outside', 'threshold must be a number in [0, 1], got 1.5'),
])
def test_a_bad_thresholds_file_is_one_error_line(problem, fragment, exported, one_image,
                                                 tmp_path):
    _, _, model = exported('main')
    path = tmp_path / 'thresholds.json'
    if problem == 'missing':
        _thresholds_file(path, CLASSES[:-1])
    else:
        _thresholds_file(path, CLASSES, Nodule={'threshold': 1.5})
    result = run_deploy(model, one_image, '--out-dir', tmp_path / 'out', '--thresholds', path)
    assert_one_error_line(result, str(path), fragment)


def test_thresholds_flag_boxes_in_the_runtime_and_in_tools_infer_alike(exported, phantom_images,
                                                                     tmp_path):
    config, checkpoint, model = exported('main')
    # Very different thresholds per class, so a single global one could not give the same flags.
    per_class = {name: [0.2, 0.9, 0.4, 1.0, 0.3, 0.6, 0.5, 0.25, 0.8][i]
                 for i, name in enumerate(CLASSES)}
    path = tmp_path / 'thresholds.json'
    path.write_text(json.dumps({'classes': per_class}))
    deployed = run_deploy(model, phantom_images, '--out-dir', tmp_path / 'onnx',
                          '--thresholds', path, '--no-progress')
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    inferred = run_tool('infer.py', config, checkpoint, phantom_images, '--out-dir',
                        tmp_path / 'torch', '--thresholds', path, '--no-progress')
    assert inferred.returncode == 0, inferred.stderr[-2000:]
    for run in ('onnx', 'torch'):
        records = json.loads((tmp_path / run / 'predictions.json').read_text())
        n_flagged, n_boxes = 0, 0
        for record in records:
            # Every box is kept; the flag follows each box's own class threshold.
            assert len(record['above_threshold']) == len(record['scores'])
            assert record['above_threshold'] == [s >= per_class[n] for n, s in
                                                 zip(record['syms'], record['scores'])]
            n_flagged += sum(record['above_threshold'])
            n_boxes += len(record['scores'])
        assert 0 < n_flagged < n_boxes  # boxes below their threshold are kept, unflagged
    images_with_finding = [line for line in deployed.stdout.splitlines() if 'image(s) predicted'
                           in line]
    assert 'above their class threshold' in images_with_finding[0]


def test_thresholds_stored_at_export_are_used_by_the_runtime(exported, one_image, tmp_path):
    from tbmm.apis.export import export_onnx
    config, checkpoint, _ = exported('main')
    path = _thresholds_file(tmp_path / 'thresholds.json', CLASSES, value=0.35)
    summary = export_onnx(str(config), str(checkpoint), str(tmp_path / 'model.onnx'),
                          thresholds=str(path), check=False)
    assert summary.metadata.thresholds['classes'] == {name: 0.35 for name in CLASSES}
    result = run_deploy(summary.path, one_image, '--out-dir', tmp_path / 'out', '--no-progress')
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'stored in the model' in result.stdout
    record = json.loads((tmp_path / 'out' / 'predictions.json').read_text())[0]
    assert record['above_threshold'] == [s >= 0.35 for s in record['scores']]
