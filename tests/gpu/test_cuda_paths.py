"""Code paths that only a CUDA device runs (marker ``cuda``; skipped on a machine without one,
deselected there under CI=true, see tests/conftest.py). One command on a GPU machine:

    python -m pytest -m cuda tests      # or: bash .dev_scripts/gpu_checks.sh pytest

* fp16 training steps through MMEngine's ``AmpOptimWrapper`` (dynamic loss scaling) with the fp16
  configs, against the same model's float32 step;
* ``MultiLabelFocalLoss`` / ``Float32FocalLoss`` on mmcv's CUDA ``sigmoid_focal_loss`` kernel (the
  path mmdet's ``FocalLoss`` takes for class-index targets on CUDA, which the CPU never takes),
  against a float64 reference written here from the focal loss's definition;
* the batched heads (targets, losses, candidates) on CUDA against the same heads on the CPU and
  against mmdet's per-image heads on CUDA.
"""
import copy

import pytest
import torch

from tests.models.test_batched_targets_retina_head import (
    EDGE_CASES,
    IMAGE,
    STRIDES,
    head_cfg,
    make_heads,
    metas,
    random_gts,
)

pytestmark = pytest.mark.cuda

PHANTOM_FP16 = 'configs/tb_retinanet/phantom/retinanet_r18_fpn_phantom_fast_fp16.py'
R101_FP16 = 'configs/tb_retinanet/fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'


@pytest.fixture(autouse=True)
def exact_float32():
    # Ampere and later GPUs may run float32 matmuls and convolutions in TF32 (10-bit mantissa);
    # the float32 comparisons here are about the code, not TF32's rounding.
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


# --- focal loss: mmcv's CUDA kernel against a float64 reference ----------------------------------


def reference_focal_loss(logits, multi_hot, weight=None, gamma=2.0, alpha=0.25, avg_factor=None,
                         reduction='mean'):
    """Sigmoid focal loss (Lin et al. 2017) in float64: ``-a_t (1 - p_t)^gamma log(p_t)`` per class
    with ``p_t = p`` and ``a_t = alpha`` where the class is present, ``1 - p`` and ``1 - alpha``
    where absent; a per-anchor ``weight``; the sum divided by ``avg_factor`` for 'mean'."""
    x = logits.double()
    t = multi_hot.double()
    p = torch.sigmoid(x)
    p_t = p * t + (1 - p) * (1 - t)
    log_p_t = t * torch.nn.functional.logsigmoid(x) + (1 - t) * torch.nn.functional.logsigmoid(-x)
    alpha_t = alpha * t + (1 - alpha) * (1 - t)
    loss = -alpha_t * (1 - p_t) ** gamma * log_p_t
    if weight is not None:
        loss = loss * weight.double().reshape(-1, 1)
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    return loss.sum() / (avg_factor if avg_factor is not None else loss.numel())


def focal_case(num=3000, num_classes=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # mmcv's kernel takes log(1 - p) of a float32 p = sigmoid(x), which loses digits as p -> 1
    # (relative error ~6e-8 e^|x| / |x|); |x| <= 6 keeps it below 3e-5 (see the tolerances).
    logits = (torch.randn(num, num_classes, generator=generator) * 2).clamp(-6, 6)
    labels = torch.randint(0, num_classes + 1, (num, ), generator=generator)  # C: background
    weight = torch.rand(num, generator=generator)
    multi_hot = torch.nn.functional.one_hot(labels, num_classes + 1)[:, :num_classes]
    return logits, labels, weight, multi_hot


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the calls of mmcv's CUDA focal-loss kernel as mmdet's FocalLoss calls it."""
    from mmdet.models.losses import focal_loss
    calls = []
    kernel = focal_loss.sigmoid_focal_loss

    def counted(*args, **kwargs):
        calls.append(args[0].device.type)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(focal_loss, 'sigmoid_focal_loss', counted)
    return calls


@pytest.mark.parametrize('loss_type', ['MultiLabelFocalLoss', 'Float32FocalLoss'])
@pytest.mark.parametrize('reduction', ['mean', 'none'])
def test_focal_loss_on_the_cuda_kernel_matches_the_float64_reference(loss_type, reduction,
                                                                      kernel_calls):
    from mmdet.registry import MODELS

    import tbmm.models  # noqa: F401  (registers the losses)
    loss = MODELS.build(dict(type=loss_type, reduction=reduction))
    logits, labels, weight, multi_hot = focal_case()
    pred = logits.cuda().requires_grad_()
    value = loss(pred, labels.cuda(), weight.cuda(), avg_factor=250.0)
    assert kernel_calls == ['cuda']  # the kernel ran, not the PyTorch path
    reference_logits = logits.clone().double().requires_grad_()
    expected = reference_focal_loss(reference_logits, multi_hot, weight, avg_factor=250.0,
                                    reduction=reduction)
    # float32 kernel against float64: each element within the kernel's rounding (above), the
    # mean over 27,000 of them closer.
    rtol = 1e-4 if reduction == 'none' else 1e-5
    torch.testing.assert_close(value.double().cpu(), expected.detach(), rtol=rtol, atol=1e-7)
    value.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(pred.grad.double().cpu(), reference_logits.grad, rtol=1e-4,
                               atol=1e-8)


def test_label_set_codes_on_cuda_train_every_class_of_the_set(kernel_calls):
    from tbmm.models.losses import MultiLabelFocalLoss
    from tbmm.models.utils.label_sets import encode_label_sets
    logits, labels, weight, multi_hot = focal_case(seed=1)
    multi_hot[:500, 0] = 1  # add Consolidation: a set of two classes where another one is set
    multi_hot[:500, 2] = 1
    codes = encode_label_sets(multi_hot.bool())
    codes[multi_hot.sum(-1) == 0] = logits.size(1)  # background
    assert (codes > logits.size(1)).any()
    value = MultiLabelFocalLoss()(logits.cuda(), codes.cuda(), weight.cuda(), avg_factor=99.0)
    # Codes are decoded to a multi-hot target, which mmdet's FocalLoss takes to its PyTorch path.
    assert kernel_calls == []
    expected = reference_focal_loss(logits, multi_hot, weight, avg_factor=99.0)
    torch.testing.assert_close(value.double().cpu(), expected, rtol=1e-5, atol=1e-7)


def test_float32_focal_loss_runs_the_kernel_in_float32_under_fp16_autocast(kernel_calls):
    from tbmm.models.losses import Float32FocalLoss
    logits, labels, weight, multi_hot = focal_case(seed=2)
    layer = torch.nn.Linear(logits.size(1), logits.size(1)).cuda()
    with torch.autocast('cuda', dtype=torch.float16):
        half = layer(logits.cuda())  # float16, as the head's convolutions give under autocast
        assert half.dtype == torch.float16
        value = Float32FocalLoss()(half, labels.cuda(), weight.cuda(), avg_factor=40.0)
    assert kernel_calls == ['cuda'] and value.dtype == torch.float32
    expected = reference_focal_loss(half.detach().float().cpu(), multi_hot, weight,
                                    avg_factor=40.0)
    torch.testing.assert_close(value.double().cpu(), expected, rtol=1e-5, atol=1e-7)
    value.backward()
    assert torch.isfinite(layer.weight.grad).all()


# --- fp16 training steps (AmpOptimWrapper) ------------------------------------------------------


def _fp16_model_and_batch(config, repo_root):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from tbmm.benchmark import BenchmarkSettings, prepare_config, synthetic_batch
    cfg = prepare_config(str(repo_root / config),
                         BenchmarkSettings(device='cuda', image_size=256, batch_size=2))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    channels = 1 if cfg.model.data_preprocessor.type == 'GrayToRGBDetDataPreprocessor' else 3
    return cfg, model.cuda(), synthetic_batch(2, 256, channels=channels)


@pytest.mark.parametrize('config', [PHANTOM_FP16, R101_FP16])
def test_fp16_amp_training_steps(config, repo_root):
    from mmengine.optim import build_optim_wrapper
    cfg, model, batch = _fp16_model_and_batch(config, repo_root)
    twin = copy.deepcopy(model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(optim_wrapper).__name__ == 'AmpOptimWrapper'
    assert optim_wrapper.cast_dtype == torch.float16
    model.train()
    twin.train()
    # The first step's losses against the same weights' float32 losses (no update yet).
    with torch.no_grad():
        data = twin.data_preprocessor(copy.deepcopy(batch), True)
        float32_losses = twin(**data, mode='loss')
    head = model.bbox_head.retina_cls.weight
    before = head.detach().clone()
    # Dynamic loss scaling starts at 2**16 and skips the steps whose fp16 gradients overflow
    # while it halves the scale: ten steps leave room for a few.
    for step in range(10):
        losses = model.train_step(copy.deepcopy(batch), optim_wrapper)
        assert all(torch.isfinite(v) for v in losses.values()), (step, losses)
        # The focal loss stays float32 under autocast (Float32FocalLoss).
        assert losses['loss_cls'].dtype == torch.float32
        if step == 0:
            for key in ('loss_cls', 'loss_bbox'):
                want = sum(float(v) for v in float32_losses[key])
                # fp16 activations (10-bit mantissa) through the network: ~1e-3 relative.
                assert float(losses[key]) == pytest.approx(want, rel=2e-2), key
    scale = optim_wrapper.loss_scaler.get_scale()
    assert 0 < scale < float('inf')
    # Master weights stay float32 and were updated (a skipped step leaves them unchanged).
    assert head.dtype == torch.float32 and not torch.equal(before, head)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp16_inference_decodes_boxes_in_float32(repo_root):
    _, model, _ = _fp16_model_and_batch(R101_FP16, repo_root)
    from tbmm.benchmark import synthetic_batch
    model.eval()
    with torch.no_grad(), torch.autocast('cuda', dtype=torch.float16):
        results = model.test_step(synthetic_batch(2, 256, channels=1, with_boxes=False))
    for result in results:
        assert result.pred_instances.bboxes.dtype == torch.float32
        assert result.pred_instances.scores.dtype == torch.float32
        assert torch.isfinite(result.pred_instances.bboxes).all()


# --- batched heads: CUDA against the CPU and against mmdet's heads on CUDA -----------------------


def _targets(head, gts, device):
    featmap_sizes = [(IMAGE // s, IMAGE // s) for s in STRIDES]
    anchor_list, valid_list = head.get_anchors(featmap_sizes, metas(len(gts)), device=device)
    gts = [gt.to(device) for gt in gts]
    return head.get_targets(anchor_list, valid_list, gts, metas(len(gts)))


@pytest.mark.parametrize('case', ['edge_cases', 'random_0', 'random_1', 'random_2'])
def test_batched_targets_on_cuda_equal_the_cpu_and_mmdet(case):
    gts = EDGE_CASES if case == 'edge_cases' else random_gts(int(case.split('_')[1]))
    reference, batched = make_heads()
    on_cpu = _targets(batched, gts, 'cpu')
    reference, batched = reference.cuda(), batched.cuda()
    on_cuda = _targets(batched, gts, 'cuda')
    mmdet_on_cuda = _targets(reference, gts, 'cuda')
    for index, (cpu_levels, cuda_levels, mmdet_levels) in enumerate(
            zip(on_cpu[:4], on_cuda[:4], mmdet_on_cuda[:4])):
        for cpu, cuda, mmdet in zip(cpu_levels, cuda_levels, mmdet_levels):
            if index == 2:  # box regression targets: float arithmetic on two devices
                torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-5, atol=1e-5)
            else:  # labels (label-set codes included) and weights: exactly
                assert torch.equal(cuda.cpu(), cpu)
            torch.testing.assert_close(cuda, mmdet, rtol=1e-6, atol=1e-6)
    assert int(on_cuda[4]) == int(on_cpu[4]) == int(mmdet_on_cuda[4])


@pytest.mark.parametrize('label_sets', [True, False], ids=['label_sets', 'single_labels'])
def test_batched_losses_on_cuda_equal_the_cpu(label_sets, kernel_calls):
    # A batch with a label set takes the PyTorch focal loss on CUDA too, one without mmcv's kernel.
    cases = EDGE_CASES if label_sets else [EDGE_CASES[0], EDGE_CASES[2], EDGE_CASES[3]]
    _, batched = make_heads()
    generator = torch.Generator().manual_seed(0)
    feats = [torch.randn(len(cases), 8, IMAGE // s, IMAGE // s, generator=generator)
             for s in STRIDES]
    with torch.no_grad():
        cls_scores, bbox_preds = batched(feats)
    on_cpu = batched.loss_by_feat(cls_scores, bbox_preds, cases, metas(len(cases)))
    batched = batched.cuda()
    gts = [gt.to('cuda') for gt in cases]
    on_cuda = batched.loss_by_feat([c.cuda() for c in cls_scores], [b.cuda() for b in bbox_preds],
                                   gts, metas(len(gts)))
    assert len(kernel_calls) == (0 if label_sets else len(STRIDES))
    for key in ('loss_cls', 'loss_bbox'):
        for cpu, cuda in zip(on_cpu[key], on_cuda[key]):
            torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-5, atol=1e-7)


def _predict_heads():
    from mmdet.models.dense_heads import RetinaHead

    from tbmm.models.dense_heads import BatchedRetinaHead
    torch.manual_seed(0)
    reference = RetinaHead(**head_cfg())
    batched = BatchedRetinaHead(**head_cfg())
    batched.load_state_dict(reference.state_dict())
    return reference.cuda(), batched.cuda()


def _unmatched(want, got, score_atol, box_atol):
    """Detections of ``want`` with no detection of ``got`` of the same class within tolerance."""
    missing = []
    for i in range(len(want)):
        close = ((got.labels == want.labels[i])
                 & ((got.bboxes - want.bboxes[i]).abs().amax(dim=1) <= box_atol)
                 & ((got.scores - want.scores[i]).abs() <= score_atol))
        if not bool(close.any()):
            missing.append(i)
    return missing


@pytest.mark.parametrize('seed', range(3))
def test_batched_prediction_on_cuda_equals_mmdet_on_cuda_and_the_cpu(seed):
    reference, batched = _predict_heads()
    generator = torch.Generator().manual_seed(seed)
    # logits around the score threshold: thousands of candidates, nms_pre (1000) binds on P3
    cls_scores = [torch.randn(3, 81, IMAGE // s, IMAGE // s, generator=generator) * 2 - 3
                  for s in STRIDES]
    bbox_preds = [torch.randn(3, 36, IMAGE // s, IMAGE // s, generator=generator) * 0.3
                  for s in STRIDES]
    cls_scores[1][2] = -20  # image 2: no detection on P4
    image_metas = [dict(meta, scale_factor=(0.5, 0.5)) for meta in metas(3)]
    on_cuda = batched.predict_by_feat([c.cuda() for c in cls_scores],
                                      [b.cuda() for b in bbox_preds],
                                      batch_img_metas=image_metas, rescale=True)
    mmdet_on_cuda = reference.predict_by_feat([c.cuda() for c in cls_scores],
                                              [b.cuda() for b in bbox_preds],
                                              batch_img_metas=image_metas, rescale=True)
    on_cpu = batched.cpu().predict_by_feat(cls_scores, bbox_preds, batch_img_metas=image_metas,
                                           rescale=True)
    for cuda, mmdet, cpu in zip(on_cuda, mmdet_on_cuda, on_cpu):
        assert len(cuda) == len(mmdet) == len(cpu) == 100  # max_per_img: not vacuous
        # Same device, same candidates in the same order: mmdet's detections.
        assert torch.equal(cuda.labels, mmdet.labels)
        torch.testing.assert_close(cuda.scores, mmdet.scores, rtol=0, atol=1e-7)
        torch.testing.assert_close(cuda.bboxes, mmdet.bboxes, rtol=1e-6, atol=1e-4)
        # CPU and CUDA round sigmoid and box decoding differently in the last bits: compared as
        # sets; a detection may differ only at the cut (the 100th score).
        cuda = cuda.cpu()
        cut = float(torch.cat([cuda.scores, cpu.scores]).min()) + 1e-6
        for first, second in ((cuda, cpu), (cpu, cuda)):
            missing = _unmatched(first, second, score_atol=1e-6, box_atol=1e-3)
            assert len(missing) <= 1 and all(float(first.scores[i]) <= cut for i in missing)
