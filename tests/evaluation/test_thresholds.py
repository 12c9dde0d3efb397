"""Per-class operating thresholds: hand-worked choices and rates, fallbacks, intervals, loader."""
import json

import numpy as np
import pytest

from tbmm.errors import UserInputError
from tbmm.evaluation.functional.thresholds import (
    THRESHOLDS_FORMAT,
    ThresholdError,
    format_thresholds_table,
    load_thresholds,
    parse_target,
    select_thresholds,
    write_thresholds,
)

G1, G2 = [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]
ELSEWHERE = [50.0, 50.0, 60.0, 60.0]  # overlaps no ground truth: a false positive


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def hand_case():
    """4 Nodule ground truths over 2 images; Nodule detections, ranked:

    score  image  match  TP FP | sensitivity precision FP/image  F1 = 2TP / (TP + FP + 4)
    0.9    a      G1     1  0  | 0.25        1         0         2/5 = 0.4
    0.8    a      -      1  1  | 0.25        0.5       0.5       2/6
    0.7    b      G1     2  1  | 0.5         2/3       0.5       4/7
    0.4    b      G2     3  1  | 0.75        0.75      0.5       6/8 = 0.75  (max)
    0.2    a      -      3  2  | 0.75        0.6       1.0       6/9

    Mass: one detection, no ground truth. Fracture: one ground truth, no detection.
    """
    gt = [record('a.png', ['Nodule', 'Nodule'], [G1, G2]),
          record('b.png', ['Nodule', 'Nodule', 'Fracture'], [G1, G2, G1])]
    pred = [record('a.png', ['Nodule', 'Nodule', 'Nodule', 'Mass'], [G1, ELSEWHERE, ELSEWHERE, G2],
                   [0.9, 0.8, 0.2, 0.6]),
            record('b.png', ['Nodule', 'Nodule'], [G1, G2], [0.7, 0.4])]
    return gt, pred


CLASSES = ('Nodule', 'Mass', 'Fracture')


def choose(target, gt=None, pred=None, classes=CLASSES, **kwargs):
    if gt is None:
        gt, pred = hand_case()
    kwargs.setdefault('n_resamples', 0)
    return select_thresholds(gt, pred, target, classes, **kwargs)


@pytest.mark.parametrize('target, threshold, sens, prec, fppi', [
    ('sensitivity=0.75', 0.4, 0.75, 0.75, 0.5),   # highest threshold with sensitivity >= 0.75
    ('sensitivity=0.5', 0.7, 0.5, 2 / 3, 0.5),
    ('sensitivity=0.25', 0.9, 0.25, 1.0, 0.0),
    ('fp_per_image=0.5', 0.4, 0.75, 0.75, 0.5),   # lowest threshold with FP/image <= 0.5
    ('fp_per_image=0.1', 0.9, 0.25, 1.0, 0.0),
    ('fp_per_image=1', 0.2, 0.75, 0.6, 1.0),
    ('f1', 0.4, 0.75, 0.75, 0.5),                 # F1 6/8 is the maximum
])
def test_hand_worked_choices(target, threshold, sens, prec, fppi):
    entry = choose(target)['classes']['Nodule']
    assert entry['threshold'] == threshold
    assert entry['reached'] is True and 'note' not in entry
    assert entry['sensitivity'] == pytest.approx(sens)
    assert entry['precision'] == pytest.approx(prec)
    assert entry['fp_per_image'] == pytest.approx(fppi)
    assert entry['n_gt'] == 4 and entry['n_det'] == 5
    assert entry['tp'] == round(sens * 4) and entry['fp'] == round(fppi * 2)


def test_unreachable_sensitivity_falls_back_to_the_lowest_score():
    result = choose('sensitivity=0.9')
    nodule = result['classes']['Nodule']
    # At most 3 of 4 found (0.75): every detection kept, flagged.
    assert nodule['threshold'] == 0.2 and nodule['reached'] is False
    assert nodule['sensitivity'] == 0.75 and nodule['fp_per_image'] == 1.0
    assert 'not reached' in nodule['note'] and 'lowest detection score' in nodule['note']
    with pytest.raises(ThresholdError, match=r'not reached for 3 class\(es\).*Nodule'):
        choose('sensitivity=0.9', strict=True)


def test_unreachable_fp_rate_falls_back_to_the_highest_score():
    # Top detection a false positive: on 2 images one FP is already 0.5 FP/image > 0.25.
    gt = [record('a.png', ['Nodule'], [G1]), record('b.png')]
    pred = [record('a.png', ['Nodule', 'Nodule'], [ELSEWHERE, G1], [0.9, 0.5])]
    entry = choose('fp_per_image=0.25', gt, pred, classes=['Nodule'])['classes']['Nodule']
    assert entry['threshold'] == 0.9 and entry['reached'] is False
    assert entry['fp_per_image'] == 0.5 and entry['sensitivity'] == 0.0
    assert entry['precision'] == 0.0
    # 0.5 FP/image is allowed: the lowest threshold keeping one FP, 0.5, finds the lesion.
    entry = choose('fp_per_image=0.5', gt, pred, classes=['Nodule'])['classes']['Nodule']
    assert entry['threshold'] == 0.5 and entry['reached'] and entry['sensitivity'] == 1.0


def test_f1_ties_go_to_the_higher_threshold_and_no_hit_is_not_reached():
    # 2 GT: 0.9 TP (F1 2/3), 0.8 FP (2/4), 0.7 FP (2/5), 0.6 TP (4/6 = 2/3): a tie -> 0.9.
    gt = [record('a.png', ['Nodule', 'Nodule'], [G1, G2])]
    pred = [record('a.png', ['Nodule'] * 4, [G1, ELSEWHERE, ELSEWHERE, G2], [0.9, 0.8, 0.7, 0.6])]
    entry = choose('f1', gt, pred, classes=['Nodule'])['classes']['Nodule']
    assert entry['threshold'] == 0.9 and entry['f1'] == pytest.approx(2 / 3) and entry['reached']
    misses = [record('a.png', ['Nodule'] * 2, [ELSEWHERE, ELSEWHERE], [0.6, 0.3])]
    entry = choose('f1', gt, misses, classes=['Nodule'])['classes']['Nodule']
    assert entry['threshold'] == 0.6 and entry['reached'] is False and entry['f1'] == 0.0


def test_equal_scores_are_kept_or_dropped_together():
    # 0.8 twice (one TP, one FP), then 0.5 TP; 2 GT over 1 image.
    gt = [record('a.png', ['Nodule', 'Nodule'], [G1, G2])]
    pred = [record('a.png', ['Nodule'] * 3, [ELSEWHERE, G1, G2], [0.8, 0.8, 0.5])]
    entry = choose('sensitivity=0.5', gt, pred, classes=['Nodule'])['classes']['Nodule']
    assert entry['threshold'] == 0.8 and entry['tp'] == 1 and entry['fp'] == 1
    entry = choose('fp_per_image=0', gt, pred, classes=['Nodule'])['classes']['Nodule']
    # Both 0.8 boxes come together, so no threshold with a detection has 0 FP/image.
    assert entry['threshold'] == 0.8 and entry['reached'] is False


def test_class_without_ground_truth_or_detections():
    result = choose('sensitivity=0.5')
    mass, fracture = result['classes']['Mass'], result['classes']['Fracture']
    assert mass['threshold'] is None and mass['reached'] is False and mass['n_gt'] == 0
    assert mass['sensitivity'] is None and 'no ground truth' in mass['note']
    assert fracture['threshold'] == 0.0 and fracture['reached'] is False
    assert fracture['sensitivity'] == 0.0 and fracture['precision'] is None
    assert 'no detections' in fracture['note']
    # For an FP budget both are well defined: Mass's only box is an FP (0.5 FP/image <= 0.5).
    result = choose('fp_per_image=0.5')
    mass, fracture = result['classes']['Mass'], result['classes']['Fracture']
    assert mass['threshold'] == 0.6 and mass['reached'] and mass['sensitivity'] is None
    assert mass['precision'] == 0.0 and mass['fp_per_image'] == 0.5
    assert fracture['threshold'] == 0.0 and fracture['reached'] and fracture['fp_per_image'] == 0


def test_intervals_contain_the_point_value_and_follow_the_seed():
    rng = np.random.default_rng(3)
    gt, pred = [], []
    for i in range(30):
        n_gt = int(rng.integers(0, 3))
        boxes = [[40.0 * j, 0.0, 40.0 * j + 30, 30.0] for j in range(n_gt)]
        gt.append(record(f'{i}.png', ['Nodule'] * n_gt, boxes))
        found = [b for b in boxes if rng.random() < 0.7]
        noise = [[200.0, 200.0 + 40 * j, 230.0, 230.0 + 40 * j]
                 for j in range(int(rng.integers(0, 3)))]
        scores = list(rng.uniform(0.3, 1.0, len(found))) + list(rng.uniform(0.0, 0.8, len(noise)))
        pred.append(record(f'{i}.png', ['Nodule'] * len(scores), found + noise, scores))
    for target in ('sensitivity=0.6', 'fp_per_image=0.3', 'f1'):
        result = choose(target, gt, pred, classes=['Nodule'], n_resamples=500, seed=1)
        entry = result['classes']['Nodule']
        for rate in ('sensitivity', 'precision', 'fp_per_image'):
            low, high = entry[f'{rate}_ci95']
            assert low <= entry[rate] <= high and low < high
        assert result['settings']['bootstrap'] == {
            'n_resamples': 500, 'confidence': 0.95, 'seed': 1, 'unit': 'image', 'n_units': 30}
        again = choose(target, gt, pred, classes=['Nodule'], n_resamples=500, seed=1)
        assert again == result
        other = choose(target, gt, pred, classes=['Nodule'], n_resamples=500, seed=2)
        assert other['classes']['Nodule']['sensitivity'] == entry['sensitivity']


def test_patient_resampling_draws_a_patient_whole():
    gt, pred = hand_case()
    # Both images belong to one patient: every resample is the whole set, the interval a point.
    result = choose('sensitivity=0.75', gt, pred, n_resamples=50, groups=['p1', 'p1'])
    entry = result['classes']['Nodule']
    assert result['settings']['bootstrap']['unit'] == 'group'
    assert result['settings']['bootstrap']['n_units'] == 1
    assert entry['sensitivity_ci95'] == [0.75, 0.75]
    assert entry['fp_per_image_ci95'] == [0.5, 0.5]
    # Mass has no ground truth: every resample is n/a, and no interval.
    assert result['classes']['Mass']['n_resamples_na'] == 50
    assert result['classes']['Mass']['sensitivity_ci95'] is None
    with pytest.raises(ValueError, match='groups: 1 ids for 2'):
        choose('f1', gt, pred, n_resamples=5, groups=['p1'])


def test_result_is_the_documented_file_and_prints_a_table(tmp_path):
    gt, pred = hand_case()
    pred[1]['syms'].append('Foo')
    pred[1]['boxes'].append(G1)
    pred[1]['scores'].append(0.5)
    result = select_thresholds(gt, pred, 'sensitivity=0.75', CLASSES, n_resamples=20,
                               source={'ann': 'val.json', 'pred': 'pred.json'})
    assert result['format'] == THRESHOLDS_FORMAT
    assert result['target'] == {'metric': 'sensitivity', 'value': 0.75}
    assert list(result['classes']) == list(CLASSES)
    assert result['ignored_classes']['pred'] == {'Foo': 1}
    assert result['source'] == {'ann': 'val.json', 'pred': 'pred.json'}
    assert isinstance(result['tbmm_version'], str)
    table = format_thresholds_table(result)
    assert 'sensitivity >= 0.75' in table and 'Foo x1' in table
    assert 'Mass: no ground truth' in table
    nodule_row = next(line for line in table.splitlines() if line.startswith('Nodule'))
    assert '0.4000' in nodule_row and nodule_row.endswith('yes')
    path = write_thresholds(result, tmp_path / 'sub' / 'thresholds.json')
    assert json.loads(open(path).read()) == json.loads(json.dumps(result))
    # Mass has no threshold: the loader names it; the others load.
    with pytest.raises(ThresholdError, match=r"thresholds.json: class 'Mass' has no threshold"):
        load_thresholds(path)
    assert load_thresholds(path, ['Fracture', 'Nodule']) == {'Fracture': 0.0, 'Nodule': 0.4}


def test_bad_records_and_settings():
    gt, pred = hand_case()
    with pytest.raises(ValueError, match='none of the 1 prediction records'):
        choose('f1', gt, [record('z.png', ['Nodule'], [G1], [0.5])])
    with pytest.raises(ValueError, match='scores must be in'):
        choose('f1', gt, [record('a.png', ['Nodule'], [G1], [1.5])])
    with pytest.raises(ValueError, match='no ground-truth images'):
        choose('f1', [], pred)
    with pytest.raises(ValueError, match='iou_thr'):
        choose('f1', iou_thr=0)


@pytest.mark.parametrize('text, parsed', [
    ('sensitivity=0.9', {'metric': 'sensitivity', 'value': 0.9}),
    (' fp_per_image = 0.1 ', {'metric': 'fp_per_image', 'value': 0.1}),
    ('fp_per_image=0', {'metric': 'fp_per_image', 'value': 0.0}),
    ('F1', {'metric': 'f1', 'value': None}),
])
def test_parse_target(text, parsed):
    assert parse_target(text) == parsed


@pytest.mark.parametrize('text, message', [
    ('sensitivity', 'expected'), ('sensitivity=0', r'in \(0, 1\]'),
    ('sensitivity=1.5', r'\(0, 1\]'),
    ('fp_per_image=-1', '>= 0'), ('fp_per_image=inf', 'finite'), ('recall=0.9', 'expected'),
    ('f1=0.5', 'expected'), ('sensitivity=abc', 'not a number'),
])
def test_bad_targets(text, message):
    with pytest.raises(ValueError, match=message):
        parse_target(text)


def write(tmp_path, content, name='t.json'):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_loader_accepts_a_hand_written_file(tmp_path):
    path = write(tmp_path, {'classes': {'Nodule': {'threshold': 0.3}, 'Mass': 1, 'Extra': 0}})
    assert load_thresholds(path) == {'Nodule': 0.3, 'Mass': 1.0, 'Extra': 0.0}
    assert list(load_thresholds(path, ('Mass', 'Nodule'))) == ['Mass', 'Nodule']


@pytest.mark.parametrize('content, message', [
    ({'classes': {'Nodule': {'threshold': 0.3}}}, "no threshold for class 'Mass'"),
    ({'classes': {'Nodule': {'threshold': 1.5}, 'Mass': 0.1}},
     r"class 'Nodule': threshold must be a number in \[0, 1\], got 1.5"),
    ({'classes': {'Nodule': {'threshold': -0.1}, 'Mass': 0.1}}, 'got -0.1'),
    ({'classes': {'Nodule': {'threshold': '0.3'}, 'Mass': 0.1}}, "got '0.3'"),
    ({'classes': {'Nodule': {'threshold': True}, 'Mass': 0.1}}, 'got True'),
    ({'classes': {'Nodule': {'threshold': None, 'note': 'no ground truth'}, 'Mass': 0.1}},
     r"class 'Nodule' has no threshold \(null: no ground truth\)"),
    ({'classes': {'Nodule': {'sensitivity': 0.9}, 'Mass': 0.1}}, 'no "threshold" key'),
    ('{"classes": {"Nodule": NaN, "Mass": 0.1}}', 'got nan'),
    ('{"classes": {"Nodule": 0.1, "Nodule": 0.2, "Mass": 0.1}}', "key 'Nodule' appears twice"),
    ({'format': 'tbmm-thresholds/9', 'classes': {'Nodule': 0.1, 'Mass': 0.1}}, 'format'),
    ([0.1, 0.2], 'no "classes" object'),
    ('{"classes": ', 'not valid JSON'),
])
def test_loader_errors_name_the_file_and_the_class(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ThresholdError, match=message) as error:
        load_thresholds(path, ['Nodule', 'Mass'])
    assert isinstance(error.value, UserInputError)
    text = str(error.value)
    assert text.startswith(str(path)) and '\n' not in text


def test_loader_missing_file(tmp_path):
    with pytest.raises(ThresholdError, match='nope.json: thresholds file not found'):
        load_thresholds(tmp_path / 'nope.json')
