"""Training, testing and resuming through the same functions the tools use."""
import glob
import json
import math
import os.path as osp

import pytest
import torch

from tbmm.apis import prepare_test_config, prepare_train_config, run_test, run_train

MAIN = 'configs/tb_retinanet/retinanet_r101_fpn_10e_chestxdet.py'
PHANTOM = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom.py'


def data_options(root, image_size=None):
    opts = {}
    for split, ann, img in (('train', 'train', 'train_data'), ('val', 'test', 'test_data'),
                            ('test', 'test', 'test_data')):
        opts[f'{split}_dataloader.dataset.data_root'] = str(root) + '/'
        opts[f'{split}_dataloader.dataset.ann_file'] = f'annotation/{ann}.json'
        opts[f'{split}_dataloader.dataset.data_prefix'] = dict(img=f'{img}/')
        opts[f'{split}_dataloader.num_workers'] = 0
        opts[f'{split}_dataloader.persistent_workers'] = False
    return opts


def set_image_scale(cfg, scale):
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        if loader is None:
            continue
        for t in loader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = scale


def test_one_iteration_of_the_real_r101_config(tiny_phantom, tmp_path, repo_root):
    opts = data_options(tiny_phantom)
    opts.update({
        'model.backbone.init_cfg': None,  # no ImageNet download in tests
        'train_dataloader.dataset.indices': 2,
        'train_cfg.max_epochs': 1,
        'default_hooks.checkpoint.save_best': None,
    })
    cfg = prepare_train_config(str(repo_root / MAIN), work_dir=str(tmp_path), cfg_options=opts)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    set_image_scale(cfg, (128, 128))
    runner = None
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    model = runner.model
    assert model.backbone.depth == 101 and model.bbox_head.num_classes == 9
    before = model.bbox_head.retina_cls.weight.detach().clone()
    runner.train()
    assert runner.iter == 1
    after = runner.model.bbox_head.retina_cls.weight.detach()
    assert not torch.equal(before, after), 'one optimizer step should change the head'
    assert torch.isfinite(after).all()
    scalars = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    assert scalars
    losses = [json.loads(line) for line in open(scalars[0])]
    assert all(torch.isfinite(torch.tensor(rec['loss'])) for rec in losses if 'loss' in rec)


@pytest.fixture(scope='module')
def trained_phantom(tiny_phantom, tmp_path_factory, repo_root):
    """The phantom config trained for 2 short epochs on the tiny set (shared by the tests below)."""
    work_dir = tmp_path_factory.mktemp('phantom_run')
    opts = data_options(tiny_phantom)
    opts.update({'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 1})
    cfg = prepare_train_config(str(repo_root / PHANTOM), work_dir=str(work_dir), cfg_options=opts)
    set_image_scale(cfg, (128, 128))
    run_train(cfg)
    return work_dir, opts


def test_training_keeps_best_and_epoch_checkpoints(trained_phantom):
    work_dir, _ = trained_phantom
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    assert glob.glob(osp.join(work_dir, 'best_chestxdet_mAP50_epoch_*.pth'))


def test_resume_round_trip(trained_phantom, tmp_path, repo_root):
    work_dir, opts = trained_phantom
    # Epochs 1-2 ran on the 24 training images in batches of 4 (the phantom config): 6 iterations
    # each. The resumed epoch 3 runs on 22 of them: DefaultSampler yields all 22 and the
    # DataLoader keeps the last, short batch (drop_last=False), so ceil(22 / 4) = 6 iterations
    # (5 if it were dropped). A resume that retrained from scratch would reach 18 + 12.
    opts = dict(opts, **{'train_cfg.max_epochs': 3, 'train_dataloader.dataset.indices': 22})
    cfg = prepare_train_config(str(repo_root / PHANTOM), work_dir=str(tmp_path), cfg_options=opts,
                               resume=osp.join(work_dir, 'epoch_2.pth'))
    set_image_scale(cfg, (128, 128))
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.train_dataloader.get('batch_sampler') is None
    assert not cfg.train_dataloader.get('drop_last', False)
    runner = run_train(cfg)
    assert len(runner.train_dataloader.dataset) == 22
    assert runner.epoch == 3 and runner.iter == 2 * math.ceil(24 / 4) + math.ceil(22 / 4) == 18
    assert osp.isfile(osp.join(tmp_path, 'epoch_3.pth'))
    assert not osp.isfile(osp.join(tmp_path, 'epoch_1.pth')), 'resume must not retrain epoch 1'


def test_checkpoint_loads_in_test(trained_phantom, tmp_path, repo_root):
    work_dir, opts = trained_phantom
    cfg = prepare_test_config(str(repo_root / PHANTOM), osp.join(work_dir, 'epoch_2.pth'),
                              work_dir=str(tmp_path), cfg_options=opts)
    set_image_scale(cfg, (128, 128))
    metrics, result = run_test(cfg)
    assert 'chestxdet/mAP50' in metrics
    assert 0.0 <= metrics['chestxdet/mAP50'] <= 1.0
    assert osp.isfile(osp.join(tmp_path, 'test.metrics.json'))
    assert result['overall']['ap50'] == pytest.approx(metrics['chestxdet/mAP50'], abs=1e-4)
    assert set(result['per_class']) == set(cfg.test_dataloader.dataset.metainfo.classes)


def test_mixed_precision_testing_agrees_with_float32(trained_phantom, tmp_path, repo_root,
                                                      monkeypatch):
    """tools/test.py --amp: MMEngine's TestLoop runs the network under bfloat16 autocast on the
    CPU, and the detections' scores stay those of float32."""
    from mmdet.models.backbones import ResNet

    from tbmm.datasets.annotations import read_annotations
    from tbmm.engine.optimizers import bf16_autocast
    monkeypatch.setattr(bf16_autocast, 'cpu_has_fast_bf16', lambda: True)
    backbone_dtypes = []
    forward = ResNet.forward

    def spy(self, x):
        out = forward(self, x)
        backbone_dtypes.append(out[-1].dtype)
        return out

    monkeypatch.setattr(ResNet, 'forward', spy)
    work_dir, opts = trained_phantom
    top_scores = {}
    for amp in (False, True):
        backbone_dtypes.clear()
        out_dir = tmp_path / str(amp)
        cfg = prepare_test_config(str(repo_root / PHANTOM), osp.join(work_dir, 'epoch_2.pth'),
                                  work_dir=str(out_dir), amp=amp,
                                  cfg_options={**opts, 'model.test_cfg.score_thr': 0.0})
        assert cfg.test_cfg.fp16 is amp
        set_image_scale(cfg, (128, 128))
        run_test(cfg)
        assert set(backbone_dtypes) == {torch.bfloat16 if amp else torch.float32}
        records = read_annotations(out_dir / 'test.predictions.json', require_scores=True)
        top_scores[amp] = {r['file_name']: max(r['scores'], default=0.0) for r in records}
    assert top_scores[True].keys() == top_scores[False].keys()
    assert min(top_scores[False].values()) > 0  # every image has detections to compare
    for name, score in top_scores[False].items():
        assert top_scores[True][name] == pytest.approx(score, rel=0.1), name


TEN_CLASSES = ['Consolidation', 'Fibrosis', 'Effusion', 'Nodule', 'Mass', 'Emphysema',
               'Calcification', 'Atelectasis', 'Fracture', 'Pneumothorax']


def test_head_and_data_set_class_counts_must_agree(repo_root, tmp_path):
    from tbmm.apis.runner import RunConfigError

    config = str(repo_root / MAIN)
    # A 10th class without a 10th head output would train its boxes as mmdet's background label.
    ten = {f'{split}_dataloader.dataset.metainfo.classes': TEN_CLASSES
           for split in ('train', 'val', 'test')}
    with pytest.raises(RunConfigError, match=r"train_dataloader names 10 classes but "
                                             r"model\.bbox_head\.num_classes is 9"):
        prepare_train_config(config, work_dir=str(tmp_path), cfg_options=ten)
    with pytest.raises(RunConfigError, match='test_dataloader names 10 classes'):
        prepare_test_config(config, __file__, work_dir=str(tmp_path),
                            cfg_options={'test_dataloader.dataset.metainfo.classes': TEN_CLASSES})
    agreeing = dict(ten, **{'model.bbox_head.num_classes': 10})
    cfg = prepare_train_config(config, work_dir=str(tmp_path), cfg_options=agreeing)
    assert cfg.model.bbox_head.num_classes == 10
    # Without a metainfo, ChestXDetDataset's 9 default classes count.
    cfg = prepare_train_config(config, work_dir=str(tmp_path), cfg_options={
        'train_dataloader.dataset.metainfo': None, 'val_dataloader.dataset.metainfo': None,
        'test_dataloader.dataset.metainfo': None})
    assert cfg.model.bbox_head.num_classes == 9


def test_checkpoint_given_where_the_config_goes_is_one_error(repo_root, tmp_path):
    from tbmm.apis.runner import RunConfigError

    checkpoint = tmp_path / 'epoch_12.pth'
    torch.save({'state_dict': {}}, checkpoint)
    with pytest.raises(RunConfigError,
                       match='not a config file .* config first, then the checkpoint'):
        prepare_test_config(str(checkpoint), str(repo_root / PHANTOM))


def test_checkpoint_of_another_model_stops_the_test(trained_phantom, tmp_path, repo_root):
    from tbmm.checkpoint import CheckpointMismatchError

    # The R-18 phantom checkpoint under the R-101 config: MMEngine alone would log the mismatches
    # and evaluate randomly initialised layers.
    work_dir, opts = trained_phantom
    opts = dict(opts, **{'model.backbone.init_cfg': None})
    cfg = prepare_test_config(str(repo_root / MAIN), osp.join(work_dir, 'epoch_2.pth'),
                              work_dir=str(tmp_path), cfg_options=opts)
    with pytest.raises(CheckpointMismatchError) as info:
        run_test(cfg)
    message = str(info.value)
    assert message.startswith(f'{work_dir}/epoch_2.pth: this checkpoint does not fit the config')
    assert ('another shape (first: backbone.layer1.0.conv1.weight [64, 64, 3, 3] in the '
            'checkpoint' in message)
    assert '\n' not in message
    assert not osp.exists(osp.join(tmp_path, 'test.metrics.json'))


def test_resume_without_a_checkpoint_says_it_starts_from_scratch(repo_root, tmp_path,
                                                                 monkeypatch):
    import mmengine.logging
    said = []
    # MMEngine's current logger writes to the stream of the test that created it: record instead.
    monkeypatch.setattr(mmengine.logging, 'print_log', lambda msg, **kwargs: said.append(msg))
    cfg = prepare_train_config(str(repo_root / PHANTOM), work_dir=str(tmp_path), resume='auto')
    assert cfg.resume is True
    assert any(f'--resume: no checkpoint in {tmp_path} yet' in line for line in said)
