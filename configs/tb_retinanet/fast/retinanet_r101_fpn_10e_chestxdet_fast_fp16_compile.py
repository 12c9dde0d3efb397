# The float16 fast config with torch.compile on backbone, neck and head (CUDA only): the compiled
# speed with float16's precision, which kept the phantom AP50 in a CPU emulation where bfloat16
# lost some (docs/benchmarks.md). Compiling takes about a minute at start and again for each new
# input size.
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast_fp16.py'

model = dict(compile=True)
