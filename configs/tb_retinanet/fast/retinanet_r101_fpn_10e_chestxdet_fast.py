# The main R-101 config (same model, data, epochs and metric; batch 4 per GPU instead of 2) with
# the speed levers that keep float32; docs/benchmarks.md measures each one
# (tools/analysis_tools/benchmark.py). Weights and checkpoints are interchangeable with the main
# config's.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'

custom_imports = dict(imports=['tbmm.plugin', 'tbmm.models'], allow_failed_imports=False)

model = dict(
    type='FastRetinaNet',
    channels_last=True,  # cuDNN/oneDNN convolutions without layout transposes
    # The frozen BatchNorms act through the weights of the convolution before each: the same
    # function, gradients and checkpoint keys, without passes over the activations.
    fold_frozen_bn=True,
    # Images stay 1-channel up to the device, which repeats them to 3 (a third of the decode,
    # collate and copy work); the copy of a pinned batch overlaps the previous step.
    data_preprocessor=dict(type='GrayToRGBDetDataPreprocessor', non_blocking=True),
    # Targets and pre-NMS candidates of all images at once, without waiting for the GPU (the same
    # values); the loss stays float32 under the _bf16/_fp16 variants' autocast.
    bbox_head=dict(type='BatchedRetinaHead', loss_cls=dict(type='Float32FocalLoss')))

# The main config's pipelines with a 1-channel decode.
train_pipeline = [dict(step, channels=1) if step.type == 'LoadXRayImageFromFile' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, channels=1) if step.type == 'LoadXRayImageFromFile' else step
                 for step in _base_.test_pipeline]

# Batch 4 per GPU: the backbone's BN is frozen, so the batch does not change what it computes; the
# LR follows through auto_scale_lr. Pinned memory makes the host-to-device copy asynchronous.
train_dataloader = dict(
    batch_size=4, num_workers=4, pin_memory=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=4, pin_memory=True, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=4, num_workers=4, pin_memory=True, dataset=dict(pipeline=test_pipeline))

# Fused SGD: one kernel for all parameters' momentum updates (CUDA and, since torch 2.4, CPU).
optim_wrapper = dict(optimizer=dict(fused=True))

# Fixed 1024x1024 inputs: cuDNN's autotuned algorithms are reused every step.
env_cfg = dict(cudnn_benchmark=True)
