_base_ = './retinanet_r101_fpn_10e_chestxdet.py'

model = dict(
    backbone=dict(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
