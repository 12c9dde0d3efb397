"""Ground-truth overlays of a config's data set as the model sees it (after the data pipeline).

Browsing the training split shows what augmentation does (resize, flips) and whether the boxes
still sit on their lesions afterwards.
"""
import os.path as osp

import numpy as np

from tbmm.datasets.dataset_cfg import innermost_dataset, is_annotation_loader, is_resize

SPLITS = ('train', 'val', 'test')


def build_split_dataset(cfg, split='train'):
    """The data set of ``cfg``'s ``<split>_dataloader``, with its pipeline, built by MMEngine."""
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    import tbmm.plugin  # noqa: F401  (ChestXDetDataset and its loader, whatever the config imports)

    if split not in SPLITS:
        raise ValueError(f'split must be one of {", ".join(SPLITS)}, got {split!r}')
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'the config has no {split}_dataloader')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return DATASETS.build(loader.dataset)


def boxes_stay_in_original_pixels(pipeline):
    """Whether a pipeline loads annotations after ``Resize``, leaving the ground-truth boxes in
    original-image pixels while the image is resized (our test pipelines do, for the metric)."""
    loads = [i for i, t in enumerate(pipeline) if is_annotation_loader(t)]
    resizes = [i for i, t in enumerate(pipeline) if is_resize(t)]
    return bool(loads and resizes and loads[0] > resizes[0])


def packed_to_overlay(packed, classes, boxes_in_original_pixels=False):
    """``(file_name, RGB overlay)`` of one packed sample (``inputs`` + ``data_samples``).

    Args:
        packed: what the data set returns: ``dict(inputs=CHW uint8 tensor, data_samples=...)``.
        boxes_in_original_pixels: scale the boxes by the sample's ``scale_factor`` first (see
            :func:`boxes_stay_in_original_pixels`).
    """
    from tbmm.visualization import draw_boxes

    sample = packed['data_samples']
    # Packed images are CHW in the loader's BGR order; the overlays are RGB.
    image = np.ascontiguousarray(packed['inputs'].permute(1, 2, 0).cpu().numpy()[..., ::-1])
    if image.shape[2] == 1:
        image = image[..., 0]
    boxes = sample.gt_instances.bboxes
    boxes = getattr(boxes, 'tensor', boxes).detach().cpu().numpy().reshape(-1, 4)
    if boxes_in_original_pixels and 'scale_factor' in sample.metainfo:
        sx, sy = sample.metainfo['scale_factor'][:2]
        boxes = boxes * np.array([sx, sy, sx, sy])
    labels = sample.gt_instances.labels.detach().cpu().numpy().astype(int)
    file_name = osp.basename(sample.metainfo.get('img_path', str(sample.metainfo.get('img_id'))))
    record = {'file_name': file_name,
              'syms': [classes[k] if 0 <= k < len(classes) else f'label_{k}' for k in labels],
              'boxes': boxes.tolist()}
    title = file_name + (' (flipped)' if sample.metainfo.get('flip') else '')
    return file_name, draw_boxes(image, record, classes, title=title)


def browse_dataset(cfg, out_dir, split='train', num=20, seed=None):
    """Write ground-truth overlays of ``num`` samples of a split after its pipeline.

    Without ``seed`` the first ``num`` images are drawn; with it, ``num`` random ones, and the
    random augmentations repeat from run to run. Returns the written paths
    (``out_dir/<index>_<name>.png``).
    """
    from mmengine.runner import set_random_seed

    from tbmm.visualization import save_image

    if num < 1:
        raise ValueError(f'num must be at least 1, got {num}')
    if seed is not None:
        set_random_seed(seed)
    dataset = build_split_dataset(cfg, split)
    classes = tuple(dataset.metainfo['classes'])
    unscaled = boxes_stay_in_original_pixels(innermost_dataset(dataset).pipeline.transforms)
    count = min(num, len(dataset))
    if seed is None:
        indices = range(count)
    else:
        indices = sorted(np.random.default_rng(seed).choice(len(dataset), count, replace=False))
    written = []
    for index in indices:
        file_name, overlay = packed_to_overlay(dataset[int(index)], classes, unscaled)
        path = osp.join(out_dir, f'{int(index):05d}_{osp.splitext(file_name)[0]}.png')
        save_image(path, overlay)
        written.append(path)
    return written
