"""Fold ensembles (tbmm.apis.ensemble, tools/infer.py and tools/test.py with several checkpoints):
detections of several checkpoints fused with weighted boxes fusion, class by class."""
import importlib
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from tbmm.datasets.annotations import read_annotations
from tbmm.utils import run_cli

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO_ROOT, 'tests', 'fixtures', 'configs', 'phantom_tiny.py')
# Every box above zero, so the models' lists are long and overlap.
PREDICT = {'model.test_cfg.score_thr': 0.0, 'model.test_cfg.max_per_img': 30}


def data_options(root):
    opts = {}
    for split in ('train', 'val', 'test'):
        opts[f'{split}_dataloader.dataset.data_root'] = str(root) + '/'
    opts['test_dataloader.dataset.indices'] = 4
    return opts


def cli_options(options):
    return ['--cfg-options', *(f'{k}={v}' for k, v in options.items())]


@pytest.fixture(scope='module')
def trained(tiny_phantom, tmp_path_factory):
    """Checkpoints of the tiny phantom config trained one short epoch with seeds 0 and 1, and a
    copy of seed 0's with a few weights nudged."""
    from tbmm.apis import prepare_train_config, run_train

    paths = {}
    for seed in (0, 1):
        work_dir = tmp_path_factory.mktemp(f'fold{seed}')
        cfg = prepare_train_config(TINY, work_dir=str(work_dir), cfg_options={
            **data_options(tiny_phantom), 'train_dataloader.dataset.indices': 6,
            'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 5,
            'randomness.seed': seed})
        run_train(cfg)
        paths[f'seed{seed}'] = str(work_dir / 'epoch_1.pth')
    # A close neighbour of seed 0's first model (its box regression and class biases nudged):
    # nearly every box of the two is fused, with coordinates and scores of both.
    saved = torch.load(paths['seed0'], weights_only=False)
    generator = torch.Generator().manual_seed(0)
    state = saved['state_dict']
    reg = 'bbox_head.retina_reg.weight'
    state[reg] = state[reg] + 0.05 * state[reg].std() * torch.randn(state[reg].shape,
                                                                     generator=generator)
    cls = 'bbox_head.retina_cls.bias'
    state[cls] = state[cls] + 0.05 * torch.randn(state[cls].shape, generator=generator)
    paths['seed0_nudged'] = str(tmp_path_factory.mktemp('nudged') / 'seed0_nudged.pth')
    torch.save(saved, paths['seed0_nudged'])
    return paths


@pytest.fixture(scope='module')
def folds(trained):
    """Two models trained with different seeds, as two folds of a cross-validation are."""
    return [trained['seed0'], trained['seed1']]


@pytest.fixture(scope='module')
def test_images(tiny_phantom):
    records = read_annotations(tiny_phantom / 'annotation' / 'test.json')[:4]
    return [str(tiny_phantom / 'test_data' / r['file_name']) for r in records]


def predictions(model, paths, pipeline=None):
    from tbmm.apis.inference import iter_predictions

    out = []
    for result in iter_predictions(model, paths, batch_size=2, pipeline=pipeline):
        assert result.error is None, result.error
        pred = result.sample.pred_instances
        out.append((result.sample.metainfo['ori_shape'][:2], pred.bboxes.numpy().astype(np.float64),
                    pred.scores.numpy().astype(np.float64), pred.labels.numpy()))
    return out


def by_label_and_score(boxes, scores, labels):
    order = np.lexsort((-scores, labels))
    return boxes[order], scores[order], labels[order]


@pytest.mark.parametrize('pair', [('seed0', 'seed1'),
                                  # two close models: most of their boxes are fused
                                  ('seed0', 'seed0_nudged')])
def test_fused_boxes_are_weighted_boxes_fusion_of_the_models_predictions(pair, trained,
                                                                         test_images):
    from ensemble_boxes import weighted_boxes_fusion

    from tbmm.apis.ensemble import WBFEnsembleModel, init_ensemble_model
    from tbmm.apis.inference import init_model

    folds = [trained[name] for name in pair]

    singles = [predictions(init_model(TINY, path, cfg_options=PREDICT), test_images)
               for path in folds]
    ensemble = init_ensemble_model(TINY, folds, cfg_options=PREDICT, max_per_img=1000)
    assert isinstance(ensemble, WBFEnsembleModel) and len(ensemble.models) == 2
    fused = predictions(ensemble, test_images)
    n_fused = n_input = 0
    for (shape, boxes, scores, labels), first, second in zip(fused, *singles):
        height, width = shape
        scale = np.array([width, height, width, height], dtype=np.float64)
        assert len(first[1]) and len(second[1])
        assert not (len(first[1]) == len(second[1]) and np.allclose(first[1], second[1])), \
            'two seeds should give two different models'
        # WBF by hand: ensemble_boxes itself keeps the classes apart by their labels.
        ref_boxes, ref_scores, ref_labels = weighted_boxes_fusion(
            [np.clip(first[1] / scale, 0, 1), np.clip(second[1] / scale, 0, 1)],
            [first[2], second[2]], [first[3], second[3]], iou_thr=0.55, skip_box_thr=0.0,
            conf_type='avg')
        ref = by_label_and_score(ref_boxes * scale, ref_scores, ref_labels.astype(int))
        got = by_label_and_score(boxes, scores, labels)
        np.testing.assert_array_equal(got[2], ref[2])
        np.testing.assert_allclose(got[1], ref[1], atol=1e-6)
        np.testing.assert_allclose(got[0], ref[0], atol=1e-3)
        n_fused += len(scores)
        n_input += len(first[2]) + len(second[2])
    assert n_fused < n_input, 'some boxes of the two models should have been fused'
    if pair[1] == 'seed0_nudged':
        assert n_fused < 0.75 * n_input, (n_fused, n_input)


def test_one_checkpoint_given_twice_gives_its_own_predictions(folds, test_images):
    from tbmm.apis.ensemble import init_ensemble_model
    from tbmm.apis.inference import init_model

    single = predictions(init_model(TINY, folds[0], cfg_options=PREDICT), test_images)
    twice = predictions(init_ensemble_model(TINY, [folds[0], folds[0]], cfg_options=PREDICT),
                        test_images)
    for (_, boxes, scores, labels), (_, ref_boxes, ref_scores, ref_labels) in zip(twice, single):
        assert len(scores) == len(ref_scores) > 0
        got, ref = (by_label_and_score(boxes, scores, labels),
                    by_label_and_score(ref_boxes, ref_scores, ref_labels))
        np.testing.assert_array_equal(got[2], ref[2])
        np.testing.assert_allclose(got[1], ref[1], atol=1e-6)
        np.testing.assert_allclose(got[0], ref[0], atol=1e-3)


class _StubDetector(torch.nn.Module):
    """Finds fixed boxes (original pixels) in any view; on a flipped view it reports them
    mirrored, as a real detector's output then is."""

    def __init__(self, boxes, scores, labels):
        super().__init__()
        self.boxes, self.scores, self.labels = boxes, scores, labels
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def test_step(self, data):
        out = []
        for sample in data['data_samples']:
            boxes = torch.tensor(self.boxes, dtype=torch.float32)
            if sample.metainfo.get('flip'):
                width = sample.metainfo['ori_shape'][1]
                boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0],
                                     boxes[:, 3]], dim=1)
            pred = InstanceData()
            pred.bboxes = boxes
            pred.scores = torch.tensor(self.scores)
            pred.labels = torch.tensor(self.labels)
            sample.pred_instances = pred  # into the sample it was given, as mmdet's detectors do
            out.append(sample)
        return out


def _sample(flip=None):
    from mmdet.structures import DetDataSample

    meta = dict(ori_shape=(100, 120), img_id='x.png')
    if flip is not None:
        meta.update(flip=flip, flip_direction='horizontal' if flip else None)
    return DetDataSample(metainfo=meta)


def test_identical_boxes_of_different_classes_survive_the_fusion():
    from tbmm.apis.ensemble import WBFEnsembleModel

    box = [10.0, 20.0, 50.0, 60.0]
    ensemble = WBFEnsembleModel(modules=[_StubDetector([box, box], [0.8, 0.6], [0, 2]),
                                         _StubDetector([box, box], [0.6, 0.4], [0, 2])])
    (merged, ) = ensemble.test_step(dict(inputs=[torch.zeros(1)], data_samples=[_sample()]))
    pred = merged.pred_instances
    assert pred.labels.tolist() == [0, 2]
    np.testing.assert_allclose(pred.bboxes.numpy(), [box, box], atol=1e-4)
    np.testing.assert_allclose(pred.scores.numpy(), [0.7, 0.5], atol=1e-6)


def test_with_tta_every_models_views_are_fused_together():
    from tbmm.apis.ensemble import WBFEnsembleModel

    box = [10.0, 20.0, 30.0, 50.0]
    ensemble = WBFEnsembleModel(modules=[_StubDetector([box], [0.8], [3]),
                                         _StubDetector([box], [0.4], [3]),
                                         _StubDetector([[70.0, 70.0, 90.0, 90.0]], [0.8], [3])])
    # TestTimeAug data after pseudo_collate: one list per view.
    data = dict(inputs=[[torch.zeros(1)], [torch.zeros(1)]],
                data_samples=[[_sample(flip=False)], [_sample(flip=True)]])
    (merged, ) = ensemble.test_step(data)
    assert merged.metainfo['flip'] is False  # the first view's sample carries the result
    pred = merged.pred_instances
    np.testing.assert_allclose(pred.bboxes.numpy(), [box, [70, 70, 90, 90]], atol=1e-3)
    # Six lists (3 models x 2 views): the first box in four of them, the other in two.
    np.testing.assert_allclose(pred.scores.numpy(), [(0.8 + 0.8 + 0.4 + 0.4) / 6, 0.8 * 2 / 6],
                               atol=1e-6)


def test_test_tool_with_two_checkpoints_writes_the_fused_metrics(folds, tiny_phantom, tmp_path,
                                                                 test_images, capsys):
    from tbmm.apis.ensemble import init_ensemble_model

    options = {**data_options(tiny_phantom), **PREDICT}
    argv = [TINY, *folds, '--work-dir', str(tmp_path), *cli_options(options)]
    assert run_cli(importlib.import_module('tools.test').main, argv) == 0
    out = capsys.readouterr().out
    assert 'Ensemble of 2 checkpoints' in out
    metrics = json.loads((tmp_path / 'test.metrics.json').read_text())
    assert metrics['images']['n_images'] == 4
    assert 0.0 <= metrics['overall']['ap50'] <= 1.0
    # What the Runner evaluated are the fused detections tools/infer.py makes of the same images.
    tested = {r['file_name']: r for r in read_annotations(tmp_path / 'test.predictions.json',
                                                          require_scores=True)}
    fused = predictions(init_ensemble_model(TINY, folds, cfg_options=PREDICT), test_images)
    for path, (_, boxes, scores, _) in zip(test_images, fused):
        record = tested[osp.basename(path)]
        np.testing.assert_allclose(sorted(record['scores'], reverse=True), scores, atol=1e-5)


def test_infer_tool_with_two_checkpoints_and_tta(folds, test_images, tmp_path, capsys):
    argv = [TINY, *folds, test_images[0], '--out-dir', str(tmp_path / 'out'), '--tta',
            '--no-progress', *cli_options(PREDICT)]
    assert run_cli(importlib.import_module('tools.infer').main, argv) == 0
    assert 'ensemble:    2 checkpoints' in capsys.readouterr().out
    (pred, ) = read_annotations(tmp_path / 'out' / 'predictions.json', require_scores=True)
    assert pred['file_name'] == osp.basename(test_images[0]) and pred['boxes']
    assert len(pred['boxes']) <= 30


def test_test_tool_with_two_checkpoints_and_tta(folds, tiny_phantom, tmp_path):
    from tbmm.apis.runner import test_ensemble

    metrics, result = test_ensemble(TINY, folds, work_dir=str(tmp_path), tta=True,
                                    cfg_options={**data_options(tiny_phantom), **PREDICT})
    assert 'chestxdet/mAP50' in metrics and result['images']['n_images'] == 4


def test_one_checkpoint_in_a_list_is_the_plain_test(folds, tmp_path):
    from tbmm.apis import prepare_test_config

    cfg = prepare_test_config(TINY, [folds[0]], work_dir=str(tmp_path))
    assert cfg.load_from == folds[0] and cfg.model.type != 'WBFEnsembleModel'
    assert any(h['type'] == 'CheckpointFitsModelHook' for h in cfg.custom_hooks)
    cfg = prepare_test_config(TINY, folds, work_dir=str(tmp_path), tta=True)
    assert cfg.load_from is None and cfg.model.type == 'WBFEnsembleModel'
    assert cfg.model.checkpoints == folds and len(cfg.model.modules) == 2
    assert cfg.test_dataloader.dataset.pipeline[-1]['type'] == 'TestTimeAug'


@pytest.fixture(scope='module')
def bad_checkpoints(folds, tmp_path_factory):
    root = tmp_path_factory.mktemp('bad')
    saved = torch.load(folds[0], weights_only=False)
    mismatched = dict(saved, state_dict={k: v for k, v in saved['state_dict'].items()
                                         if not k.startswith('bbox_head.retina_cls')})
    torch.save(mismatched, root / 'mismatched.pth')
    other_classes = dict(saved, meta=dict(saved['meta'], dataset_meta=dict(
        saved['meta']['dataset_meta'], classes=tuple(reversed(
            saved['meta']['dataset_meta']['classes'])))))
    torch.save(other_classes, root / 'reversed_classes.pth')
    return root


@pytest.mark.parametrize('tool', ['test', 'infer'])
@pytest.mark.parametrize('case', ['missing', 'mismatched', 'reversed_classes'])
def test_a_bad_checkpoint_of_an_ensemble_is_one_error_line_naming_it(
        tool, case, folds, bad_checkpoints, test_images, tmp_path, capsys):
    bad = str(bad_checkpoints / f'{case}.pth')
    argv = [TINY, folds[0], bad]
    argv += (['--work-dir', str(tmp_path)] if tool == 'test'
             else [test_images[0], '--out-dir', str(tmp_path / 'out'), '--no-progress'])
    assert run_cli(importlib.import_module(f'tools.{tool}').main, argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
    assert len(err) == 1, err
    expected = {'missing': f'error: checkpoint not found: {bad}',
                'mismatched': f"error: {bad}: this checkpoint does not fit the config's model",
                'reversed_classes': f'error: {bad}: this checkpoint names the classes'}[case]
    assert err[0].startswith(expected), err[0]
