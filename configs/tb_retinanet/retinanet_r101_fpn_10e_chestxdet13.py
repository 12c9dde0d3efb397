# ChestX-Det (relabelled superset): 13 classes.
_base_ = './retinanet_r101_fpn_10e_chestxdet.py'
from tbmm.classes import CHESTXDET13_CLASSES as classes  # noqa: E402 (imports follow _base_)

metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = dict(dataset=dict(metainfo=metainfo))
