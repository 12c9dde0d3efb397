"""The corpus of bad and unusual inputs (tests/fixtures/bad_inputs): each one ends in a clear
one-line error naming the file and the record, or in a documented, counted fix or skip.

Every case goes through the data checker (validate_dataset), the annotation reader, the data set
as training builds it (through MMDetection's registry, check_images=True) and, for image cases,
the image reader. A data set that builds must be safe to train on: every image decodes and every
box has area inside its image; the one documented exception (corrupt pixel data in a complete
file, found only by ``--decode``) is asserted as such.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from tbmm.classes import parse_class_list
from tbmm.datasets.annotations import AnnotationError, read_annotations
from tbmm.datasets.image_io import ImageReadError, read_xray
from tbmm.datasets.validation import ERROR, validate_dataset

CORPUS = Path(__file__).resolve().parents[1] / 'fixtures' / 'bad_inputs'
CASES = json.loads((CORPUS / 'cases.json').read_text(encoding='utf-8'))
DATASET_OPTIONS = ('unknown_class_policy', 'missing_image_policy')


def by_name(name):
    return next(c for c in CASES if c['name'] == name)


def paths(case):
    return str(CORPUS / case['ann']), str(CORPUS / case['img_dir'])


def validate(case):
    options = dict(case['options'])
    options['classes'] = parse_class_list(options.get('classes', 'chestxdet9'))
    return validate_dataset(*paths(case), **options)


def assert_one_line_naming(message, *names):
    assert '\n' not in message and '\r' not in message, message
    for name in names:
        assert name in message, f'{name!r} not in {message!r}'


def test_the_corpus_covers_the_issue():
    assert len(CASES) >= 30
    assert {'invalid_json', 'top_level_object', 'missing_key', 'syms_boxes_length_mismatch',
            'coordinate_string', 'coordinate_nan', 'negative_coordinates', 'inverted_x',
            'inverted_y', 'box_partly_outside', 'box_wholly_outside', 'unknown_class',
            'duplicate_file_name', 'absolute_path', 'dotdot_path', 'missing_image', 'zero_byte_png',
            'truncated_png', 'rgba_png', 'palette_png', 'gray16_png', 'gray8_png', 'non_1024_size',
            'dicom_monochrome1', 'empty_list'} <= {c['name'] for c in CASES}


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_validate_dataset_reports_exactly_the_expected_problems(case):
    report = validate(case)
    expected = case['problems']
    assert [(p.severity, p.code, p.index) for p in report.problems] == [
        tuple(e[:3]) for e in expected], [str(p) for p in report.problems]
    ann_file, img_dir = paths(case)
    for problem, (_, code, index, text) in zip(report.problems, expected):
        where = [img_dir] if code == 'image-folder' else [ann_file]
        if index is not None:
            where.append(f'record {index}')
        assert_one_line_naming(problem.message, text, *where)
    assert report.ok == all(e[0] != ERROR for e in expected)


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_read_annotations_accepts_or_names_file_and_record(case):
    ann_file, _ = paths(case)
    if case['read_annotations'] == 'ok':
        assert isinstance(read_annotations(ann_file), list)
        return
    with pytest.raises(AnnotationError) as e:
        read_annotations(ann_file)
    assert_one_line_naming(str(e.value), case['read_annotations'], ann_file)


@pytest.fixture(scope='module')
def build_dataset():
    from mmdet.registry import DATASETS

    import tbmm.plugin  # noqa: F401  (registers the data set, as the configs' custom_imports do)

    def build(case):
        ann_file, img_dir = paths(case)
        options = case['options']
        return DATASETS.build(dict(
            type='ChestXDetDataset', ann_file=ann_file, data_prefix=dict(img=img_dir + '/'),
            metainfo=dict(classes=parse_class_list(options.get('classes', 'chestxdet9'))),
            pipeline=[], check_images=True,
            **{k: v for k, v in options.items() if k in DATASET_OPTIONS}))

    return build


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_dataset_build_fails_in_one_line_or_gives_data_safe_to_train_on(case, build_dataset):
    from tbmm.datasets.chestxdet import DatasetBuildError
    expected = case['dataset']
    ann_file, _ = paths(case)
    if isinstance(expected, dict) and 'error' in expected:
        with pytest.raises((AnnotationError, DatasetBuildError)) as e:
            build_dataset(case)
        assert_one_line_naming(str(e.value), expected['error'], ann_file)
        return
    dataset = build_dataset(case)
    expected = expected if isinstance(expected, dict) else {}
    for key, value in expected.get('load_report', {}).items():
        assert dataset.load_report[key] == value, key
    for k in range(len(dataset)):
        info = dataset.get_data_info(k)
        width, height = info['width'], info['height']
        for instance in info['instances']:
            x1, y1, x2, y2 = instance['bbox']
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, instance['bbox']
        if expected.get('decodes', True):
            assert read_xray(info['img_path']).shape == (height, width, 3)
        else:  # documented: only tools/misc/validate_data.py --decode finds it before training
            with pytest.raises(ImageReadError):
                read_xray(info['img_path'])


IMAGE_CASES = [c for c in CASES if c['read_xray']]


@pytest.mark.parametrize('case', IMAGE_CASES, ids=[c['name'] for c in IMAGE_CASES])
def test_read_xray_gives_gray_pixels_or_a_one_line_error(case):
    path = str(CORPUS / case['img_dir'] / case['read_xray']['file'])
    expected = case['read_xray']['expect']
    if expected == 'ok':
        img = read_xray(path)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all()
        return
    with pytest.raises(ImageReadError) as e:
        read_xray(path)
    assert_one_line_naming(str(e.value), expected, path)


def test_monochrome1_dicom_is_inverted_so_low_stored_values_are_bright():
    img = read_xray(CORPUS / 'images' / 'monochrome1.dcm', channels=1)
    # The square was stored with low values (white in MONOCHROME1), the background with high ones.
    assert img[16:48, 16:48].min() > 200 and img[:8].max() < 50


def test_16_bit_png_is_stretched_to_the_full_8_bit_range():
    img = read_xray(CORPUS / 'images' / 'gray16.png', channels=1)
    assert img.min() == 0 and img.max() == 255  # 12-bit values in 16 bits, not a near-black image


def test_conversions_on_reading_are_counted_and_described(tmp_path):
    listing = [{'file_name': name, 'syms': [], 'boxes': []} for name in (
        'ok.png', 'ok2.png', 'gray16.png', 'rgb.png', 'rgba.png', 'palette.png', 'gray_alpha.png',
        'monochrome1.dcm', 'size_100x80.png')]
    ann = tmp_path / 'all_kinds.json'
    ann.write_text(json.dumps(listing))
    report = validate_dataset(ann, CORPUS / 'images', expect_size=64)
    assert report.image_kinds == {
        'PNG 8-bit gray': 3, 'PNG 16-bit gray': 1, 'PNG 8-bit RGB': 1, 'PNG 8-bit RGBA': 1,
        'PNG 8-bit palette': 1, 'PNG 8-bit gray+alpha': 1, 'DICOM MONOCHROME1': 1}
    assert report.conversions == {
        'PNG 16-bit gray': 'stretched to 8 bits from its value range',
        'PNG 8-bit RGB': 'converted to gray',
        'PNG 8-bit RGBA': 'converted to gray, alpha dropped',
        'PNG 8-bit palette': 'converted to gray',
        'PNG 8-bit gray+alpha': 'converted to gray, alpha dropped',
        'DICOM MONOCHROME1': 'mapped to 8 bits through its window (or value range), then inverted '
                             'so that lungs are dark'}
    assert report.image_sizes == {(64, 64): 8, (100, 80): 1}
    assert report.images_found == 9 and report.ok
    text = report.format()
    assert 'DICOM MONOCHROME1: 1 (mapped to 8 bits' in text
    assert 'image is 100x80, expected 64x64' in text


def test_every_problem_is_listed_where_the_reader_stops_at_the_first():
    case = by_name('several_problems')
    report = validate(case)
    assert (report.records, report.images_found, report.images_missing) == (4, 2, 1)
    assert report.unknown_classes == {'Pneumothorax': 1}
    assert report.boxes_per_class['Nodule'] == 2
    with pytest.raises(AnnotationError, match='record 1'):
        read_annotations(paths(case)[0])


def test_decode_is_needed_for_corrupt_pixel_data_in_a_complete_file():
    case = by_name('corrupt_png_data')
    header_only = validate_dataset(*paths(case))
    assert header_only.ok and header_only.images_found == 1
    assert not validate(case).ok  # the case's options decode


def test_misspelt_classes_get_a_did_you_mean_and_other_classes_do_not(tmp_path):
    case = by_name('class_name_wrong_case')
    records = json.loads((CORPUS / case['ann']).read_text(encoding='utf-8'))
    names = ('Nodules', 'Efusion', 'Pneumothorax')
    records = [dict(records[0], syms=list(names), boxes=records[0]['boxes'][:1] * len(names))]
    ann = tmp_path / 'typos.json'
    ann.write_text(json.dumps(records), encoding='utf-8')
    report = validate_dataset(str(ann), paths(case)[1], classes=parse_class_list('chestxdet9'))
    text = report.format(max_listed=0)
    assert "'Nodules' (1) (did you mean 'Nodule'?)" in text
    assert "'Efusion' (1) (did you mean 'Effusion'?)" in text
    assert "'Pneumothorax' (1)" in text and "'Pneumothorax' (1) (did" not in text


def test_summary_points_at_a_wrong_folder_and_the_class_preset(tmp_path):
    from tbmm.classes import DEFAULT_CLASSES
    records = [{'file_name': 'a.png', 'syms': ['Pneumothorax', 'Nodule'],
                'boxes': [[1, 1, 9, 9], [2, 2, 8, 8]]},
               {'file_name': 'b.png', 'syms': [], 'boxes': []}]
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(records), encoding='utf-8')
    (tmp_path / 'empty').mkdir()
    text = validate_dataset(str(ann), str(tmp_path / 'empty'), classes=DEFAULT_CLASSES).format()
    assert f'none of the listed images is in {tmp_path / "empty"}: wrong image folder?' in text
    assert ('Pneumothorax: 1 (boxes; not in the 9-class list; --classes chestxdet10 covers '
            'them all)' in text)
