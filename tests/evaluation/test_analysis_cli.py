"""tools/evaluate.py --analysis: every file written (galleries from real radiographs, a missing
image skipped with a count), output without --analysis unchanged, thresholds round trip, and one
error line per bad input."""
import json
import os.path as osp
import sys

import pytest

from tbmm.datasets.annotations import read_annotations, write_annotations
from tbmm.evaluation.functional import evaluate_records, format_table, load_thresholds
from tests.evaluation.analysis_cases import record

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REAL = osp.join(REPO_ROOT, 'tests', 'fixtures', 'real')
PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def cli():
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    try:
        import evaluate
    finally:
        sys.path.pop(0)
    return evaluate


def real_case(tmp_path):
    """The five real radiographs' ChestX-Det boxes plus one record whose image is not in the
    folder; hand-made predictions with a TP, FPs of several kinds and misses."""
    gt = [{k: r[k] for k in ('file_name', 'syms', 'boxes')}
          for r in read_annotations(osp.join(REAL, 'chestxdet_real.json'))]
    gt.append(record('not_there.png', ['Nodule'], [[10, 10, 60, 60]]))
    pred = [
        record('00003400_003.png', ['Effusion', 'Fracture', 'Nodule'],
               [[809, 498, 885, 595], [640, 230, 700, 280], [500, 500, 560, 560]],
               [0.9, 0.8, 0.7]),
        record('00003064_035.png', ['Effusion', 'Consolidation'],
               [[520, 502, 789, 809], [135, 569, 362, 849]], [0.85, 0.6]),
        record('00021489_013.png', ['Consolidation', 'Consolidation'],
               [[526, 239, 865, 703], [530, 240, 860, 700]], [0.95, 0.5]),
        record('00003148_004.png', ['Mass'], [[300, 300, 400, 420]], [0.65]),
        record('not_there.png', ['Nodule'], [[300, 300, 340, 340]], [0.95]),
    ]
    write_annotations(tmp_path / 'gt.json', gt)
    write_annotations(tmp_path / 'pred.json', pred)
    return str(tmp_path / 'gt.json'), str(tmp_path / 'pred.json')


def test_analysis_writes_every_file(cli, tmp_path, capsys):
    ann, pred = real_case(tmp_path)
    out = tmp_path / 'analysis'
    assert cli.main(['--ann', ann, '--pred', pred, '--classes', 'chestxdet13', '--analysis',
                     str(out), '--img-dir', osp.join(REAL, 'images'),
                     '--out', str(tmp_path / 'm.json')]) == 0
    stdout = capsys.readouterr().out
    # Six images have something in a gallery; one of them is not in the folder.
    assert "gallery: 1 of 6 image(s) not found in" in stdout and "'not_there.png'" in stdout
    assert 'Where AP50 is lost' in stdout and 'gallery crop(s)' in stdout

    metrics = json.loads((tmp_path / 'm.json').read_text())
    confusion = json.loads((out / 'confusion.json').read_text())
    errors = json.loads((out / 'errors.json').read_text())
    per_image = json.loads((out / 'per_image.json').read_text())
    classes = metrics['classes']
    assert confusion['labels'] == classes + ['background']
    rows = [sum(row) for row in confusion['matrix'][:-1]]
    assert rows == [metrics['per_class'][c]['n_gt'] for c in classes]
    for name in classes:
        assert errors['per_class'][name]['ap50'] == metrics['per_class'][name]['ap50']
    assert [im['file_name'] for im in per_image['images']] == [
        r['file_name'] for r in read_annotations(ann)]
    # The duplicate Consolidation on the Consolidation + Diffuse Nodule + Effusion box.
    image = next(im for im in per_image['images'] if im['file_name'] == '00021489_013.png')
    assert [f['kind'] for f in image['fp']] == ['duplicate']
    assert (out / 'confusion.png').read_bytes()[:8] == PNG

    with_gt = [c for c in classes if metrics['per_class'][c]['n_gt']]
    for name in with_gt:
        slug = name.replace(' ', '_')
        for kind in ('pr', 'f1', 'froc'):
            assert (out / 'curves' / f'{slug}_{kind}.png').read_bytes()[:8] == PNG
    assert not (out / 'curves' / 'Mass_pr.png').exists()  # no Mass ground truth: no curves
    gallery = sorted(p.relative_to(out / 'gallery').as_posix()
                     for p in (out / 'gallery').rglob('*.png'))
    assert 'Consolidation/fp_01_00021489_013.png' in gallery
    assert 'Mass/fp_01_00003148_004.png' in gallery
    assert 'Pleural_Thickening/missed_01_00003400_003.png' in gallery
    assert not any('not_there' in name for name in gallery)
    assert f'{len(gallery)} gallery crop(s)' in stdout

    # The best-F1 thresholds load as a thresholds.json and feed back into --thresholds.
    best = load_thresholds(out / 'best_f1_thresholds.json')
    assert best and all(0 <= t <= 1 for t in best.values())
    again = tmp_path / 'again'
    assert cli.main(['--ann', ann, '--pred', pred, '--classes', 'chestxdet13', '--analysis',
                     str(again), '--thresholds', str(out / 'best_f1_thresholds.json'),
                     '--score-thr', '0.2']) == 0
    settings = json.loads((again / 'confusion.json').read_text())['settings']
    assert settings['score_thr'] == {c: best.get(c, 0.2) for c in classes}
    assert not (again / 'gallery').exists()


def test_output_without_analysis_is_unchanged(cli, tmp_path, capsys):
    ann, pred = real_case(tmp_path)
    assert cli.main(['--ann', ann, '--pred', pred, '--classes', 'chestxdet13']) == 0
    expected = format_table(evaluate_records(read_annotations(ann),
                                             read_annotations(pred, require_scores=True),
                                             cli.parse_class_list('chestxdet13')))
    assert capsys.readouterr().out == expected + '\n'


def test_one_and_two_classes(cli, tmp_path, capsys):
    box = [10.0, 10.0, 60.0, 60.0]
    gt = [record('a.png', ['Nodule'], [box]), record('b.png')]
    pred = [record('a.png', ['Nodule', 'Mass'], [box, box], [0.9, 0.8]),
            record('b.png', ['Nodule'], [box], [0.5])]
    write_annotations(tmp_path / 'gt.json', gt)
    write_annotations(tmp_path / 'pred.json', pred)
    for classes, matrix in (('Nodule,', [[1, 0], [1, 0]]),
                            ('Nodule,Mass', [[1, 0, 0], [0, 0, 0], [1, 1, 0]])):
        out = tmp_path / classes.replace(',', '_')
        assert cli.main(['--ann', str(tmp_path / 'gt.json'), '--pred', str(tmp_path / 'pred.json'),
                         '--classes', classes, '--analysis', str(out)]) == 0
        assert json.loads((out / 'confusion.json').read_text())['matrix'] == matrix
    assert 'Ignored boxes of classes outside the class list in predictions: Mass x1.' in \
        capsys.readouterr().out


def one_error_line(cli, capsys, argv):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == '' and len(lines) == 1 and lines[0].startswith('error: '), captured
    return lines[0]


def test_bad_inputs_give_one_line_each(cli, tmp_path, capsys):
    box = [10.0, 10.0, 60.0, 60.0]
    write_annotations(tmp_path / 'gt.json', [record('a.png', ['Nodule'], [box])])
    ann = str(tmp_path / 'gt.json')

    def pred_file(name, text):
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    logits = pred_file('logits.json', json.dumps([record('a.png', ['Nodule'], [box], [2.5])]))
    line = one_error_line(cli, capsys, ['--ann', ann, '--pred', logits])
    assert "record 0 ('a.png'): score 2.5 of box 0 is outside [0, 1]" in line
    nan_box = pred_file('nan.json', '[{"file_name": "a.png", "syms": ["Nodule"], '
                                    '"boxes": [[10, NaN, 60, 60]], "scores": [0.5]}]')
    assert 'non-finite' in one_error_line(cli, capsys, ['--ann', ann, '--pred', nan_box])
    nan_score = pred_file('nan_score.json', '[{"file_name": "a.png", "syms": ["Nodule"], '
                                            '"boxes": [[10, 10, 60, 60]], "scores": [NaN]}]')
    assert '"scores"' in one_error_line(cli, capsys, ['--ann', ann, '--pred', nan_score])

    pred = pred_file('pred.json', json.dumps([record('a.png', ['Nodule'], [box], [0.5])]))
    base = ['--ann', ann, '--pred', pred]
    assert '--img-dir need(s) --analysis' in one_error_line(
        cli, capsys, base + ['--img-dir', str(tmp_path)])
    out = str(tmp_path / 'out')
    assert 'not a folder' in one_error_line(
        cli, capsys, base + ['--analysis', out, '--img-dir', str(tmp_path / 'nope')])
    assert '[0, 1]' in one_error_line(cli, capsys, base + ['--analysis', out, '--score-thr', '2'])
    thresholds = pred_file('t.json', json.dumps({'classes': {'Nodle': {'threshold': 0.5}}}))
    assert "not evaluated: 'Nodle'" in one_error_line(
        cli, capsys, base + ['--analysis', out, '--thresholds', thresholds])
    thresholds = pred_file('t2.json', json.dumps({'classes': {'Nodule': 1.5}}))
    assert 'in [0, 1]' in one_error_line(
        cli, capsys, base + ['--analysis', out, '--thresholds', thresholds])
    assert not osp.exists(out)  # nothing written on bad input
