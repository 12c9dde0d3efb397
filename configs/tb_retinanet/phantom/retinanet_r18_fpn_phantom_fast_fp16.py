# The phantom fast config under float16 autocast with dynamic loss scaling (CUDA only), the
# precision of fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py: float16 keeps three more
# mantissa bits than bfloat16 at the same GPU speed, and bfloat16 training lost phantom AP50
# (docs/benchmarks.md). `bash .dev_scripts/gpu_checks.sh precision` compares them.
_base_ = './retinanet_r18_fpn_phantom_fast_bf16.py'

optim_wrapper = dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
