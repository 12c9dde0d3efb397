# retinanet_nih8_cpu.py with the phantom's flip-only augmentation: the comparison behind the CPU
# recipe's choice of augmentation (README "Real radiographs").
_base_ = './retinanet_nih8_cpu.py'

train_pipeline = [
    dict(type='LoadXRayImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_base_.image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
