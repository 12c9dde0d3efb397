"""tools/analysis_tools/baseline.py: each class's typical training box on every image of another
file."""
import importlib.util
import json
from pathlib import Path

from tbmm.utils import run_cli

REPO = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'baseline_tool', REPO / 'tools' / 'analysis_tools' / 'baseline.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_image_gets_each_class_typical_box(tmp_path):
    train = [dict(file_name='t1.png', syms=['Mass'], boxes=[[10, 20, 50, 60]]),
             dict(file_name='t2.png', syms=['Mass', 'Nodule'],
                  boxes=[[10, 20, 50, 60], [1, 1, 5, 5]]),
             dict(file_name='t3.png', syms=[], boxes=[])]
    images = [dict(file_name='v1.png', syms=[], boxes=[]),
              dict(file_name='v2.png', syms=['Mass'], boxes=[[0, 0, 9, 9]])]
    (tmp_path / 'train.json').write_text(json.dumps(train))
    (tmp_path / 'val.json').write_text(json.dumps(images))
    out = tmp_path / 'pred.json'
    assert run_cli(load_tool().main, ['--train', str(tmp_path / 'train.json'), '--images',
                                      str(tmp_path / 'val.json'), '--classes', 'Mass,Nodule',
                                      '--out', str(out)]) == 0
    pred = json.loads(out.read_text())
    assert [r['file_name'] for r in pred] == ['v1.png', 'v2.png']
    for record in pred:
        boxes = dict(zip(record['syms'], record['boxes']))
        assert boxes == {'Mass': [10, 20, 50, 60], 'Nodule': [1, 1, 5, 5]}
        scores = dict(zip(record['syms'], record['scores']))
        # Mass is in 2 of 3 training images, Nodule in 1: Mass ranks first.
        assert scores['Mass'] > scores['Nodule'] > 0


def test_missing_training_file_is_one_error_line(tmp_path, capsys):
    (tmp_path / 'val.json').write_text('[]')
    assert run_cli(load_tool().main, ['--train', str(tmp_path / 'nope.json'), '--images',
                                      str(tmp_path / 'val.json'), '--out',
                                      str(tmp_path / 'p.json')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'nope.json' in err
