# Public ChestX-Det10: the 9 classes plus Pneumothorax.
_base_ = './retinanet_r101_fpn_10e_chestxdet.py'
from tbmm.classes import CHESTXDET10_CLASSES as classes  # noqa: E402 (imports follow _base_)

metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = dict(dataset=dict(metainfo=metainfo))
