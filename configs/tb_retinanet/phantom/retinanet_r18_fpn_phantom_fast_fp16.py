# The phantom fast config under float16 autocast with dynamic loss scaling (CUDA only), the
# precision of fast/retinanet_r101_fpn_10e_chestxdet_fast_fp16.py: on the phantom set
# bfloat16 training cost ~0.03 mAP50 against float32 (docs/benchmarks.md), and float16 keeps
# three more mantissa bits at the same GPU speed. `bash tools/gpu_checks.sh precision` compares them.
_base_ = './retinanet_r18_fpn_phantom_fast_bf16.py'

optim_wrapper = dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
