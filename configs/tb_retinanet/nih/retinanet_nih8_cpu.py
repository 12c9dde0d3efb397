# What learns best from scratch on NIH's 8 classes on 2 CPU cores (README "Real radiographs"): the
# phantom recipe (ResNet-18, narrow GroupNorm FPN and heads, AdamW, 256²) with X-ray augmentation
# instead of flips, since a chest is not mirror-symmetric.
_base_ = '../phantom/retinanet_r18_fpn_phantom.py'
from tbmm.classes import NIH8_CLASSES as classes  # noqa: E402 (imports follow _base_)

data_root = 'data/nih-bbox/'
metainfo = dict(classes=classes)

model = dict(bbox_head=dict(num_classes=len(classes)))

# The phantom's training pipeline without its flip; before PackDetInputs: small shifts, zooms and
# tilts as between two exposures (black border like the film edge), brightness and contrast.
train_pipeline = [step for step in _base_.train_pipeline if step.type != 'RandomFlip']
train_pipeline[-1:-1] = [
    dict(type='RandomAffine', max_rotate_degree=5, max_translate_ratio=0.05,
         scaling_ratio_range=(0.85, 1.15), max_shear_degree=0, border_val=(0, 0, 0)),
    dict(type='Brightness', prob=0.5, min_mag=0.8, max_mag=1.2),
    dict(type='Contrast', prob=0.5, min_mag=0.8, max_mag=1.2),
]

nih_dataset = dict(data_root=data_root, metainfo=metainfo, data_prefix=dict(img='images/'))
train_dataloader = dict(dataset=dict(ann_file='nih8.json', pipeline=train_pipeline, **nih_dataset))
val_dataloader = dict(dataset=dict(ann_file='test.json', **nih_dataset))
test_dataloader = val_dataloader

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, by_epoch=True, eta_min=1e-5),
]
