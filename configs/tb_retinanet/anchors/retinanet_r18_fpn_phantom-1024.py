# The phantom config at the real resolution, 1024x1024, with the main config's anchors (mmdet's
# octave base 4: 32-406 px): the baseline of the small-anchor comparison in docs/anchors.md, where
# lesion sizes, strides and anchors have the real geometry (at 256 px they do not).
_base_ = '../phantom/retinanet_r18_fpn_phantom.py'

data_root = 'data/phantom-1024/'
image_scale = (1024, 1024)
model = dict(bbox_head=dict(anchor_generator=dict(octave_base_scale=4)))

train_pipeline = [dict(step, scale=image_scale) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, scale=image_scale) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
