"""Real chest radiographs through every reader and tool: five NIH ChestX-ray14 PNGs at their
original bytes (two RGBA, as the NIH released them) with their ChestX-Det boxes
(tests/fixtures/real, attribution in tests/fixtures/NOTICE.md).

Loading is checked against an independent decode (PIL), validation must find nothing, the 13-class
config's training pipeline must move the boxes where resizing and flipping by hand puts them, and
tools/infer.py must write one prediction and one overlay per image.
"""
import importlib.util
import json
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tbmm.apis.runner import load_config
from tbmm.classes import CHESTXDET13_CLASSES
from tbmm.datasets.image_io import inspect_image, read_xray, read_xray_info
from tbmm.datasets.transforms import LoadXRayImageFromFile
from tbmm.datasets.validation import validate_dataset
from tests.engine.tool_runs import tool_path
from tests.helpers import save_untrained_phantom_checkpoint

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / 'tests' / 'fixtures' / 'real'
ANN = REAL / 'chestxdet_real.json'
IMAGES = REAL / 'images'
RECORDS = json.loads(ANN.read_text(encoding='utf-8'))
NAMES = [r['file_name'] for r in RECORDS]
RGBA = ('00003400_003.png', '00002578_000.png')
CONFIG13 = REPO / 'configs' / 'tb_retinanet' / 'retinanet_r101_fpn_10e_chestxdet13.py'
PHANTOM = REPO / 'configs' / 'tb_retinanet' / 'phantom' / 'retinanet_r18_fpn_phantom.py'


def run_tool(name, argv):
    spec = importlib.util.spec_from_file_location(f'tool_{name}', REPO / tool_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from tbmm.utils import run_cli
    return run_cli(module.main, argv)


def independent_gray(path):
    """The stored gray values, decoded by PIL (not OpenCV, which the loader uses). The NIH RGBA
    files are gray stored as RGBA: equal colour channels, opaque."""
    with Image.open(path) as image:
        mode = image.mode
        pixels = np.asarray(image)
    if mode == 'RGBA':
        assert np.array_equal(pixels[..., 0], pixels[..., 1])
        assert np.array_equal(pixels[..., 0], pixels[..., 2])
        assert (pixels[..., 3] == 255).all()
        return mode, pixels[..., 0]
    assert mode == 'L'
    return mode, pixels


# --- the fixture itself ---------------------------------------------------------------------------


def test_fixture_holds_original_nih_bytes_and_the_promised_mix():
    assert sorted(p.name for p in IMAGES.iterdir()) == sorted(NAMES)
    assert sum(p.stat().st_size for p in IMAGES.iterdir()) < 4_000_000
    modes = {}
    for name in NAMES:
        with Image.open(IMAGES / name) as image:
            modes[name] = image.mode
            assert image.size == (1024, 1024)
    assert {n for n, m in modes.items() if m == 'RGBA'} == set(RGBA)
    assert any(not r['boxes'] for r in RECORDS)  # a negative
    assert any(len(set(r['syms'])) >= 3 for r in RECORDS)  # several classes on one image
    assert all(set(r['syms']) <= set(CHESTXDET13_CLASSES) for r in RECORDS)


# --- load -----------------------------------------------------------------------------------------


@pytest.mark.parametrize('name', NAMES)
def test_loader_gives_the_stored_gray_values_in_three_equal_channels(name):
    path = IMAGES / name
    mode, gray = independent_gray(path)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).ndim == (3 if mode == 'RGBA' else 2)
    results = LoadXRayImageFromFile()({'img_path': str(path)})
    img = results['img']
    # What the 3-channel backbones get: uint8, the gray value in every channel, alpha gone.
    assert img.dtype == np.uint8 and img.shape == (1024, 1024, 3)
    for channel in range(3):
        assert np.array_equal(img[..., channel], gray)
    assert results['img_shape'] == results['ori_shape'] == (1024, 1024)
    # The 1-channel decode of the fast configs gives the same values.
    one = LoadXRayImageFromFile(channels=1)({'img_path': str(path)})['img']
    assert one.shape == (1024, 1024) and np.array_equal(one, gray)
    # The bytes path (remote storage backends) agrees with the local read.
    fetched = LoadXRayImageFromFile(backend_args=dict(backend='local'))({'img_path': str(path)})
    assert np.array_equal(fetched['img'], img)


def test_header_facts_without_decoding():
    for name in NAMES:
        info = read_xray_info(IMAGES / name)
        assert (info.width, info.height, info.format, info.bit_depth) == (1024, 1024, 'PNG', 8)
        check = inspect_image(IMAGES / name)
        if name in RGBA:
            assert check.kind == 'PNG 8-bit RGBA' and 'alpha dropped' in check.conversion
        else:
            assert check.kind == 'PNG 8-bit gray' and check.conversion is None
    # Real radiographs are not flat: the 8-bit values are kept as stored, not stretched.
    gray = read_xray(IMAGES / RGBA[0], channels=1)
    assert gray.max() < 255 and np.array_equal(gray, independent_gray(IMAGES / RGBA[0])[1])


# --- validate -------------------------------------------------------------------------------------


def test_validation_finds_no_problem_on_real_files():
    report = validate_dataset(ANN, IMAGES, classes=CHESTXDET13_CLASSES, expect_size=1024,
                              decode=True)
    assert report.ok and report.problems == [], report.format()
    assert report.records == len(RECORDS) and report.images_found == len(RECORDS)
    assert report.negatives == 1 and not report.unlisted_images
    assert dict(report.image_kinds) == {'PNG 8-bit gray': 3, 'PNG 8-bit RGBA': 2}
    assert report.image_sizes == {(1024, 1024): 5}
    assert sum(report.boxes_per_class.values()) == sum(len(r['boxes']) for r in RECORDS)


def test_validate_data_cli_ok_with_13_classes_and_names_the_preset_without(capsys):
    assert run_tool('validate_data', [str(ANN), str(IMAGES), '--classes', 'chestxdet13',
                                      '--expect-size', '1024', '--decode']) == 0
    out = capsys.readouterr().out
    assert 'OK: no problems found.' in out
    assert 'PNG 8-bit RGBA: 2 (converted to gray, alpha dropped)' in out
    # The default 9-class list stops at Pneumothorax & co. and says which preset covers them.
    assert run_tool('validate_data', [str(ANN), str(IMAGES)]) == 1
    assert '--classes chestxdet13 covers them all' in capsys.readouterr().out


# --- augment: the 13-class config's training pipeline ---------------------------------------------


def real_config(*extra):
    """The 13-class main config, its train data set pointed at the fixture, plus overrides."""
    options = {'train_dataloader.dataset.data_root': str(REAL) + '/',
               'train_dataloader.dataset.ann_file': ANN.name,
               'train_dataloader.dataset.data_prefix.img': 'images/'}
    cfg = load_config(CONFIG13, options)
    pipeline = cfg.train_dataloader.dataset.pipeline
    index = {t['type']: i for i, t in enumerate(pipeline)}
    for key, value in extra:
        transform, field = key.split('.')
        pipeline[index[transform]][field] = value
    return cfg


def expected_boxes(record, scale, flip):
    """The record's boxes resized from 1024 to ``scale`` px and maybe flipped, by hand."""
    factor = scale / 1024
    boxes = np.array(record['boxes'], np.float64).reshape(-1, 4) * factor
    if flip:
        boxes = np.stack([scale - boxes[:, 2], boxes[:, 1], scale - boxes[:, 0], boxes[:, 3]], 1)
    return boxes


@pytest.mark.parametrize('scale, flip', [(1024, True), (600, True), (600, False)])
def test_train_pipeline_moves_boxes_as_computed_by_hand(scale, flip):
    from tbmm.analysis.browse import build_split_dataset

    cfg = real_config(('Resize.scale', (scale, scale)), ('RandomFlip.prob', float(flip)))
    dataset = build_split_dataset(cfg, 'train')
    assert dataset.metainfo['classes'] == CHESTXDET13_CLASSES
    assert len(dataset) == len(RECORDS) and dataset.load_report['clipped_boxes'] == 0
    for index, record in enumerate(RECORDS):
        packed = dataset[index]
        sample = packed['data_samples']
        assert sample.metainfo['img_id'] == record['file_name']
        assert tuple(packed['inputs'].shape) == (3, scale, scale)
        assert sample.metainfo['flip'] is flip
        assert np.allclose(sample.metainfo['scale_factor'], (scale / 1024, scale / 1024))
        boxes = sample.gt_instances.bboxes
        boxes = getattr(boxes, 'tensor', boxes).numpy()
        assert np.allclose(boxes, expected_boxes(record, scale, flip), atol=1e-3)
        labels = [CHESTXDET13_CLASSES[k] for k in sample.gt_instances.labels.tolist()]
        assert labels == record['syms']  # order and twins kept: one box with three classes stays
        # The pixels: the stored gray values, bilinearly resized (and mirrored), in 3 channels.
        gray = independent_gray(IMAGES / record['file_name'])[1]
        if scale != 1024:
            gray = cv2.resize(gray, (scale, scale), interpolation=cv2.INTER_LINEAR)
        if flip:
            gray = gray[:, ::-1]
        image = packed['inputs'].numpy()
        assert image.dtype == np.uint8
        for channel in range(3):
            assert np.array_equal(image[channel], gray)


def test_the_box_with_three_classes_survives_the_pipeline():
    from tbmm.analysis.browse import build_split_dataset

    dataset = build_split_dataset(real_config(('RandomFlip.prob', 1.0)), 'train')
    index = NAMES.index('00021489_013.png')
    sample = dataset[index]['data_samples']
    boxes = sample.gt_instances.bboxes
    boxes = getattr(boxes, 'tensor', boxes).numpy()
    twin = np.array([1024 - 865, 239, 1024 - 526, 703], np.float64)
    labels = {CHESTXDET13_CLASSES[k] for k, box in zip(sample.gt_instances.labels.tolist(), boxes)
              if np.allclose(box, twin)}
    assert labels == {'Consolidation', 'Diffuse Nodule', 'Effusion'}


# --- the data tools -------------------------------------------------------------------------------


def test_dataset_stats_with_the_13_class_presets_and_config(tmp_path, capsys):
    out = tmp_path / 'stats'
    assert run_tool('dataset_stats', [str(ANN), '--classes', 'chestxdet13', '--config',
                                      str(CONFIG13), '--out', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'note:' not in text  # the 13-class config trains every class of the file
    stats = json.loads((out / 'stats.json').read_text())
    assert stats['classes'] == list(CHESTXDET13_CLASSES)
    assert (out / 'cooccurrence.png').is_file()


def test_browse_dataset_draws_the_real_images_with_their_boxes(tmp_path):
    out = tmp_path / 'browse'
    cfg = real_config()
    flip = next(i for i, t in enumerate(cfg.train_dataloader.dataset.pipeline)
                if t['type'] == 'RandomFlip')
    argv = [str(CONFIG13), '--out-dir', str(out), '--num', '2', '--cfg-options',
            f'train_dataloader.dataset.data_root={REAL}/',
            f'train_dataloader.dataset.ann_file={ANN.name}',
            'train_dataloader.dataset.data_prefix.img=images/',
            f'train_dataloader.dataset.pipeline.{flip}.prob=0.0']
    assert run_tool('browse_dataset', argv) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [f'{i:05d}_{osp.splitext(n)[0]}.png' for i, n in enumerate(NAMES[:2])]
    overlay = cv2.imread(str(out / written[0]))  # the RGBA file: an opaque colour overlay
    # The image keeps its pixel grid; the legend sits in a panel to its right.
    assert overlay.shape[0] == 1024 and overlay.shape[1] > 1024 and overlay.shape[2] == 3
    gray = independent_gray(IMAGES / NAMES[0])[1]
    # The radiograph is still there outside the boxes and labels (a small share) ...
    assert np.mean(overlay[:, :1024, 1] == gray) > 0.8
    # ... and the Pneumothorax box's left edge [608, 64, 844, 280] is drawn in its class colour.
    from tbmm.visualization import class_color
    edge = overlay[100:270, 609, ::-1]  # RGB
    colour = np.array(class_color('Pneumothorax', CHESTXDET13_CLASSES))
    assert np.mean(np.all(edge == colour, axis=1)) > 0.9


# --- infer ----------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def phantom_checkpoint(tmp_path_factory):
    """An untrained phantom-config detector (256 px, ResNet-18) with classifier bias 0, so that it
    returns boxes scoring about 0.5: what matters here is that real files go through, not
    accuracy."""
    return save_untrained_phantom_checkpoint(
        PHANTOM, tmp_path_factory.mktemp('real_ckpt') / 'phantom_untrained.pth')


def test_infer_writes_one_prediction_and_one_overlay_per_real_image(phantom_checkpoint, tmp_path,
                                                                    capsys):
    out = tmp_path / 'preds'
    argv = [str(PHANTOM), phantom_checkpoint, str(IMAGES), '--out-dir', str(out), '--no-progress',
            '--cfg-options', 'model.test_cfg.max_per_img=5']
    assert run_tool('infer', argv) == 0
    assert f'{len(NAMES)} of {len(NAMES)} image(s) predicted' in capsys.readouterr().out
    predictions = json.loads((out / 'predictions.json').read_text())
    assert sorted(p['file_name'] for p in predictions) == sorted(NAMES)
    for prediction in predictions:
        assert len(prediction['boxes']) == len(prediction['syms']) == len(prediction['scores'])
        assert 0 < len(prediction['boxes']) <= 5
        boxes = np.array(prediction['boxes'])
        # Boxes come back in the file's 1024-px frame, not the network's 256 px.
        assert boxes.min() >= 0 and boxes.max() <= 1024 and boxes.max() > 256
    assert not (out / 'unreadable.txt').exists()
    overlays = sorted(p.name for p in (out / 'overlays').iterdir())
    assert overlays == sorted(NAMES)
    overlay = cv2.imread(str(out / 'overlays' / RGBA[0]))
    assert overlay is not None and overlay.ndim == 3
