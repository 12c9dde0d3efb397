# The bfloat16 fast config with torch.compile on backbone, neck and head: the fastest training and
# inference measured on an H200 (docs/benchmarks.md). Compiling takes about a minute at start and
# again for each new input size.
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast_bf16.py'

model = dict(compile=True)
