"""Stratified train/val split: reproducible, lossless, every class in both parts."""
import importlib.util
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tbmm.classes import CHESTXDET13_CLASSES, DEFAULT_CLASSES
from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.split import (
    GroupPatternError,
    count_images_per_class,
    group_ids,
    grouped_parts,
    kfold_records,
    split_records,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / 'tests' / 'fixtures' / 'chestxdet_sample.json'


@pytest.fixture(scope='module')
def records():
    return read_annotations(SAMPLE)


def names(records):
    return [r['file_name'] for r in records]


def make_record(index, syms):
    return dict(file_name=f'{index}.png', syms=list(syms), boxes=[[0, 0, 10, 10]] * len(syms))


def load_split_tool():
    spec = importlib.util.spec_from_file_location(
        'split_tool', REPO / 'tools' / 'dataset_converters' / 'split.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixture_has_what_the_tests_rely_on(records):
    counts, negatives = count_images_per_class(records)
    assert set(counts) == set(CHESTXDET13_CLASSES)
    assert set(counts) - set(DEFAULT_CLASSES) == {'Cardiomegaly', 'Diffuse Nodule',
                                                  'Pleural Thickening', 'Pneumothorax'}
    assert min(counts.values()) >= 2 and negatives >= 3
    assert all(not r['boxes'] for r in records if not r['syms'])
    shared = [r for r in records if any(
        a != b and box_a == box_b and {a, b} == {'Consolidation', 'Effusion'}
        for a, box_a in zip(r['syms'], r['boxes']) for b, box_b in zip(r['syms'], r['boxes']))]
    assert shared, 'expected a record where Consolidation and Effusion share one box'


def test_same_seed_same_split(records):
    first = split_records(records, val_fraction=0.2, seed=3)
    second = split_records(list(records), val_fraction=0.2, seed=3)
    assert [names(part) for part in first] == [names(part) for part in second]


def test_different_seeds_differ(records):
    val_sets = {tuple(names(split_records(records, seed=seed)[1])) for seed in range(4)}
    assert len(val_sets) > 1


@pytest.mark.parametrize('seed', range(5))
def test_no_record_lost_or_duplicated_and_order_kept(records, seed):
    train, val = split_records(records, seed=seed)
    assert sorted(names(train) + names(val)) == sorted(names(records))
    assert not set(names(train)) & set(names(val))
    position = {r['file_name']: i for i, r in enumerate(records)}
    for part in (train, val):
        assert [position[n] for n in names(part)] == sorted(position[n] for n in names(part))
    by_name = {r['file_name']: r for r in records}
    assert all(r is by_name[r['file_name']] for r in train + val)  # the same records, not copies


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('val_fraction', [0.2, 0.5])
def test_every_class_in_both_parts(records, seed, val_fraction):
    train, val = split_records(records, val_fraction=val_fraction, seed=seed)
    in_train, _ = count_images_per_class(train)
    in_val, _ = count_images_per_class(val)
    for name in CHESTXDET13_CLASSES:
        assert in_train[name] >= 1 and in_val[name] >= 1, name


@pytest.mark.parametrize('seed', range(3))
def test_negatives_split_in_proportion(records, seed):
    _, negatives = count_images_per_class(records)
    train, val = split_records(records, val_fraction=0.3, seed=seed)
    assert count_images_per_class(val)[1] == round(0.3 * negatives)
    assert count_images_per_class(train)[1] == negatives - round(0.3 * negatives)


def test_class_subset_treats_other_findings_as_negatives(records):
    train, val = split_records(records, seed=0, classes=DEFAULT_CLASSES)
    total, negatives = count_images_per_class(records, DEFAULT_CLASSES)
    assert negatives > count_images_per_class(records)[1]  # e.g. Pneumothorax-only images
    assert count_images_per_class(val, DEFAULT_CLASSES)[1] == round(0.2 * negatives)
    for name in DEFAULT_CLASSES:
        assert count_images_per_class(train, DEFAULT_CLASSES)[0][name] >= 1
        assert count_images_per_class(val, DEFAULT_CLASSES)[0][name] >= 1


def test_proportions_on_a_larger_multilabel_set():
    rng = random.Random(7)
    weights = {'A': 0.5, 'B': 0.3, 'C': 0.1, 'D': 0.03}
    records = [make_record(i, [c for c, w in weights.items() if rng.random() < w])
               for i in range(1000)]
    train, val = split_records(records, val_fraction=0.25, seed=1)
    total, negatives = count_images_per_class(records)
    in_val, val_negatives = count_images_per_class(val)
    for name in weights:
        assert abs(in_val[name] / total[name] - 0.25) < 0.03, name
    assert val_negatives == round(0.25 * negatives)
    assert abs(len(val) / len(records) - 0.25) < 0.03


@pytest.mark.parametrize('label_sets', [
    [['B', 'G'], ['C', 'F'], [], ['B'], ['D', 'F', 'B']],
    [['H', 'A', 'F'], ['H', 'A'], ['E', 'B', 'D'], ['G'], [], ['H', 'E', 'G']],
])
def test_classes_sharing_images_still_reach_both_parts(label_sets):
    # Small multi-label sets where stratification alone leaves a class in one part for about a
    # third of the seeds; the repair pass must fix all of them.
    records = [make_record(i, syms) for i, syms in enumerate(label_sets)]
    total, _ = count_images_per_class(records)
    for seed in range(50):
        train, val = split_records(records, val_fraction=0.2, seed=seed)
        in_train, in_val = count_images_per_class(train)[0], count_images_per_class(val)[0]
        assert all(in_train[c] and in_val[c] for c in total if total[c] >= 2), seed


def test_rare_classes_and_impossible_cases():
    # Two images of X: one per part. A triangle {A,B}, {B,C}, {A,C} cannot put every class in
    # both parts; the split must still keep every record. A single image cannot be in both.
    records = [make_record(0, ['X']), make_record(1, ['X']), make_record(2, ['A', 'B']),
               make_record(3, ['B', 'C']), make_record(4, ['A', 'C']), make_record(5, ['Solo']),
               make_record(6, [])]
    for seed in range(10):
        train, val = split_records(records, val_fraction=0.2, seed=seed)
        assert sorted(names(train + val)) == sorted(names(records))
        assert count_images_per_class(train)[0]['X'] == count_images_per_class(val)[0]['X'] == 1


def test_degenerate_inputs():
    assert split_records([], val_fraction=0.2) == ([], [])
    only = [make_record(0, ['X'])]
    assert split_records(only) == (only, [])
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match='val_fraction'):
            split_records(only, val_fraction=bad)


def test_cli_writes_readable_verbatim_parts(tmp_path):
    # Run as documented: from the repo root, without installing the package.
    result = subprocess.run(
        [sys.executable, 'tools/dataset_converters/split.py', str(SAMPLE), '--val-fraction', '0.2',
         '--seed', '0', '--out-dir', str(tmp_path / 'split')],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    train = read_annotations(tmp_path / 'split' / 'train.json')
    val = read_annotations(tmp_path / 'split' / 'val.json')
    original = json.loads(SAMPLE.read_text())
    written = json.loads((tmp_path / 'split' / 'train.json').read_text()) + json.loads(
        (tmp_path / 'split' / 'val.json').read_text())
    assert sorted(written, key=lambda r: r['file_name']) == sorted(original,
                                                                   key=lambda r: r['file_name'])
    expected_train, expected_val = split_records(original, val_fraction=0.2, seed=0)
    assert names(train) == names(expected_train) and names(val) == names(expected_val)
    lines = {line.split()[0]: line.split()[-3:] for line in result.stdout.splitlines() if line}
    counts = Counter(s for r in val for s in set(r['syms']))
    assert lines['Pneumothorax'][2] == str(counts['Pneumothorax'])


def test_cli_out_train_and_out_val(tmp_path, capsys):
    tool = load_split_tool()
    out_train, out_val = tmp_path / 'a' / 'tr.json', tmp_path / 'b' / 'va.json'
    assert tool.main([str(SAMPLE), '--seed', '1', '--out-train', str(out_train),
                      '--out-val', str(out_val), '--classes', 'chestxdet9']) == 0
    assert len(read_annotations(out_train)) + len(read_annotations(out_val)) == 46
    table = capsys.readouterr().out
    assert 'Consolidation' in table and 'Pneumothorax' not in table


@pytest.mark.parametrize('content, message', [
    ('{"not": "a list"}', 'top level must be a list'),
    ('[{"file_name": "1.png", "syms": ["Mass"], "boxes": []}]', 'record 0'),
    ('not json', 'not valid JSON'),
])
def test_cli_bad_input_is_one_line_error(tmp_path, capsys, content, message):
    bad = tmp_path / 'bad.json'
    bad.write_text(content)
    tool = load_split_tool()
    assert tool.main([str(bad), '--out-dir', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()


def test_cli_refuses_to_overwrite_its_input(tmp_path, capsys):
    ann = tmp_path / 'train.json'
    ann.write_text(SAMPLE.read_text())
    tool = load_split_tool()
    with pytest.raises(SystemExit) as info:
        tool.main([str(ann), '--out-dir', str(tmp_path)])
    assert info.value.code == 2
    assert 'three different files' in capsys.readouterr().err
    assert ann.read_text() == SAMPLE.read_text()


# --- patient-grouped folds ---------------------------------------------------------------------

def nih_like_records(n_patients=60, seed=0):
    """Records named like NIH's (8-digit patient id, follow-up number), 1-4 images per patient,
    some negatives, several classes per image; same seed, same records."""
    rng = random.Random(seed)
    classes = ['Atelectasis', 'Cardiomegaly', 'Effusion', 'Mass', 'Nodule']
    records = []
    for patient in range(n_patients):
        for follow_up in range(rng.randint(1, 4)):
            syms = rng.sample(classes, rng.choice([0, 1, 1, 1, 2]))
            records.append(make_record(f'{patient:08d}_{follow_up:03d}', syms))
    return records


def patient(record):
    return record['file_name'][:8]


def test_kfold_every_image_in_one_val_part_no_patient_in_two_folds():
    records = nih_like_records()
    folds = kfold_records(records, folds=5, seed=0, group_regex=r'^(\d{8})_')
    assert len(folds) == 5
    val_names = [r['file_name'] for _, val in folds for r in val]
    assert sorted(val_names) == sorted(r['file_name'] for r in records)  # each once
    patients_of_fold = [{patient(r) for r in val} for _, val in folds]
    for k, (train, val) in enumerate(folds):
        assert {patient(r) for r in train}.isdisjoint(patients_of_fold[k])
        assert len(train) + len(val) == len(records)
        for j in range(k):
            assert patients_of_fold[j].isdisjoint(patients_of_fold[k])


def test_kfold_balances_classes_and_negatives():
    records = nih_like_records(n_patients=150)
    folds = kfold_records(records, folds=5, seed=1, group_regex=r'^(\d{8})_')
    total, total_neg = count_images_per_class(records)
    for _, val in folds:
        counts, negatives = count_images_per_class(val)
        for name, n in total.items():
            # A patient has at most 4 images: a fold may miss its share by a few images.
            assert abs(counts[name] - n / 5) <= 5, (name, counts[name], n / 5)
        assert abs(negatives - total_neg / 5) <= 5
        # Sizes follow the classes first: within one group (4 images) and 5 % of a fold's share.
        assert abs(len(val) - len(records) / 5) <= 4 + 0.05 * len(records) / 5


def test_kfold_same_seed_same_folds_other_seed_other_folds():
    records = nih_like_records()
    first = kfold_records(records, folds=4, seed=7, group_regex=r'^(\d{8})_')
    again = kfold_records(list(records), folds=4, seed=7, group_regex=r'^(\d{8})_')
    other = kfold_records(records, folds=4, seed=8, group_regex=r'^(\d{8})_')
    assert [names(val) for _, val in first] == [names(val) for _, val in again]
    assert [names(val) for _, val in first] != [names(val) for _, val in other]


def test_grouped_parts_keep_a_patient_together_with_a_test_part():
    records = nih_like_records()
    rest, test = grouped_parts(records, [0.85, 0.15], seed=0, group_regex=r'^(\d{8})_')
    assert {patient(r) for r in rest}.isdisjoint({patient(r) for r in test})
    assert len(rest) + len(test) == len(records)
    assert abs(len(test) - 0.15 * len(records)) <= 4


def test_group_regex_without_match_names_the_file():
    records = nih_like_records(n_patients=5) + [make_record('scan-7', ['Mass'])]
    with pytest.raises(GroupPatternError, match='scan-7.png'):
        kfold_records(records, folds=2, group_regex=r'^(\d{8})_')
    with pytest.raises(GroupPatternError, match='exactly one capture group'):
        group_ids(['00000001_000.png'], r'^\d{8}_')


def test_split_tool_writes_folds_and_test_part(tmp_path):
    ann = tmp_path / 'ann.json'
    records = nih_like_records()
    ann.write_text(json.dumps(records))
    split_tool = load_split_tool()
    assert split_tool.main([str(ann), '--folds', '3', '--group-regex', r'^(\d{8})_',
                            '--test-fraction', '0.2', '--out-dir', str(tmp_path / 'cv')]) == 0
    test = json.loads((tmp_path / 'cv' / 'test.json').read_text())
    vals = [json.loads((tmp_path / 'cv' / f'fold{k}' / 'val.json').read_text()) for k in range(3)]
    trains = [json.loads((tmp_path / 'cv' / f'fold{k}' / 'train.json').read_text())
              for k in range(3)]
    assert sorted(names(test) + [n for val in vals for n in names(val)]) == sorted(names(records))
    for train, val in zip(trains, vals):
        assert sorted(names(train) + names(val)) == sorted(set(names(records)) - set(names(test)))
    assert {patient(r) for r in test}.isdisjoint({patient(r) for val in vals for r in val})


def test_split_tool_group_regex_mismatch_is_one_line(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps([make_record('a', ['Mass']), make_record('b', [])]))
    result = subprocess.run([sys.executable,
                             str(REPO / 'tools' / 'dataset_converters' / 'split.py'), str(ann),
                             '--folds', '2', '--group-regex', r'^(\d{8})_',
                             '--out-dir', str(tmp_path / 'o')],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0 and 'a.png' in result.stderr
