"""tools/analysis_tools/plot_curves.py, tools/analysis_tools/dataset_stats.py and
tools/analysis_tools/compare.py end to end."""
import importlib
import json
import os.path as osp
import subprocess
import sys

import numpy as np

from tests.engine.tool_runs import tool_path

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = osp.join(REPO_ROOT, 'tests', 'fixtures', 'chestxdet_sample.json')
PHANTOM = osp.join(REPO_ROOT, 'configs', 'tb_retinanet', 'phantom', 'retinanet_r18_fpn_phantom.py')


def run_tool(name, *args):
    return subprocess.run([sys.executable, tool_path(name), *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def write_scalars(work_dir, per_class_ap):
    """A one-epoch run whose validation gives ``per_class_ap`` ({class: AP50})."""
    path = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    entries = [{'lr': 0.001 * i, 'loss': 2.0 / i, 'loss_cls': 1.0 / i, 'loss_bbox': 1.0 / i,
                'epoch': 1, 'iter': i, 'step': i} for i in range(1, 6)]
    val = {f'chestxdet/AP50/{n}': v for n, v in per_class_ap.items()}
    val.update({f'chestxdet/FROC/{n}': v for n, v in per_class_ap.items()})
    val.update({'chestxdet/mAP50': float(np.mean(list(per_class_ap.values()))), 'step': 1})
    entries.append(val)
    path.write_text(''.join(json.dumps(e) + '\n' for e in entries))


def test_plot_curves_writes_the_pngs(tmp_path):
    write_scalars(tmp_path / 'run', {'Nodule': 0.3, 'Mass': 0.5})
    proc = run_tool('plot_curves', tmp_path / 'run')
    assert proc.returncode == 0, proc.stderr
    for name in ('loss.png', 'lr.png', 'ap50_per_class.png', 'froc_per_class.png'):
        assert (tmp_path / 'run' / 'curves' / name).stat().st_size > 1000, name


def test_plot_curves_missing_work_dir_is_one_error_line(tmp_path):
    proc = run_tool('plot_curves', tmp_path / 'nope')
    assert proc.returncode == 2
    assert proc.stderr.strip() == f'error: {tmp_path / "nope"}: no such work dir'


def test_compare_marks_the_best_run_and_writes_markdown(tmp_path):
    write_scalars(tmp_path / 'a', {'Nodule': 0.30, 'Mass': 0.70})
    write_scalars(tmp_path / 'b', {'Nodule': 0.45, 'Mass': 0.20})
    out = tmp_path / 'tables' / 'ap50.md'
    proc = run_tool('compare', tmp_path / 'a', tmp_path / 'b', '--out', out)
    assert proc.returncode == 0, proc.stderr
    table = out.read_text()
    assert table in proc.stdout
    assert '| Nodule | 0.300 | **0.450** |' in table
    assert '| Mass | **0.700** | 0.200 |' in table
    proc = run_tool('compare', tmp_path / 'a', tmp_path / 'missing')
    assert proc.returncode == 2 and proc.stderr.startswith('error: ')
    assert len(proc.stderr.strip().splitlines()) == 1
    for val_at in ('common', '1'):
        proc = run_tool('compare', tmp_path / 'a', tmp_path / 'b', '--val-at', val_at)
        assert proc.returncode == 0, proc.stderr
        assert '| AP50 | a (val epoch 1) | b (val epoch 1) |' in proc.stdout
    proc = run_tool('compare', tmp_path / 'a', tmp_path / 'missing', '--val-at', 'common')
    assert proc.returncode == 2 and proc.stderr.startswith('error: ')
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_tool('compare', tmp_path / 'a', '--val-at', '7')
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith('no validation with AP50 at epoch 7 (validated at: 1)')
    proc = run_tool('compare', tmp_path / 'a', '--val-at', 'last')
    assert proc.returncode == 2 and '--val-at takes an epoch number or "common"' in proc.stderr


def test_dataset_stats_writes_tables_json_and_heatmap(tmp_path):
    proc = run_tool('dataset_stats', FIXTURE, '--out', tmp_path / 'stats')
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / 'stats' / 'stats.json').read_text())
    records = json.loads(open(FIXTURE).read())
    assert stats['n_boxes'] == sum(len(r['boxes']) for r in records)
    assert 'anchor_coverage' not in stats
    assert (tmp_path / 'stats' / 'cooccurrence.png').stat().st_size > 1000
    assert 'Consolidation' in (tmp_path / 'stats' / 'stats.txt').read_text()
    proc = run_tool('dataset_stats', FIXTURE, '--classes', 'Nodule,Nodule')
    assert proc.returncode == 2 and proc.stderr.startswith('error: --classes: duplicate')


def test_dataset_stats_with_a_config_adds_anchor_coverage(tmp_path, capsys):
    # The phantom config resizes to 256 px: the 1024 px boxes are scaled by 1/4 first.
    argv = [FIXTURE, '--config', PHANTOM, '--out', str(tmp_path)]
    assert importlib.import_module('tools.analysis_tools.dataset_stats').main(argv) == 0
    out = capsys.readouterr().out
    assert 'anchor coverage' in out
    # The fixture's 13 classes under the 9-class config: the build would stop at four of them.
    assert "note: 4 class(es) of this file are not in the config's 9-class list (" in out
    assert 'the chestxdet13 classes cover them all' in out
    coverage = json.loads((tmp_path / 'stats.json').read_text())['anchor_coverage']
    assert coverage['input_size'] == [256, 256] and coverage['pos_iou_thr'] == 0.5
    records = json.loads(open(FIXTURE).read())
    assert coverage['all']['boxes'] == sum(len(r['boxes']) for r in records)
    shares = [e['covered']['0.5'] for e in coverage['per_class'].values()]
    assert len(shares) == 13 and all(0 <= s <= 1 for s in shares)
