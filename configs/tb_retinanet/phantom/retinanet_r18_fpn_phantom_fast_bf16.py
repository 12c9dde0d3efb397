# The phantom config with the speed levers of fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py, to
# check on the phantom set that they cost no accuracy (docs/benchmarks.md, "Accuracy of the fast
# levers"): channels_last, 1-channel decode expanded on the device, float32 head outputs and focal
# loss under bfloat16 autocast, batched targets and candidate selection, fused AdamW, pinned
# memory, cuDNN autotuning. fold_frozen_bn as in the fast config, but the phantom trains its
# BatchNorms (norm_eval=False), so they fold only in eval mode: at validation (an exact rewrite).
_base_ = './retinanet_r18_fpn_phantom.py'

custom_imports = dict(imports=['tbmm.plugin', 'tbmm.models'], allow_failed_imports=False)

model = dict(
    type='FastRetinaNet',
    channels_last=True,
    fold_frozen_bn=True,
    data_preprocessor=dict(type='GrayToRGBDetDataPreprocessor', non_blocking=True),
    bbox_head=dict(type='BatchedRetinaHead', loss_cls=dict(type='Float32FocalLoss')))

# The phantom pipelines with a 1-channel decode (MMEngine's text configs cannot change one item).
image_scale = (256, 256)
train_pipeline = [
    dict(type='LoadXRayImageFromFile', channels=1),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadXRayImageFromFile', channels=1),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline), pin_memory=True)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline), pin_memory=True)
test_dataloader = val_dataloader

optim_wrapper = dict(type='BF16AutocastOptimWrapper', optimizer=dict(fused=True))
env_cfg = dict(cudnn_benchmark=True)
