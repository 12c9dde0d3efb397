# The bfloat16 fast config with torch.compile on backbone, neck and head. Compiling takes minutes
# at start; use it for long runs at the fixed 1024x1024 size once tools/benchmark.py shows a gain
# on your machine (docs/benchmarks.md).
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast_amp.py'

model = dict(compile=True)
