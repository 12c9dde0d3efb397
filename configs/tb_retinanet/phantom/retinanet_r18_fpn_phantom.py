# The main R-101 config shrunk to what a 2-core CPU trains in minutes, on the built-in phantom data
# set (tools/misc/make_phantom.py): smaller images, ResNet-18, narrower FPN/heads, a short schedule.
# Everything else (RetinaNet, P3-P7, 4-conv heads, focal loss, data set class, metric) is inherited.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'

data_root = 'data/phantom/'
image_size = 256
image_scale = (image_size, image_size)
# Smaller images make lesions smaller in pixels while the strides (8-128) stay: octave base 2
# (smallest anchor 16 px) fits them better than mmdet's 4 or base 1 (docs/anchors.md).
anchor_octave_base_scale = 2
width = 64

# Trained from scratch (no ImageNet weights offline): the backbone's BN layers train, and
# GroupNorm in the neck and head convs keeps the from-scratch gradients well scaled.
head_norm = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=width, norm_cfg=head_norm),
    bbox_head=dict(
        in_channels=width,
        feat_channels=width,
        norm_cfg=head_norm,
        anchor_generator=dict(octave_base_scale=anchor_octave_base_scale)))

# The main config's pipelines, resized to image_scale.
train_pipeline = [dict(step, scale=image_scale) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, scale=image_scale) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
# 4 images per batch: BatchNorm trained from scratch needs more than 2 samples for its statistics.
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, ann_file='annotation/train.json',
                 data_prefix=dict(img='train_data/'), pipeline=train_pipeline))
# The phantom set has no validation split: validation runs on the test set, so its curves show
# progress, and the demo tests the last checkpoint, not the best-by-validation one.
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, ann_file='annotation/test.json',
                 data_prefix=dict(img='test_data/'), pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=3)
# From scratch, AdamW converges in few epochs where SGD does not.
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=10))
