# The float16 fast config with torch.compile on backbone, neck and head (CUDA only): the bfloat16
# compile config's speed (1.79x stock end to end on an H200, not yet measured in float16) with
# float16's precision, which kept the phantom AP50 in a CPU emulation (docs/benchmarks.md).
# Compiling takes about a minute at start and again for each new input size.
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'

model = dict(compile=True)
