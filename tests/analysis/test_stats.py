"""Data set statistics on real ChestX-Det records (tests/fixtures/chestxdet_sample.json)."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tbmm.analysis.stats import cooccurrence_matrix, dataset_statistics, format_statistics
from tbmm.datasets.annotations import read_annotations

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'chestxdet_sample.json'


@pytest.fixture(scope='module')
def records():
    return read_annotations(FIXTURE)


def test_counts_equal_a_direct_count(records):
    stats = dataset_statistics(records)
    assert len(stats['classes']) == 13
    boxes = Counter(name for r in records for name in r['syms'])
    images = Counter(name for r in records for name in set(r['syms']))
    for name in stats['classes']:
        assert stats['per_class'][name]['boxes'] == boxes[name]
        assert stats['per_class'][name]['images'] == images[name]
    assert stats['n_images'] == len(records)
    assert stats['n_boxes'] == sum(len(r['boxes']) for r in records)
    assert stats['n_negative'] == sum(1 for r in records if not r['boxes'])
    histogram = Counter(len(r['boxes']) for r in records)
    expected = {str(k): v for k, v in sorted(histogram.items())}
    assert stats['boxes_per_image']['histogram'] == expected
    assert stats['boxes_per_image']['max'] == max(histogram)


def test_box_size_percentiles_match_numpy(records):
    stats = dataset_statistics(records)
    widths = [b[2] - b[0] for r in records for s, b in zip(r['syms'], r['boxes']) if s == 'Nodule']
    sizes = stats['per_class']['Nodule']['width']
    assert sizes['min'] == min(widths) and sizes['max'] == max(widths)
    assert sizes['median'] == pytest.approx(np.median(widths), abs=0.05)


def test_cooccurrence_is_symmetric_with_consolidation_and_effusion_together(records):
    stats = dataset_statistics(records)
    classes = stats['classes']
    matrix = np.array(stats['cooccurrence']['matrix'])
    assert (matrix == matrix.T).all()
    assert [matrix[k, k] for k in range(len(classes))] == [
        stats['per_class'][name]['images'] for name in classes]
    cons, eff = classes.index('Consolidation'), classes.index('Effusion')
    both = sum(1 for r in records if {'Consolidation', 'Effusion'} <= set(r['syms']))
    assert both > 0 and matrix[cons, eff] == both


def test_class_subset_counts_other_classes_and_negatives_of_the_subset(records):
    stats = dataset_statistics(records, ['Nodule', 'Mass'])
    assert stats['classes'] == ['Nodule', 'Mass']
    others = Counter(s for r in records for s in r['syms'] if s not in ('Nodule', 'Mass'))
    assert stats['other_classes'] == dict(sorted(others.items()))
    assert stats['n_negative'] == sum(
        1 for r in records if not {'Nodule', 'Mass'} & set(r['syms']))
    json.dumps(stats)  # JSON-ready


def test_an_image_counts_once_per_pair_however_many_boxes():
    records = [{'file_name': 'a', 'syms': ['A', 'A', 'B'], 'boxes': [[0, 0, 1, 1]] * 3},
               {'file_name': 'b', 'syms': ['B'], 'boxes': [[0, 0, 1, 1]]}]
    assert cooccurrence_matrix(records, ['A', 'B', 'C']).tolist() == [[1, 1, 0], [1, 2, 0],
                                                                      [0, 0, 0]]


def test_text_report_lists_every_class_and_the_pair_table(records):
    text = format_statistics(dataset_statistics(records))
    for name in ('Pleural Thickening', 'Consolidation', '(no finding)', 'boxes per image',
                 'images with both', 'median'):
        assert name in text


def test_images_with_unlisted_classes_only_are_not_called_no_finding(records):
    text = format_statistics(dataset_statistics(records, ['Nodule', 'Mass']))
    assert '(none of these)' in text and '(no finding)' not in text


def test_shared_boxes_count_positions_with_several_classes_once():
    box, other = [10, 10, 50, 50], [60, 60, 90, 90]
    records = [
        # one position with three classes (and its Effusion entry repeated), one single-class box
        {'file_name': 'a', 'syms': ['Consolidation', 'Effusion', 'Nodule', 'Effusion', 'Mass'],
         'boxes': [box, box, box, box, other]},
        # the same coordinates in another image are another position: Consolidation + Effusion
        {'file_name': 'b', 'syms': ['Effusion', 'Consolidation'], 'boxes': [box, box]},
        # a box repeated with its own class only is a duplicate, not a shared box
        {'file_name': 'c', 'syms': ['Mass', 'Mass'], 'boxes': [other, other]},
        {'file_name': 'd', 'syms': [], 'boxes': []},
    ]
    classes = ['Consolidation', 'Effusion', 'Nodule', 'Mass']
    shared = dataset_statistics(records, classes)['shared_boxes']
    assert shared['boxes'] == 2
    assert shared['label_sets'] == {'Consolidation + Effusion': 1,
                                    'Consolidation + Effusion + Nodule': 1}
    assert shared['pairs'] == {'Consolidation + Effusion': 2, 'Consolidation + Nodule': 1,
                               'Effusion + Nodule': 1}
    assert shared['same_class_duplicates'] == 2
    # classes left out of the list do not make a box shared
    assert dataset_statistics(records, ['Consolidation', 'Mass'])['shared_boxes']['boxes'] == 0
    text = format_statistics(dataset_statistics(records, classes))
    assert 'boxes with several classes (identical coordinates in one image): 2' in text
    assert 'holding both classes of a pair: Consolidation + Effusion 2' in text


def test_shared_boxes_of_the_fixture_equal_a_direct_count(records):
    positions = Counter()
    for r in records:
        classes_at = {}
        for name, box in zip(r['syms'], r['boxes']):
            classes_at.setdefault(tuple(box), set()).add(name)
        positions.update(len(names) >= 2 for names in classes_at.values())
    shared = dataset_statistics(records)['shared_boxes']
    assert positions[True] > 0 and shared['boxes'] == positions[True]
