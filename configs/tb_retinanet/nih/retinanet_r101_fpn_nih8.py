# The main model (RetinaNet R-101 FPN, 1024², ImageNet start) on NIH ChestX-ray14's official boxes:
# 8 classes, data/nih-bbox/ (tools/dataset_converters/convert.py nih; 512² copies are upsampled to
# 1024² by Resize, the NIH originals pass at their own size). For a GPU; retinanet_nih8_cpu.py is
# the CPU recipe.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'
from tbmm.classes import NIH8_CLASSES as classes  # noqa: E402 (imports follow _base_)

data_root = 'data/nih-bbox/'
metainfo = dict(classes=classes)

model = dict(bbox_head=dict(num_classes=len(classes)))

# Train on nih8.json (or a fold of tools/dataset_converters/split.py /
# tools/analysis_tools/cross_validate.py), validate on the held-out patients of test.json; every
# file sits in one image folder.
nih_dataset = dict(data_root=data_root, metainfo=metainfo, data_prefix=dict(img='images/'))
train_dataloader = dict(dataset=dict(ann_file='nih8.json', **nih_dataset))
val_dataloader = dict(dataset=dict(ann_file='test.json', **nih_dataset))
test_dataloader = val_dataloader
