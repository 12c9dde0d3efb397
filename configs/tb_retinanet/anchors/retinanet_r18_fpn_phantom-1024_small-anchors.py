# The 1024x1024 phantom config with the anchors of retinanet_r101_fpn_10e_chestxdet_small-anchors.py
# (scales 2, 2.83, 4, 5.04, 6.35: smallest anchor 16 px at stride 8), compared in docs/anchors.md.
_base_ = './retinanet_r18_fpn_phantom-1024.py'

model = dict(
    bbox_head=dict(
        anchor_generator=dict(
            _delete_=True,
            type='AnchorGenerator',
            scales=[2, 2.83, 4, 5.04, 6.35],
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128])))
