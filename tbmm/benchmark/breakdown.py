"""Where a step's time goes: :func:`step_breakdown` times the parts of a training or inference
step on a synthetic batch, and optionally writes torch.profiler's tables and a Chrome trace."""
import copy
import os
import statistics

import torch
from mmengine.optim import build_optim_wrapper

from tbmm.apis.precision import training_amp
from tbmm.benchmark.configs import loader_channels, prepare_config
from tbmm.benchmark.settings import BenchmarkSettings
from tbmm.benchmark.workload import (
    autocast_context,
    build_model,
    synchronize,
    synthetic_batch,
    time_ms,
)

__all__ = ['step_breakdown']


def step_breakdown(config, settings: BenchmarkSettings, cfg_options=None, profile_path=None):
    """Median ms of the parts of a training or inference step (``settings.task``), synthetic batch.

    Training: ``train_step`` (all of it), ``data_preprocessor`` (copy and normalisation),
    ``network`` (backbone, neck and head forward, backward and optimizer step, with a dummy loss:
    no targets), ``targets_and_loss`` (the head's ``loss_by_feat`` on fixed outputs: anchor
    assignment, target encoding, focal and box losses). Inference: ``test_step``,
    ``data_preprocessor``, ``network`` (forward only) and ``postprocess`` (the head's
    ``predict_by_feat`` on fixed outputs: decoding, score threshold, NMS). When the parts add up to
    far less than the whole step on a GPU, the GPU waits for the host. ``profile_path``: also write
    torch.profiler's tables of three whole steps there (by time, and the copies by tensor shape)
    and a gzipped Chrome trace of one step to ``profile_path + '.trace.json.gz'``. For
    single-stage detectors.
    """
    settings = copy.copy(settings)
    training = settings.task != 'infer'
    settings.task = 'train' if training else 'infer'
    cfg = prepare_config(config, settings, cfg_options)
    device = settings.device
    torch.manual_seed(settings.seed)
    torch.backends.cudnn.benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    model = build_model(cfg, device).train(training)
    loader_cfg = cfg.train_dataloader if training else cfg.test_dataloader
    batch = synthetic_batch(loader_cfg.batch_size, settings.image_size, loader_channels(cfg),
                            num_classes=cfg.model.bbox_head.num_classes, with_boxes=training,
                            seed=settings.seed, pin_memory=device.startswith('cuda'))
    packed = model.data_preprocessor(batch, training)
    inputs, samples = packed['inputs'], packed['data_samples']
    metas = [sample.metainfo for sample in samples]
    if training:
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        autocast = lambda: optim_wrapper.optim_context(model)  # noqa: E731
    else:
        autocast = lambda: autocast_context(device, training_amp(cfg))  # noqa: E731
    with torch.no_grad(), autocast():
        head_outputs = model.bbox_head(model.extract_feat(inputs))

    if training:
        def network():
            with autocast():
                cls_scores, bbox_preds = model.bbox_head(model.extract_feat(inputs))
                loss = sum(x.float().mean() for x in cls_scores + bbox_preds)
            optim_wrapper.update_params(loss)

        def targets_and_loss():
            with torch.no_grad():
                model.bbox_head.loss_by_feat(*head_outputs, [s.gt_instances for s in samples],
                                             metas)

        parts = dict(train_step=lambda: model.train_step(batch, optim_wrapper),
                     data_preprocessor=lambda: model.data_preprocessor(batch, True),
                     network=network, targets_and_loss=targets_and_loss)
    else:
        def test_step():
            with torch.no_grad(), autocast():
                model.test_step(batch)

        def network():
            with torch.no_grad(), autocast():
                model.bbox_head(model.extract_feat(inputs))

        def postprocess():
            with torch.no_grad(), autocast():
                model.bbox_head.predict_by_feat(*head_outputs, batch_img_metas=metas,
                                                rescale=True)

        parts = dict(test_step=test_step,
                     data_preprocessor=lambda: model.data_preprocessor(batch, False),
                     network=network, postprocess=postprocess)
    medians = {}
    for name, part in parts.items():
        for _ in range(settings.warmup):
            part()
        synchronize(device)
        medians[name] = statistics.median(time_ms(part, device) for _ in range(settings.iters))
    if profile_path:
        _write_profile(next(iter(parts.values())), device, profile_path)
    return medians


def _write_profile(step, device, path):
    """torch.profiler's tables of three steps at ``path``, a gzipped Chrome trace of one beside."""
    import gzip
    import shutil

    from torch.profiler import ProfilerActivity, profile
    cuda = device.startswith('cuda')
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(3):
            step()
        synchronize(device)
    sort_keys = (['self_cuda_time_total'] if cuda else []) + ['self_cpu_time_total']

    def self_time(event):  # torch >= 2.4 calls an event's CUDA time self_device_time_total
        if cuda:
            return getattr(event, 'self_device_time_total',
                           getattr(event, 'self_cuda_time_total', 0))
        return event.self_cpu_time_total

    with open(path, 'w') as f:
        for key in sort_keys:
            f.write(f'three steps, sorted by {key}\n')
            f.write(prof.key_averages().table(sort_by=key, row_limit=25,
                                              max_name_column_width=60) + '\n')
        # Which tensors the conversions copy (the H200 profile had 26 ms of aten::copy_ a step).
        f.write(f'copies by input shape, sorted by {sort_keys[0]}\n')
        copies = [event for event in prof.key_averages(group_by_input_shape=True)
                  if event.key in ('aten::copy_', 'aten::_to_copy', 'aten::contiguous')]
        copies.sort(key=self_time, reverse=True)
        for event in copies[:20]:
            f.write(f'{event.key:16s} x{event.count:<5d} '
                    f'{self_time(event) / 1000:9.2f} ms  {event.input_shapes}\n')
    with profile(activities=activities) as one_step:
        step()
        synchronize(device)
    trace = path + '.trace.json'
    one_step.export_chrome_trace(trace)
    with open(trace, 'rb') as raw, gzip.open(trace + '.gz', 'wb') as packed:
        shutil.copyfileobj(raw, packed)
    os.remove(trace)
