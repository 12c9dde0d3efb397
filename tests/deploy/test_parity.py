"""The torch-free runtime gives tools/infer.py's detections (mmdet's head and NMS are the
reference), for the main model family and a fast config (folded BN, channels-last, 1-channel
loading), on 8/16-bit PNG, JPEG, a non-square image and a MONOCHROME1 DICOM."""
import json

import pytest

from tests.deploy.conftest import run_deploy, run_tool

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

SCORE_THR = 0.3
MIN_IOU = 0.99
MAX_SCORE_DIFF = 1e-3


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def unmatched(reference, candidate):
    """Boxes of ``reference`` (scoring >= SCORE_THR) with no box of the same class in
    ``candidate`` at IoU >= MIN_IOU and a score within MAX_SCORE_DIFF (one-to-one, greedy)."""
    used, missing = set(), []
    for name, box, score in zip(reference['syms'], reference['boxes'], reference['scores']):
        if score < SCORE_THR:
            continue
        match = next((j for j, (n, b, s) in enumerate(zip(candidate['syms'], candidate['boxes'],
                                                          candidate['scores']))
                      if j not in used and n == name and abs(s - score) <= MAX_SCORE_DIFF
                      and iou(box, b) >= MIN_IOU), None)
        if match is None:
            missing.append((name, box, score))
        else:
            used.add(match)
    return missing


def by_name(path):
    return {r['file_name']: r for r in json.loads(path.read_text())}


@pytest.mark.parametrize('family', ['main', 'fast'])
def test_runtime_gives_the_detections_of_tools_infer(family, exported, phantom_images, tmp_path):
    config, checkpoint, model = exported(family)
    torch_run = run_tool('infer.py', config, checkpoint, phantom_images, '--out-dir',
                         tmp_path / 'torch', '--no-progress')
    assert torch_run.returncode == 0, torch_run.stderr[-3000:]
    onnx_run = run_deploy(model, phantom_images, '--out-dir', tmp_path / 'onnx', '--no-progress')
    assert onnx_run.returncode == 0, onnx_run.stderr[-3000:]

    reference = by_name(tmp_path / 'torch' / 'predictions.json')
    ours = by_name(tmp_path / 'onnx' / 'predictions.json')
    assert sorted(ours) == sorted(reference)
    assert {'wide16.png', 'photo.jpg', 'inverted.dcm'} <= set(reference)
    n_compared = 0
    for name, expected in reference.items():
        got = ours[name]
        above = sum(s >= SCORE_THR for s in expected['scores'])
        assert sum(s >= SCORE_THR for s in got['scores']) == above, name
        assert unmatched(expected, got) == [], name
        assert abs(got['abnormal_score'] - expected['abnormal_score']) <= MAX_SCORE_DIFF
        n_compared += above
    # The random head is tuned to give findings; a comparison of empty lists would prove nothing.
    assert n_compared >= 5 * len(reference)
    assert (tmp_path / 'onnx' / 'overlays' / 'wide16.png').is_file()
    assert (tmp_path / 'onnx' / 'overlays' / 'inverted.png').is_file()


def test_batches_of_different_sizes_give_the_same_detections_as_single_images(
        exported, phantom_images, tmp_path):
    # Batched, the non-square image is padded to the batch's largest size (as mmdet pads);
    # its detections must not depend on that, beyond float noise at the padded border.
    _, _, model = exported('main')
    single = run_deploy(model, phantom_images, '--out-dir', tmp_path / 'b1', '--no-progress')
    batched = run_deploy(model, phantom_images, '--out-dir', tmp_path / 'b3', '--batch-size', 3,
                         '--no-progress')
    assert single.returncode == 0 and batched.returncode == 0, batched.stderr[-2000:]
    one, three = by_name(tmp_path / 'b1' / 'predictions.json'), by_name(
        tmp_path / 'b3' / 'predictions.json')
    for name in one:
        if name == 'wide16.png':
            continue  # padded to 128x128 in a batch, 128x96 alone: another input, not a bug
        assert unmatched(one[name], three[name]) == [], name


def test_export_records_what_the_runtime_needs(exported):
    import onnx

    config, checkpoint, model = exported('fast')
    props = {p.key: json.loads(p.value) for p in onnx.load(str(model)).metadata_props}
    from tbmm.utils import file_sha256
    assert props['tbmm.format'] == 'tbmm-onnx/1'
    assert props['tbmm.checkpoint_sha256'] == file_sha256(checkpoint)
    assert props['tbmm.classes'][0] == 'Consolidation' and len(props['tbmm.classes']) == 9
    assert props['tbmm.preprocess']['resize'] == dict(scale=[128, 128], keep_ratio=True,
                                                      interpolation='bilinear')
    assert props['tbmm.preprocess']['load_channels'] == 1
    assert props['tbmm.preprocess']['mean'] == pytest.approx([123.675, 116.28, 103.53])
    assert props['tbmm.anchor_generator']['strides'] == [[8, 8], [16, 16], [32, 32], [64, 64],
                                                         [128, 128]]
    assert props['tbmm.anchor_generator']['octave_base_scale'] == 2  # the phantom's anchors
    assert props['tbmm.postprocess'] == dict(score_thr=0.05, nms_pre=1000, min_bbox_size=0,
                                             iou_threshold=0.5, max_per_img=100)
    assert props['tbmm.thresholds'] is None
    graph = onnx.load(str(model)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'
    assert min(o.version for o in onnx.load(str(model)).opset_import if o.domain == '') >= 17
