"""Model parts, registered in MMDetection's MODELS.

For every config:

* ``MultiLabelRetinaHead`` + ``MultiLabelFocalLoss``: a box annotated with several classes trains
  all of them (mmdet's targets give each anchor one label); single-label data trains as in mmdet.

For test-time augmentation (``tools/test.py --tta``, ``tools/infer.py --tta``):

* ``WBFTTAModel``: mmdet's ``DetTTAModel`` merging the views by weighted boxes fusion (not NMS).

For the fast configs (configs/tb_retinanet/fast):

* ``Float32FocalLoss``: mmdet's ``FocalLoss`` computed in float32, so it works under bfloat16
  autocast (mmcv's CUDA kernel has no bfloat16 version) and stays accurate under float16.
* ``BatchedTargetsRetinaHead``: ``Float32OutputRetinaHead`` that computes mmdet's anchor targets
  for the whole batch at once, without host syncs (the same targets, fewer GPU stalls).
* ``BatchedRetinaHead``: ``BatchedTargetsRetinaHead`` that also picks the candidates before NMS
  for the whole batch at once (the same detections); the fast configs' head.
* ``Float32OutputRetinaHead``: ``RetinaHead`` whose score and box maps leave in float32, so anchors
  and boxes are decoded in float32 under autocast (bfloat16 steps are 4-8 px at 1024 px).
* ``GrayToRGBDetDataPreprocessor``: takes 1-channel images (``LoadXRayImageFromFile(channels=1)``)
  and repeats them to 3 channels on the device, after the (3x smaller) host-to-device copy.
* ``FastRetinaNet``: ``RetinaNet`` with channels-last weights and inputs, frozen BatchNorm folded
  into the convolutions (``layers.fold_frozen_batchnorm``), and optional ``torch.compile`` of the
  backbone, neck and head convolutions.
"""
from tbmm.models import (  # noqa: F401
                         data_preprocessors,
                         dense_heads,
                         detectors,
                         layers,
                         losses,
                         test_time_augs,
                         utils,
)
