"""Bootstrap intervals: a resample equals evaluate_records on the duplicated records; the estimate
inside its interval, intervals shrinking with more images, seeding, patient resampling, the CLI."""
import json
import os.path as osp
import sys

import numpy as np
import pytest

from tbmm.datasets.annotations import write_annotations
from tbmm.evaluation.functional import evaluate_records
from tbmm.evaluation.functional.bootstrap import (
    BootstrapCase,
    bootstrap_intervals,
    ci_key,
    draw_counts,
    group_ids,
)

CLASSES = ('Nodule', 'Mass', 'Fracture')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def record(file_name, syms=(), boxes=(), scores=None):
    rec = {'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes]}
    if scores is not None:
        rec['scores'] = list(scores)
    return rec


def random_case(seed, n_images=40, classes=CLASSES, max_noise=6):
    """Small, medium and large ground-truth boxes, jittered hits and noise, distinct scores."""
    rng = np.random.default_rng(seed)
    gt, pred = [], []
    for i in range(n_images):
        n = int(rng.integers(0, 4))
        size = rng.choice([20.0, 60.0, 150.0], size=(n, 1)) * rng.uniform(0.8, 1.2, size=(n, 2))
        corner = rng.uniform(0, 400, size=(n, 2))
        boxes = np.hstack([corner, corner + size])
        syms = [str(s) for s in rng.choice(classes, size=n)]
        gt.append(record(f'{i}.png', syms, boxes.tolist()))
        keep = rng.random(n) < 0.7
        hits = boxes[keep] + rng.normal(0, 6, size=(int(keep.sum()), 4))
        hits[:, 2:] = np.maximum(hits[:, 2:], hits[:, :2] + 1)
        m = int(rng.integers(0, max_noise))
        corner = rng.uniform(0, 400, size=(m, 2))
        noise = np.hstack([corner, corner + rng.uniform(10, 160, size=(m, 2))])
        pred_syms = [s for s, k in zip(syms, keep) if k] + [str(s) for s in rng.choice(classes, m)]
        pred.append(record(f'{i}.png', pred_syms, np.vstack([hits, noise]).tolist(),
                           rng.random(len(pred_syms)).tolist()))
    return gt, pred


def duplicated(records, count_of):
    """Each record ``count_of[file_name]`` times, the copies renamed ``name#copy``."""
    out = []
    for rec in records:
        for copy in range(int(count_of[rec['file_name']])):
            out.append(dict(rec, file_name=f'{rec["file_name"]}#{copy}'))
    return out


def reference(gt, pred, counts, classes=CLASSES):
    """evaluate_records on the explicitly duplicated records: metric -> value (None = n/a)."""
    count_of = {rec['file_name']: count for rec, count in zip(gt, counts)}
    result = evaluate_records(duplicated(gt, count_of), duplicated(pred, count_of), classes)
    values = {(name, m): result['per_class'][name][m] for name in classes
              for m in ('ap50', 'coco_ap', 'froc_avgrecall')}
    values.update({('overall', m): result['overall'][m]
                   for m in ('ap50', 'coco_ap', 'froc_avgrecall', 'image_auc')})
    return values


def resampled(case, counts):
    """BootstrapCase.metrics_for_counts for one count vector, in :func:`reference`'s layout."""
    values = case.metrics_for_counts(np.asarray(counts)[None, :])
    out = {(name, m): float(v[0]) for name, entry in values['per_class'].items()
           for m, v in entry.items()}
    out.update({('overall', m): float(v[0]) for m, v in values['overall'].items()})
    return {key: None if np.isnan(v) else v for key, v in out.items()}


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_resample_equals_evaluate_records_on_duplicated_records(seed):
    gt, pred = random_case(seed, n_images=30)
    # An image with detections only, one whose prediction record is missing, a class whose
    # detections are all true positives (its FP/image stays 0).
    gt.append(record('neg.png'))
    pred.append(record('neg.png', ['Nodule', 'Mass'], [(5, 5, 50, 50), (100, 100, 180, 170)],
                       [0.97, 0.41]))
    gt.append(record('missing.png', ['Mass'], [(10, 10, 90, 90)]))
    gt.append(record('frac.png', ['Fracture'], [(200, 200, 240, 260)]))
    pred = [r for r in pred if r['file_name'] != '0.png'] + [
        record('frac.png', ['Fracture'], [(201, 200, 240, 261)], [0.999])]
    case = BootstrapCase(gt, pred, CLASSES)
    # Some resamples of the images, an unweighted one, and one that drops every Fracture image.
    counts = list(draw_counts(len(gt), 4, seed=seed)) + [np.ones(len(gt), dtype=int)]
    with_fracture = np.array(['Fracture' in r['syms'] for r in gt])
    no_fracture = np.where(with_fracture, 0, 1)
    no_fracture[np.flatnonzero(~with_fracture)[0]] = 3
    counts.append(no_fracture)
    for row in counts:
        expected, got = reference(gt, pred, row), resampled(case, row)
        for key, value in expected.items():
            if value is None:
                assert got[key] is None, key
            else:
                assert got[key] == pytest.approx(value, abs=1e-12), key
    assert resampled(case, no_fracture)[('Fracture', 'ap50')] is None


def test_estimate_equals_evaluate_records_and_intervals_contain_it():
    gt, pred = random_case(5, n_images=200)
    result = evaluate_records(gt, pred, CLASSES)
    boot = bootstrap_intervals(gt, pred, CLASSES, n_resamples=300, seed=3)
    assert boot['settings'] == {'method': 'percentile', 'n_resamples': 300, 'confidence': 0.95,
                                'seed': 3, 'unit': 'image', 'n_units': 200, 'n_images': 200,
                                'iou_thr': 0.5}
    for name in CLASSES:
        entry = boot['per_class'][name]
        assert entry['n_gt'] == result['per_class'][name]['n_gt']
        assert entry['n_resamples_na'] == 0
        for metric in ('ap50', 'coco_ap', 'froc_avgrecall'):
            assert entry[metric] == pytest.approx(result['per_class'][name][metric], abs=1e-12)
            low, high = entry[f'{metric}_ci95']
            assert low <= entry[metric] <= high
    for metric in ('ap50', 'coco_ap', 'froc_avgrecall', 'image_auc'):
        value = boot['overall'][metric]
        assert value == pytest.approx(result['overall'][metric], abs=1e-12)
        low, high = boot['overall'][f'{metric}_ci95']
        assert 0.0 <= low < value < high <= 1.0


def width(interval):
    return interval[1] - interval[0]


def test_intervals_shrink_as_the_test_set_grows():
    small = bootstrap_intervals(*random_case(7, n_images=50), CLASSES, n_resamples=400)
    large = bootstrap_intervals(*random_case(7, n_images=800), CLASSES, n_resamples=400)
    # The standard error falls like 1/sqrt(n): 16 times the images, about a quarter of the width.
    for metric in ('ap50', 'coco_ap', 'froc_avgrecall', 'image_auc'):
        key = f'{metric}_ci95'
        assert width(large['overall'][key]) < 0.5 * width(small['overall'][key]), metric
    for name in CLASSES:
        assert (width(large['per_class'][name]['ap50_ci95'])
                < 0.5 * width(small['per_class'][name]['ap50_ci95']))


def test_same_seed_same_intervals_other_seed_others():
    gt, pred = random_case(8, n_images=60)
    first = bootstrap_intervals(gt, pred, CLASSES, n_resamples=100, seed=11)
    assert bootstrap_intervals(gt, pred, CLASSES, n_resamples=100, seed=11) == first
    other = bootstrap_intervals(gt, pred, CLASSES, n_resamples=100, seed=12)
    assert other['overall']['ap50_ci95'] != first['overall']['ap50_ci95']
    assert other['overall']['ap50'] == first['overall']['ap50']


def test_more_resamples_than_one_block_match_the_same_counts():
    # Resamples are evaluated in blocks; the result must not depend on where a block ends.
    gt, pred = random_case(9, n_images=25)
    boot = bootstrap_intervals(gt, pred, CLASSES, n_resamples=600, seed=4, return_samples=True)
    case = BootstrapCase(gt, pred, CLASSES)
    direct = case.metrics_for_counts(draw_counts(len(gt), 600, seed=4))
    np.testing.assert_array_equal(boot['samples']['overall']['ap50'], direct['overall']['ap50'])


def patient_case():
    """Patient A: 5 images, each lesion found; patient B: 5 images, each lesion missed."""
    gt, pred, names = [], [], []
    for patient, found in (('00000001', True), ('00000002', False)):
        for i in range(5):
            name = f'{patient}_{i:03d}.png'
            names.append(name)
            gt.append(record(name, ['Nodule'], [(100, 100, 200, 200)]))
            score = (0.9 if found else 0.5) - 0.01 * i
            pred.append(record(name, ['Nodule'], [(100, 100, 200, 200) if found
                                                  else (300, 300, 400, 400)], [score]))
    return gt, pred, names


def test_group_resampling_draws_a_patients_images_together():
    gt, pred, names = patient_case()
    groups = group_ids(names, r'^(\d{8})_')
    assert groups == ['00000001'] * 5 + ['00000002'] * 5
    by_patient = bootstrap_intervals(gt, pred, ['Nodule'], n_resamples=200, groups=groups,
                                     return_samples=True)
    assert by_patient['settings']['unit'] == 'group' and by_patient['settings']['n_units'] == 2
    # A resample holds all of A, all of B, or both: AP 1, 0 or 1/2 (A's hits rank first), and
    # its image count is always a multiple of 5 (recall 1, 0 or 1/2 as well).
    ap50 = by_patient['samples']['per_class']['Nodule']['ap50']
    assert set(np.round(ap50, 12)) == {0.0, 0.5, 1.0}
    assert by_patient['overall']['ap50_ci95'] == [0.0, 1.0]
    by_image = bootstrap_intervals(gt, pred, ['Nodule'], n_resamples=200, return_samples=True)
    assert len(set(np.round(by_image['samples']['per_class']['Nodule']['ap50'], 12))) > 3
    assert width(by_image['overall']['ap50_ci95']) < 1.0


def test_group_ids_errors_name_the_problem():
    assert group_ids(['a/00000007_001.png'], r'(\d{8})_') == ['00000007']
    with pytest.raises(ValueError, match=r"'36204\.png' \(and 1 more\)"):
        group_ids(['00000001_000.png', '36204.png', 'x.png'], r'^(\d{8})_')
    with pytest.raises(ValueError, match='exactly one capture group'):
        group_ids(['00000001_000.png'], r'^\d{8}_')
    with pytest.raises(ValueError, match='2 ids for 10'):
        gt, pred, _ = patient_case()
        bootstrap_intervals(gt, pred, ['Nodule'], n_resamples=5, groups=['a', 'b'])


def test_class_without_ground_truth_and_rare_class():
    gt, pred = random_case(10, n_images=40, classes=('Nodule', 'Mass'))
    gt.append(record('rare.png', ['Fracture'], [(10, 10, 50, 50)]))
    pred.append(record('rare.png', ['Fracture'], [(10, 10, 50, 50)], [0.5]))
    boot = bootstrap_intervals(gt, pred, CLASSES + ('Emphysema', ), n_resamples=200)
    emphysema = boot['per_class']['Emphysema']
    assert emphysema['ap50'] is None and emphysema['ap50_ci95'] is None
    assert emphysema['n_resamples_na'] == 200
    fracture = boot['per_class']['Fracture']
    # One image in 41: missing from a resample with probability (40/41)^41, about 36 %.
    assert 40 < fracture['n_resamples_na'] < 110
    assert fracture['ap50'] == 1.0 and fracture['ap50_ci95'] == [1.0, 1.0]


def test_confidence_names_the_key():
    assert ci_key('ap50') == 'ap50_ci95'
    assert ci_key('ap50', 0.9) == 'ap50_ci90'
    assert ci_key('image_auc', 0.975) == 'image_auc_ci97_5'
    gt, pred = random_case(11, n_images=30)
    boot = bootstrap_intervals(gt, pred, CLASSES, n_resamples=50, confidence=0.5)
    narrow = boot['overall']['ap50_ci50']
    wide = bootstrap_intervals(gt, pred, CLASSES, n_resamples=50)['overall']['ap50_ci95']
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


def load_cli():
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    try:
        import evaluate as cli
    finally:
        sys.path.pop(0)
    return cli


def test_cli_bootstrap_writes_intervals_next_to_values(tmp_path, capsys):
    cli = load_cli()
    gt, pred, _ = patient_case()
    more_gt, more_pred = random_case(12, n_images=20)
    for rec in more_gt + more_pred:
        rec['file_name'] = f'00000003_{rec["file_name"]}'
    write_annotations(tmp_path / 'gt.json', gt + more_gt)
    write_annotations(tmp_path / 'pred.json', pred + more_pred)
    ann, prd, out = str(tmp_path / 'gt.json'), str(tmp_path / 'pred.json'), tmp_path / 'm.json'

    assert cli.main(['--ann', ann, '--pred', prd, '--classes', 'Nodule,Mass,Fracture', '--out',
                     str(out)]) == 0
    plain_table = capsys.readouterr().out
    assert '95% CI' not in plain_table and '[' not in plain_table
    plain = json.loads(out.read_text())
    assert 'bootstrap' not in plain and 'ap50_ci95' not in plain['overall']

    assert cli.main(['--ann', ann, '--pred', prd, '--classes', 'Nodule,Mass,Fracture', '--out',
                     str(out), '--bootstrap', '50', '--group-regex', r'^(\d{8})_',
                     '--seed', '2']) == 0
    table = capsys.readouterr().out
    assert 'AP50 (95% CI)' in table and '50 resamples of the 3 patients' in table
    metrics = json.loads(out.read_text())
    assert metrics['bootstrap']['unit'] == 'group' and metrics['bootstrap']['seed'] == 2
    for name in ('Nodule', 'Mass', 'Fracture'):
        entry = metrics['per_class'][name]
        for metric in ('ap50', 'coco_ap', 'froc_avgrecall'):
            low, high = entry[f'{metric}_ci95']
            assert low <= high
            assert entry[metric] == plain['per_class'][name][metric]
        assert f'{entry["ap50"]:.3f} [' in table
    assert len(metrics['overall']['image_auc_ci95']) == 2
    keys = list(metrics['per_class']['Nodule'])
    assert keys.index('ap50_ci95') == keys.index('ap50') + 1  # next to its value

    assert cli.main(['--ann', ann, '--pred', prd, '--bootstrap', '10', '--group-regex',
                     r'^(\d{9})_']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: group regex') and "'00000001_000.png'" in err
    assert cli.main(['--ann', ann, '--pred', prd, '--group-regex', r'^(\d{8})_']) == 2
    assert '--group-regex needs --bootstrap' in capsys.readouterr().err


def test_estimate_with_tied_scores_equals_evaluate_records():
    # Scores on a coarse grid: many ties, ranked in input order by both.
    gt, pred = random_case(13, n_images=80, max_noise=10)
    for rec in pred:
        rec['scores'] = [round(s, 1) for s in rec['scores']]
    result = evaluate_records(gt, pred, CLASSES)
    estimate = BootstrapCase(gt, pred, CLASSES).estimate()
    for name in CLASSES:
        for metric in ('ap50', 'coco_ap', 'froc_avgrecall'):
            assert estimate['per_class'][name][metric] == pytest.approx(
                result['per_class'][name][metric], abs=1e-12)
    assert estimate['overall']['image_auc'] == pytest.approx(result['overall']['image_auc'])


def test_no_group_regex_means_one_image_per_group():
    gt, pred, names = patient_case()
    assert group_ids(names, None) == names
    by_name = bootstrap_intervals(gt, pred, ['Nodule'], n_resamples=30, groups=names)
    assert by_name == bootstrap_intervals(gt, pred, ['Nodule'], n_resamples=30)
    assert by_name['settings']['unit'] == 'image'
