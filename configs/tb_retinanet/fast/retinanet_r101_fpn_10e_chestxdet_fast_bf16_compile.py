# The bfloat16 fast config with torch.compile on backbone, neck and head: on an H200 1.87x stock
# MMDetection's fp16 training step (the fast config without it: 1.53x), 1.79x end to end
# (docs/benchmarks.md). Compiling takes about a minute at start and again for each new input size.
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'

model = dict(compile=True)
