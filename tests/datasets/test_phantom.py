"""The synthetic phantom data set: layout, determinism, class mix, box sizes and drawn lesions."""
import json
import runpy
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.phantom import (
    MULTILABEL_PAIR,
    REAL_BOX_STATS,
    REFERENCE_IMAGE_SIZE,
    class_probabilities,
    make_phantom_dataset,
    render_phantom_image,
    sample_lesions,
    sample_phantom_image,
    sample_thorax,
)

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'misc' / 'make_phantom.py'
SIZE = 128
NUM_TRAIN, NUM_TEST = 60, 15


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('phantom')
    result = make_phantom_dataset(root, num_train=NUM_TRAIN, num_test=NUM_TEST, image_size=SIZE,
                                  seed=0)
    return result, read_annotations(result.train_ann_file), read_annotations(result.test_ann_file)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob('*'))
            if p.is_file()}


def test_layout_matches_the_real_data_set(dataset):
    result, train, test = dataset
    root = Path(result.root)
    assert Path(result.train_ann_file) == root / 'annotation' / 'train.json'
    assert Path(result.test_ann_file) == root / 'annotation' / 'test.json'
    assert (result.num_train, result.num_test) == (len(train), len(test)) == (NUM_TRAIN, NUM_TEST)
    for records, img_dir in ((train, root / 'train_data'), (test, root / 'test_data')):
        assert (sorted(p.name for p in img_dir.glob('*.png'))
                == sorted(r['file_name'] for r in records))
        image = cv2.imread(str(img_dir / records[0]['file_name']), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE)
    names = [r['file_name'] for r in train + test]
    assert len(set(names)) == len(names)
    assert names[0] == '00000.png' and test[0]['file_name'] == f'{NUM_TRAIN:05d}.png'


def test_boxes_are_integer_and_inside_the_image(dataset):
    result, train, test = dataset
    # read_annotations turns coordinates into floats, so check the raw JSON for ints.
    raw = json.loads(Path(result.train_ann_file).read_text())
    assert all(isinstance(v, int) for r in raw for box in r['boxes'] for v in box)
    for record in train + test:
        assert len(record['syms']) == len(record['boxes'])
        for x1, y1, x2, y2 in record['boxes']:
            assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE


def test_every_class_negatives_and_identical_multilabel_boxes(dataset):
    result, train, _ = dataset
    present = {s for r in train for s in r['syms']}
    assert present == set(DEFAULT_CLASSES)
    assert all(result.box_counts['train'][c] > 0 for c in DEFAULT_CLASSES)
    assert sum(not r['syms'] for r in train) == round(0.2 * NUM_TRAIN)
    pairs = 0
    for r in train:
        by_box = defaultdict(list)
        for sym, box in zip(r['syms'], r['boxes']):
            by_box[tuple(box)].append(sym)
        pairs += sum(sorted(syms) == sorted(MULTILABEL_PAIR) for syms in by_box.values())
    assert pairs == round(0.1 * (NUM_TRAIN - round(0.2 * NUM_TRAIN)))


def test_rare_classes_get_a_floor():
    probs = class_probabilities(DEFAULT_CLASSES, min_fraction=0.08)
    assert probs.sum() == pytest.approx(1.0)
    assert probs.min() >= 0.08 - 1e-9
    by_name = dict(zip(DEFAULT_CLASSES, probs))
    assert by_name['Consolidation'] > by_name['Nodule'] > by_name['Mass']


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    kwargs = dict(num_train=4, num_test=2, image_size=96)
    make_phantom_dataset(tmp_path / 'a', seed=3, **kwargs)
    make_phantom_dataset(tmp_path / 'b', seed=3, **kwargs)
    make_phantom_dataset(tmp_path / 'c', seed=4, **kwargs)
    a, b, c = _files(tmp_path / 'a'), _files(tmp_path / 'b'), _files(tmp_path / 'c')
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a if name.endswith('.png'))


def test_train_and_test_use_different_random_streams(dataset):
    result, train, test = dataset
    first_train = cv2.imread(str(Path(result.train_img_dir) / train[0]['file_name']), 0)
    first_test = cv2.imread(str(Path(result.test_img_dir) / test[0]['file_name']), 0)
    assert not np.array_equal(first_train, first_test)


def test_single_image_api_is_deterministic():
    a = sample_phantom_image(np.random.default_rng(7), 64, ['Nodule', MULTILABEL_PAIR])
    b = sample_phantom_image(np.random.default_rng(7), 64, ['Nodule', MULTILABEL_PAIR])
    assert a.image.dtype == np.uint8 and a.image.shape == (64, 64)
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes
    assert a.syms == ['Nodule', *MULTILABEL_PAIR]
    assert a.boxes[1] == a.boxes[2]
    negative = sample_phantom_image(np.random.default_rng(7), 64, [])
    assert negative.syms == [] and negative.boxes == []


def test_box_sizes_follow_the_real_medians_scaled_to_the_image():
    size, per_class = 256, 15
    scale = size / REFERENCE_IMAGE_SIZE
    sqrt_area, aspect = {}, {}
    for k, name in enumerate(DEFAULT_CLASSES):
        boxes = [sample_phantom_image(np.random.default_rng([k, i]), size, [name]).boxes[0]
                 for i in range(per_class)]
        wh = np.array([(x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes], float)
        sqrt_area[name] = np.median(np.sqrt(wh[:, 0] * wh[:, 1]))
        aspect[name] = np.median(wh[:, 1] / wh[:, 0])
        real = REAL_BOX_STATS[name].sqrt_area_quantiles[3] * scale
        assert real / 1.6 < sqrt_area[name] < real * 1.6, (name, sqrt_area[name], real)
    assert (sqrt_area['Calcification'] < sqrt_area['Nodule'] < sqrt_area['Fracture'] <
            sqrt_area['Mass'] < sqrt_area['Consolidation'] < sqrt_area['Emphysema'])
    assert aspect['Emphysema'] > 1.5 and aspect['Atelectasis'] < 1.0


@pytest.mark.parametrize('name', DEFAULT_CLASSES)
def test_lesion_is_drawn_inside_its_box(name):
    size = 256
    thorax = sample_thorax(np.random.default_rng(0), size)
    lesions = sample_lesions(np.random.default_rng(1), thorax, [name])
    with_lesion = render_phantom_image(np.random.default_rng(2), size, lesions, thorax)
    without = render_phantom_image(np.random.default_rng(2), size, [], thorax)
    (x1, y1, x2, y2), = with_lesion.boxes
    diff = np.abs(with_lesion.image.astype(int) - without.image.astype(int))
    assert diff[y1:y2, x1:x2].mean() > 4, 'lesion barely visible in its box'
    # Nothing is drawn away from the lesion: the background is the same image.
    margin = max(x2 - x1, y2 - y1) // 2 + 4
    outside = np.ones_like(diff, bool)
    outside[max(0, y1 - margin):y2 + margin, max(0, x1 - margin):x2 + margin] = False
    assert diff[outside].max() == 0


def test_unknown_class_is_rejected(tmp_path):
    with pytest.raises(ValueError, match='Pneumothorax'):
        make_phantom_dataset(tmp_path, num_train=1, num_test=1, image_size=64,
                             classes=DEFAULT_CLASSES + ('Pneumothorax', ))


def test_command_line_tool(tmp_path, capsys):
    main = runpy.run_path(str(TOOL))['main']
    assert main([str(tmp_path), '--num-train', '3', '--num-test', '2', '--image-size', '64',
                 '--seed', '1']) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and 'Consolidation' in out
    assert len(read_annotations(tmp_path / 'annotation' / 'train.json')) == 3
    assert len(list((tmp_path / 'test_data').glob('*.png'))) == 2


def test_a_smaller_set_replaces_an_earlier_one_without_leftovers(tmp_path):
    make_phantom_dataset(tmp_path, num_train=4, num_test=2, image_size=64, seed=1)
    make_phantom_dataset(tmp_path, num_train=2, num_test=1, image_size=64, seed=1)
    train = read_annotations(tmp_path / 'annotation' / 'train.json')
    assert sorted(p.name for p in (tmp_path / 'train_data').glob('*.png')) == sorted(
        r['file_name'] for r in train)
    assert len(list((tmp_path / 'test_data').glob('*.png'))) == 1


def test_a_folder_of_other_images_is_refused_and_left_alone(tmp_path, capsys):
    from tbmm.datasets.phantom import PhantomFolderError
    from tbmm.utils import run_cli

    (tmp_path / 'train_data').mkdir()
    real = tmp_path / 'train_data' / '00000.png'
    real.write_bytes(b'a real radiograph')
    with pytest.raises(PhantomFolderError, match='not a phantom set and may be real data'):
        make_phantom_dataset(tmp_path, num_train=2, num_test=1, image_size=64)
    assert real.read_bytes() == b'a real radiograph'
    main = runpy.run_path(str(TOOL))['main']
    assert run_cli(main, [str(tmp_path), '--num-train', '1', '--image-size', '64']) == 2
    assert 'may be real data' in capsys.readouterr().err
