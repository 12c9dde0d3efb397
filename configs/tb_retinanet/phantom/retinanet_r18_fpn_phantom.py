# The main R-101 config shrunk to what a 2-core CPU trains in minutes, on the built-in phantom data
# set (tools/make_phantom.py): smaller images, ResNet-18, narrower FPN/heads, a short schedule.
# Everything else (RetinaNet, P3-P7, 4-conv heads, focal loss, data set class, metric) is inherited.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'

data_root = 'data/phantom/'
image_size = 256
image_scale = (image_size, image_size)
# Anchors keep their size relative to the image: 1024 px -> octave base 4, so 256 px -> 1.
anchor_octave_base_scale = 4 * image_size / 1024
width = 64

model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=width),
    bbox_head=dict(
        in_channels=width,
        feat_channels=width,
        anchor_generator=dict(octave_base_scale=anchor_octave_base_scale)))

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
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, ann_file='annotation/train.json',
                 data_prefix=dict(img='train_data/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, ann_file='annotation/test.json',
                 data_prefix=dict(img='test_data/'), pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
# Trained from scratch (no ImageNet weights offline): AdamW converges in few epochs where SGD does not.
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=10))
