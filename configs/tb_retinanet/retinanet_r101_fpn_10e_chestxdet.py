# The source report's model: RetinaNet, ResNet-101 + FPN (P3-P7), 4-conv heads, focal loss
# (gamma 2, alpha 0.25), 1024x1024 input, 2 images per GPU, 10 epochs.
# mmdet's retinanet_r101_fpn_1x_coco.py is these same bases with COCO data; MMEngine forbids two
# bases defining the data keys, so the data base replaces coco_detection.py here.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/chestxdet_detection.py',
]

# FPN on_input P3-P7, the 4-conv heads and the focal loss are mmdet's RetinaNet as is, except that
# a box annotated with several findings (Consolidation + Effusion) trains all of them where mmdet's
# single-label targets train one and teach the others as absent (tbmm.models.MultiLabelRetinaHead),
# and that the head's score and box maps are float32 also under mixed precision (--amp), so boxes
# are decoded in float32 (tbmm.models.Float32OutputRetinaHead; a no-op in float32).
model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')),
    bbox_head=dict(type='Float32OutputRetinaHead', num_classes=len(_base_.metainfo['classes']),
                   loss_cls=dict(type='MultiLabelFocalLoss')))

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)  # validation each epoch: schedule_1x's val_interval
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7, 9], gamma=0.1),
]
# lr 0.01 is RetinaNet's rate for a total batch of 16; it is scaled to the real total batch
# (GPUs x 2): 0.00125 on one GPU.
optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(enable=True)  # schedule_1x's base_batch_size=16

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(max_keep_ckpts=2, save_best='chestxdet/mAP50', rule='greater'))

# No fixed visualizer name: MMEngine reuses a named visualizer across runners of one process, so a
# test run after training (the demo, the tests) would log into the training run's folder.
visualizer = dict(
    _delete_=True, type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
