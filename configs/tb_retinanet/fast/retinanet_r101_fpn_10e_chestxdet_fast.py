# The main R-101 config (same model, data, epochs and metric; batch 4 per GPU instead of 2, below)
# with the speed levers that do not change precision; docs/benchmarks.md measures each one (tools/benchmark.py). Weights and
# checkpoints are interchangeable with the main config's.
_base_ = '../retinanet_r101_fpn_10e_chestxdet.py'

custom_imports = dict(imports=['tbmm.plugin', 'tbmm.models'], allow_failed_imports=False)

# Gray decode: the loader keeps 1 channel (a third of the decode, resize, collate and copy work);
# the preprocessor repeats it to 3 channels on the device, before the usual RGB normalisation.
# channels_last: oneDNN/cuDNN convolutions without layout transposes. Float32 head outputs and
# focal loss: anchors, box decoding and the loss stay float32 under the _amp variants' autocast.
# Batched head: mmdet's anchor assignment for all images at once, without waiting for the GPU
# (the same targets; per image, it was a third of the step on an H200), and the candidates before
# NMS chosen for all images at once (the same detections).
# Folded BN: the backbone's frozen BatchNorms (eval mode, as in the main config) are applied through
# the weights of the convolution before each, without passes over the activations (the same
# function, gradients and checkpoint keys).
# non_blocking: the copy of a pinned batch overlaps the previous step's GPU work.
model = dict(
    type='FastRetinaNet',
    channels_last=True,
    fold_frozen_bn=True,
    data_preprocessor=dict(type='GrayToRGBDetDataPreprocessor', non_blocking=True),
    bbox_head=dict(type='BatchedRetinaHead', loss_cls=dict(type='Float32FocalLoss')))

image_scale = (1024, 1024)
train_pipeline = [
    dict(type='LoadXRayImageFromFile', channels=1),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadXRayImageFromFile', channels=1),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

# Batch 4 per GPU: BN is frozen in this backbone, so the batch does not change what BN computes; the
# LR follows through auto_scale_lr (0.01 per 16 images: 0.0025 on one GPU instead of 0.00125), an
# epoch has half the iterations, and the 500-iteration warm-up sees twice the images. Pinned memory
# makes the host-to-device copy asynchronous (persistent workers come from the base).
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
