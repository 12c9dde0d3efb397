# The phantom config with the speed levers of fast/retinanet_r101_fpn_10e_chestxdet_fast_bf16.py,
# to check on the phantom set that they cost no accuracy (docs/benchmarks.md, "Accuracy of the
# fast levers"). The phantom trains its BatchNorms (norm_eval=False), so fold_frozen_bn folds them
# only in eval mode: at validation (an exact rewrite).
_base_ = './retinanet_r18_fpn_phantom.py'

custom_imports = dict(imports=['tbmm.plugin', 'tbmm.models'], allow_failed_imports=False)

# The fast config's model levers (explained there). MMEngine refuses two bases that both define
# `model`, so this patch is written here too; tests/configs/test_config_diffs.py checks it matches.
model = dict(
    type='FastRetinaNet',
    channels_last=True,
    fold_frozen_bn=True,
    data_preprocessor=dict(type='GrayToRGBDetDataPreprocessor', non_blocking=True),
    bbox_head=dict(type='BatchedRetinaHead', loss_cls=dict(type='Float32FocalLoss')))

# The phantom pipelines with a 1-channel decode.
train_pipeline = [dict(step, channels=1) if step.type == 'LoadXRayImageFromFile' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, channels=1) if step.type == 'LoadXRayImageFromFile' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline), pin_memory=True)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline), pin_memory=True)
test_dataloader = val_dataloader

optim_wrapper = dict(type='BF16AutocastOptimWrapper', optimizer=dict(fused=True))
env_cfg = dict(cudnn_benchmark=True)
