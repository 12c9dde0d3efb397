# The fast config trained under float16 autocast with dynamic loss scaling (CUDA only): for GPUs
# without fast bfloat16 (before Ampere), and to compare with stock MMDetection's --amp.
_base_ = './retinanet_r101_fpn_10e_chestxdet_fast.py'

optim_wrapper = dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')

# Validation, tools/test.py and tools/infer.py in mixed precision too (as in _fast_bf16.py).
val_cfg = dict(fp16=True)
test_cfg = dict(fp16=True)
