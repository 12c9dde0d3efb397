"""The fast config family's model computes what the main config's computes, in float32.

The main fixture config (RetinaNet: 3-channel decode, NCHW, BatchNorm after each conv, and
``Float32OutputRetinaHead``: mmdet's per-image targets with label sets, per-image candidates) and
the fast one (FastRetinaNet: 1-channel decode repeated to 3 by ``GrayToRGBDetDataPreprocessor``,
channels_last, folded BatchNorm, ``BatchedRetinaHead``) get the same random weights (the main
model's state dict loaded into the fast one) and the same phantom PNGs. Checked: the preprocessed
input batch (equal bit for bit), the training losses and their gradients, and ``predict``'s
detections, within the float32 tolerances stated below. Both with the phantom's trained BatchNorm
(folded only in eval mode) and with the R-101 configs' frozen one (``norm_eval=True``: folded in
training too).
"""
import copy

import pytest
import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.dataset import pseudo_collate
from torch.nn.modules.batchnorm import _BatchNorm

from tbmm.models.layers.folded_batchnorm import FoldedBNConv2d

MAIN = 'tests/fixtures/configs/phantom_tiny.py'
FAST = 'tests/fixtures/configs/phantom_tiny_fast.py'
NUM_IMAGES = 4
IMAGE_SIZE = 256  # the PNGs; the fixture configs resize them to 128

# float32 tolerances, each a few times what was measured here (2-core AMD EPYC, torch 2.13 CPU).
# The two models add the same terms in other orders (channels_last and NCHW convolution kernels; a
# folded BN's conv computes (W*s)x where the main model computes (Wx)*s): each layer rounds
# differently by ~1e-7 relative, and the ~25 layers of an R-18 RetinaNet compound that.
LOSS_RTOL = 1e-5  # measured: <= 5e-7 relative
SCORE_ATOL = 1e-5  # sigmoid scores; measured: <= 6e-7
BOX_ATOL = 2e-3  # pixels of the 256 px PNG; measured: <= 4e-4
# Gradients are sums over every anchor and pixel, of terms of both signs that nearly cancel in the
# smallest ones (the neck's P5 conv: ~1e-4 of the largest), and their ReLU and max-pool masks flip
# where an input is within rounding of zero or of a tie. So each parameter tensor's difference is
# bounded relative to its own norm loosely (measured: <= 2.1e-2), all together tightly (measured:
# <= 1.7e-3); a wrong fold, or BN parameters cut off from the loss, would differ by O(1).
GRAD_REL_NORM_EACH = 0.1
GRAD_REL_NORM_ALL = 1e-2


def _with_flip_off(pipeline):
    # The only random step: with prob 0 both models see the same, unflipped, batch.
    return [dict(step, prob=0.0) if step['type'] == 'RandomFlip' else step for step in pipeline]


@pytest.fixture(scope='module')
def phantom_pngs(tmp_path_factory):
    """4 phantom PNGs (256 px) with boxes, half of them with a box labelled with two classes."""
    from tbmm.datasets.phantom import make_phantom_dataset
    root = tmp_path_factory.mktemp('fast_equivalence')
    make_phantom_dataset(str(root), num_train=NUM_IMAGES, num_test=0, image_size=IMAGE_SIZE,
                         seed=4, negative_fraction=0.0, multilabel_fraction=0.5)
    return root


def _config(path, repo_root, frozen_bn):
    from tbmm.apis.config import load_config
    options = {'model.backbone.norm_eval': True} if frozen_bn else None
    return load_config(str(repo_root / path), options)


def _batch(cfg, root, pipeline_key):
    """The collated batch the config's own pipeline makes of the PNGs (flip off)."""
    from mmdet.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.update(data_root=str(root) + '/', ann_file='annotation/train.json',
                       data_prefix=dict(img='train_data/'), test_mode=False,
                       pipeline=_with_flip_off(cfg[pipeline_key]))
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == NUM_IMAGES
    return pseudo_collate([dataset[i] for i in range(NUM_IMAGES)])


def _randomize(model):
    """Random weights that make every part count: BN statistics and affine parameters away from
    the identity (the fold then changes the weights), and head biases that give scores above the
    0.05 threshold (RetinaNet's prior bias alone gives ~0.01 everywhere: no detections)."""
    generator = torch.Generator().manual_seed(0)

    def uniform(tensor, low, high):
        tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    with torch.no_grad():
        for module in model.backbone.modules():
            if isinstance(module, _BatchNorm):
                uniform(module.running_mean, -0.2, 0.2)
                uniform(module.running_var, 0.5, 2.0)
                uniform(module.weight, 0.5, 1.5)
                uniform(module.bias, -0.2, 0.2)
        uniform(model.bbox_head.retina_cls.bias, -3.2, -2.6)


@pytest.fixture(scope='module', params=[False, True], ids=['trained_bn', 'frozen_bn'])
def models(request, repo_root, phantom_pngs):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    frozen_bn = request.param
    main_cfg = _config(MAIN, repo_root, frozen_bn)
    fast_cfg = _config(FAST, repo_root, frozen_bn)
    torch.manual_seed(0)
    main = MODELS.build(main_cfg.model)
    main.init_weights()
    _randomize(main)
    fast = MODELS.build(fast_cfg.model)
    fast.load_state_dict(main.state_dict(), strict=True)
    assert type(main).__name__ == 'RetinaNet' and type(fast).__name__ == 'FastRetinaNet'
    assert type(fast.bbox_head).__name__ == 'BatchedRetinaHead'
    # ResNet-18: the stem, 8 blocks x 2 convs and 3 shortcut convs, each with its BN.
    assert sum(isinstance(m, FoldedBNConv2d) for m in fast.backbone.modules()) == 20
    assert fast.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    return dict(main=main, fast=fast, main_cfg=main_cfg, fast_cfg=fast_cfg,
                frozen_bn=frozen_bn)


def _preprocess(models, root, pipeline_key, training):
    main_raw = _batch(models['main_cfg'], root, pipeline_key)
    fast_raw = _batch(models['fast_cfg'], root, pipeline_key)
    for main_image, fast_image in zip(main_raw['inputs'], fast_raw['inputs']):
        # The fast pipeline decodes and resizes one channel; the main one three equal ones.
        assert main_image.shape[0] == 3 and fast_image.shape[0] == 1
        assert torch.equal(main_image, fast_image.expand_as(main_image))
    main_data = models['main'].data_preprocessor(main_raw, training)
    fast_data = models['fast'].data_preprocessor(fast_raw, training)
    # After the repeat to 3 channels and the normalisation: the same batch, bit for bit.
    assert fast_data['inputs'].shape == main_data['inputs'].shape
    assert fast_data['inputs'].shape[:2] == (NUM_IMAGES, 3)
    assert torch.equal(fast_data['inputs'], main_data['inputs'])
    for main_sample, fast_sample in zip(main_data['data_samples'], fast_data['data_samples']):
        assert torch.equal(get_box_tensor(main_sample.gt_instances.bboxes),
                           get_box_tensor(fast_sample.gt_instances.bboxes))
        assert torch.equal(main_sample.gt_instances.labels, fast_sample.gt_instances.labels)
    return main_data, fast_data


def _total(value):
    return sum(value) if isinstance(value, (list, tuple)) else value


def test_same_losses_and_gradients(models, phantom_pngs):
    main, fast = models['main'], models['fast']
    main_data, fast_data = _preprocess(models, phantom_pngs, 'train_pipeline', training=True)
    # A box with two classes is in the batch: both heads train it with its label set.
    boxes = [get_box_tensor(sample.gt_instances.bboxes) for sample in main_data['data_samples']]
    assert all(len(image_boxes) for image_boxes in boxes)
    assert any(len(image_boxes) > len(torch.unique(image_boxes, dim=0))
               for image_boxes in boxes), 'no box with two classes'
    main.train()
    fast.train()
    # frozen_bn: the BNs stay in eval mode (norm_eval) and the fast model folds them.
    assert all(m.training != models['frozen_bn'] for m in fast.backbone.modules()
               if isinstance(m, _BatchNorm))
    main.zero_grad()
    fast.zero_grad()
    main_losses = main.loss(main_data['inputs'], main_data['data_samples'])
    fast_losses = fast.loss(fast_data['inputs'], fast_data['data_samples'])
    assert set(main_losses) == set(fast_losses) == {'loss_cls', 'loss_bbox'}
    for key in main_losses:
        want, got = _total(main_losses[key]), _total(fast_losses[key])
        assert float(want.detach()) > 0
        torch.testing.assert_close(got, want, rtol=LOSS_RTOL, atol=0, msg=key)
    sum(_total(v) for v in main_losses.values()).backward()
    sum(_total(v) for v in fast_losses.values()).backward()
    fast_params = dict(fast.named_parameters())
    squared_difference = squared_norm = 0.0
    for name, param in main.named_parameters():
        grad = fast_params[name].grad
        # Every parameter has a gradient: the folded BNs' gamma and beta get theirs through the
        # folded weight (they train in both cases).
        assert grad is not None and param.grad is not None, name
        difference = float((grad - param.grad).norm())
        assert difference <= GRAD_REL_NORM_EACH * float(param.grad.norm()), name
        squared_difference += difference ** 2
        squared_norm += float(param.grad.norm()) ** 2
    assert squared_difference ** 0.5 <= GRAD_REL_NORM_ALL * squared_norm ** 0.5


def _unmatched(want, got):
    """Indices of ``want``'s detections without a detection of ``got`` of the same class within
    the box and score tolerances (after NMS no two detections of a class are that close)."""
    missing = []
    for i in range(len(want)):
        close = ((got.labels == want.labels[i])
                 & ((got.bboxes - want.bboxes[i]).abs().amax(dim=1) <= BOX_ATOL)
                 & ((got.scores - want.scores[i]).abs() <= SCORE_ATOL))
        assert int(close.sum()) <= 1
        if not bool(close.any()):
            missing.append(i)
    return missing


def test_same_detections(models, phantom_pngs):
    main, fast = models['main'], models['fast']
    main.eval()
    fast.eval()
    main_data, fast_data = _preprocess(models, phantom_pngs, 'test_pipeline', training=False)
    with torch.no_grad():
        main_results = main.predict(main_data['inputs'], main_data['data_samples'])
        fast_results = fast.predict(fast_data['inputs'], fast_data['data_samples'])
    total = 0
    for main_result, fast_result in zip(main_results, fast_results):
        want, got = main_result.pred_instances, fast_result.pred_instances
        total += len(want)
        # Compared as sets: float32 noise may swap two detections of almost equal score. Only a
        # detection at the cut (the last kept score, max_per_img) may be in one set alone.
        cut = float(torch.cat([want.scores, got.scores]).min()) + SCORE_ATOL
        for first, second in ((want, got), (got, want)):
            missing = _unmatched(first, second)
            assert len(missing) <= 1 and all(float(first.scores[i]) <= cut for i in missing)
    # Random weights with the biases above: many detections per image, not an empty comparison.
    assert total >= 20 * NUM_IMAGES, total
