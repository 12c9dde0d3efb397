# ChestX-Det (relabelled superset): 13 classes.
_base_ = './retinanet_r101_fpn_10e_chestxdet.py'

classes = ('Atelectasis', 'Calcification', 'Cardiomegaly', 'Consolidation', 'Diffuse Nodule',
           'Effusion', 'Emphysema', 'Fibrosis', 'Fracture', 'Mass', 'Nodule',
           'Pleural Thickening', 'Pneumothorax')
metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = dict(dataset=dict(metainfo=metainfo))
