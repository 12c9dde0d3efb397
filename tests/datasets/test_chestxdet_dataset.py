"""ChestXDetDataset on real ChestX-Det annotation records (tests/fixtures, Apache-2.0)."""
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from tbmm.classes import CHESTXDET13_CLASSES, DEFAULT_CLASSES
from tbmm.datasets import ChestXDetDataset, DatasetBuildError

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'chestxdet_sample.json'


@pytest.fixture
def records():
    return json.loads(FIXTURE.read_text())


def write_images(img_dir, names, size=32):
    img_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(img_dir / name), np.zeros((size, size), np.uint8))


def build(tmp_path, records, classes=DEFAULT_CLASSES, **kwargs):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(records))
    return ChestXDetDataset(
        ann_file=str(ann), data_prefix=dict(img=str(tmp_path / 'img')),
        metainfo=dict(classes=classes), pipeline=[], **kwargs)


def test_all_13_classes_parse_with_negatives_and_identical_boxes(tmp_path, records):
    write_images(tmp_path / 'img', [r['file_name'] for r in records])
    ds = build(tmp_path, records, classes=CHESTXDET13_CLASSES)
    assert len(ds) == len(records)
    expected = Counter(s for r in records for s in r['syms'])
    got = Counter(CHESTXDET13_CLASSES[i['bbox_label']]
                  for k in range(len(ds)) for i in ds.get_data_info(k)['instances'])
    assert got == expected
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    negatives = [i for i in infos if not i['instances']]
    assert len(negatives) == sum(1 for r in records if not r['boxes']) > 0
    # Identical boxes with different classes stay two instances.
    has_twin = False
    for info in infos:
        boxes = Counter(tuple(i['bbox']) for i in info['instances'])
        for box, n in boxes.items():
            if n > 1:
                labels = {i['bbox_label'] for i in info['instances'] if tuple(i['bbox']) == box}
                has_twin |= len(labels) > 1
    assert has_twin
    first = next(r for r in records if r['boxes'])
    info = next(i for i in infos if i['img_id'] == first['file_name'])
    assert info['instances'][0]['bbox'] == [float(v) for v in first['boxes'][0]]
    assert info['img_path'].endswith(first['file_name'])


def test_unknown_classes_are_an_error_by_default(tmp_path, records):
    write_images(tmp_path / 'img', [r['file_name'] for r in records])
    with pytest.raises(DatasetBuildError, match='outside the 9-class list') as e:
        build(tmp_path, records)
    assert 'Pneumothorax' in str(e.value) and 'ann.json' in str(e.value)
    assert '\n' not in str(e.value)


def test_unknown_classes_can_be_dropped_and_counted(tmp_path, records):
    write_images(tmp_path / 'img', [r['file_name'] for r in records])
    ds = build(tmp_path, records, unknown_class_policy='drop')
    outside = Counter(s for r in records for s in r['syms'] if s not in DEFAULT_CLASSES)
    assert ds.load_report['dropped_boxes_by_class'] == dict(outside)
    kept = sum(len(ds.get_data_info(k)['instances']) for k in range(len(ds)))
    assert kept == sum(1 for r in records for s in r['syms'] if s in DEFAULT_CLASSES)
    assert len(ds) == len(records)  # images whose boxes were all dropped stay, as negatives


def test_missing_images_are_reported_with_count_and_names(tmp_path, records):
    names = [r['file_name'] for r in records]
    write_images(tmp_path / 'img', names[3:])
    with pytest.raises(DatasetBuildError) as e:
        build(tmp_path, records, classes=CHESTXDET13_CLASSES)
    msg = str(e.value)
    assert f'3 of {len(records)} listed images are missing' in msg
    assert all(n in msg for n in names[:3])


def test_one_error_names_every_problem_and_the_preset_that_fits(tmp_path, records):
    # No images at all and 13-class data under the 9-class list: both in one message.
    with pytest.raises(DatasetBuildError) as e:
        build(tmp_path, records)
    msg = str(e.value)
    assert '\n' not in msg
    outside = sum(1 for r in records for s in r['syms'] if s not in DEFAULT_CLASSES)
    assert f'{outside} boxes have classes outside the 9-class list' in msg
    assert 'the chestxdet13 classes cover them all' in msg
    assert f'; also {len(records)} of {len(records)} listed images are missing' in msg
    # Skipping every image would leave nothing: only the paths are the remedy.
    assert msg.endswith('fix data_root/data_prefix')


def test_missing_images_can_be_skipped(tmp_path, records):
    names = [r['file_name'] for r in records]
    write_images(tmp_path / 'img', names[3:])
    ds = build(tmp_path, records, classes=CHESTXDET13_CLASSES, missing_image_policy='skip')
    assert len(ds) == len(records) - 3
    assert ds.load_report['missing_images'] == names[:3]


def test_bad_policy_names_are_rejected(tmp_path, records):
    with pytest.raises(DatasetBuildError, match='unknown_class_policy'):
        build(tmp_path, records, unknown_class_policy='ignore')


def test_palette_is_the_overlay_colour_of_each_class(tmp_path, records):
    from tbmm.visualization.overlay import class_color
    write_images(tmp_path / 'img', [r['file_name'] for r in records])
    ds = build(tmp_path, records, classes=CHESTXDET13_CLASSES)
    assert ds.metainfo['palette'] == [class_color(c, CHESTXDET13_CLASSES)
                                      for c in CHESTXDET13_CLASSES]
    assert len(set(ds.metainfo['palette'])) == len(CHESTXDET13_CLASSES)


@pytest.mark.parametrize('option', ['unknown_class_policy', 'missing_image_policy'])
def test_the_data_set_and_validate_data_refuse_a_misspelt_policy_alike(tmp_path, option):
    from tbmm.datasets.validation import validate_dataset

    ann = tmp_path / 'ann.json'
    ann.write_text('[]')
    with pytest.raises(DatasetBuildError) as built:
        ChestXDetDataset(ann_file=str(ann), data_root='', data_prefix=dict(img=str(tmp_path)),
                         pipeline=[], **{option: 'skipp'})
    with pytest.raises(DatasetBuildError) as validated:
        validate_dataset(ann, tmp_path, **{option: 'skipp'})
    assert str(built.value) == str(validated.value)
    assert option in str(built.value) and "'skipp'" in str(built.value)
