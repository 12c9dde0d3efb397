# Class-balanced resampling (LVIS-style repeat factors): images with rare classes (docs/anchors.md,
# "Class imbalance") are repeated within an epoch. Negatives keep repeat factor 1.
_base_ = './retinanet_r101_fpn_10e_chestxdet.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=0.1,
        dataset={{_base_.train_dataloader.dataset}}))
