# The fast config trained under bfloat16 autocast, on GPUs (Ampere and newer) and on CPUs with AMX
# or AVX512-BF16. bfloat16 keeps float32's exponent range, so no loss scaling; the focal loss and
# the head outputs stay float32 (see the base config).
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast.py'

optim_wrapper = dict(type='BF16AutocastOptimWrapper')

# Validation, tools/test.py and tools/infer.py in mixed precision too (MMEngine's loops: float16 on
# CUDA, bfloat16 on the CPU; left off on CPUs without bfloat16 hardware, tbmm/apis/precision.py).
val_cfg = dict(fp16=True)
test_cfg = dict(fp16=True)
