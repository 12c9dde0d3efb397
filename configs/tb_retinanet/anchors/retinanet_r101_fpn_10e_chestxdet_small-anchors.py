# Anchors that also cover the small lesions: two scales (2, 2.83: half-octave steps down to an
# octave below) under mmdet's (4, 5.04, 6.35), so the smallest anchor is 16 px instead of 32 px at
# stride 8. More real Calcification and Nodule boxes find an anchor, no class fewer
# (docs/anchors.md); the cost is 15 anchors per position instead of 9.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'

model = dict(
    bbox_head=dict(
        anchor_generator=dict(
            _delete_=True,
            type='AnchorGenerator',
            scales=[2, 2.83, 4, 5.04, 6.35],
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128])))
