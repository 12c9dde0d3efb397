"""Same seed, deterministic mode: two CPU training runs give identical weights, losses and
validation results; another seed gives different ones (so the comparison can fail)."""
import json

import torch

from tests.engine.tool_runs import (
    PREDICT_ALL,
    TINY_CONFIG,
    data_overrides,
    load_checkpoint,
    run_tool,
    tail,
)


def train(root, work_dir, seed):
    proc = run_tool(
        'train', TINY_CONFIG, '--work-dir', work_dir, '--cfg-options',
        *data_overrides(root, train_images=6, test_images=3), *PREDICT_ALL,
        'train_cfg.max_epochs=1', f'randomness.seed={seed}', 'randomness.deterministic=True',
        f'val_evaluator.outfile_prefix={work_dir}/val')
    assert proc.returncode == 0, tail(proc.stdout + proc.stderr)
    [scalars] = work_dir.glob('*/vis_data/scalars.json')
    return dict(
        weights=load_checkpoint(work_dir / 'epoch_1.pth')['state_dict'],
        losses=[(r['step'], r['loss']) for r in map(json.loads, scalars.open()) if 'loss' in r],
        predictions=json.loads((work_dir / 'val.predictions.json').read_text()),
        metrics=json.loads((work_dir / 'val.metrics.json').read_text()))


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_trains_the_same_model_twice(tiny_phantom, tmp_path):
    first = train(tiny_phantom, tmp_path / 'seed0_a', seed=0)
    second = train(tiny_phantom, tmp_path / 'seed0_b', seed=0)
    other = train(tiny_phantom, tmp_path / 'seed1', seed=1)

    assert len(first['losses']) == 3 and sum(len(r['boxes']) for r in first['predictions']) > 0
    assert same_weights(first['weights'], second['weights'])
    assert first['losses'] == second['losses']
    assert first['predictions'] == second['predictions']
    assert first['metrics'] == second['metrics']

    assert not same_weights(first['weights'], other['weights'])
    assert first['losses'] != other['losses']
