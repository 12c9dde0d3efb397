# ChestX-Det data set as distributed by its authors, under data_root:
#   annotation/train_split.json, annotation/val_split.json  (tools/dataset_converters/split.py of
#                                                            the official train.json)
#   annotation/test.json                                    (official labelled test set)
#   train_data/*.png   test_data/*.png   test_data_A/*.png (unlabelled; use tools/infer.py)
# No bases: an empty _base_ keeps MMEngine from taking the import below for a lazy-import config.
_base_ = []
from tbmm.classes import CHESTXDET_9_CLASSES as classes  # noqa: E402

custom_imports = dict(imports=['tbmm.plugin'], allow_failed_imports=False)

# check_images=True (below): every data set reads each image's header while it is built (no
# decoding): unreadable images and boxes outside their image stop the build, not a later run.
dataset_type = 'ChestXDetDataset'
data_root = 'data/chestxdet/'
metainfo = dict(classes=classes)
image_scale = (1024, 1024)

train_pipeline = [
    dict(type='LoadXRayImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadXRayImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    # After Resize, so ground truth stays in original pixels for the metric.
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # X-rays are square; grouping by aspect ratio would only need every image's size up front.
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotation/train_split.json',
        data_prefix=dict(img='train_data/'),
        check_images=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotation/val_split.json',
        data_prefix=dict(img='train_data/'),
        check_images=True,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotation/test.json',
        data_prefix=dict(img='test_data/'),
        check_images=True,
        test_mode=True,
        pipeline=test_pipeline))

val_evaluator = dict(type='ChestXDetMetric')
test_evaluator = val_evaluator

# Stop at the first NaN/inf loss with a hint, instead of writing NaN checkpoints. In distributed
# training, average the BatchNorm statistics of all ranks at the end of each epoch: DDP does not
# broadcast buffers here, so each rank's differ, the checkpoint holds rank 0's, and validation on
# the other ranks would score a model that was never saved.
custom_hooks = [dict(type='StopOnNonFiniteLossHook'), dict(type='SyncBuffersHook')]
