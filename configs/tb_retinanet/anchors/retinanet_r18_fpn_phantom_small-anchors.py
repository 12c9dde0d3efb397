# The phantom config with the small-anchor change of retinanet_r101_fpn_10e_chestxdet_small-
# anchors.py: two scales (1, 1.41: half-octave steps down to an octave below) under the phantom
# config's (2, 2.52, 3.17), for the phantom comparison in docs/anchors.md.
_base_ = '../phantom/retinanet_r18_fpn_phantom.py'

model = dict(
    bbox_head=dict(
        anchor_generator=dict(
            _delete_=True,
            type='AnchorGenerator',
            scales=[1, 1.41, 2, 2.52, 3.17],
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128])))
