"""Importing this module plugs tbmm into MMDetection/MMEngine.

It registers the data set, transforms, metric and hooks in MMDetection's registries (configs do
this with ``custom_imports = dict(imports=['tbmm.plugin'])``) and makes MMEngine load checkpoints
with torch's ``weights_only=True`` and an allow-list of what MMEngine saves.
"""
from tbmm.checkpoint import setup_checkpoint_loading

setup_checkpoint_loading()

from tbmm.apis import inference  # noqa: E402,F401  (WBFTTAModel)
from tbmm.datasets import chestxdet, transforms  # noqa: E402,F401
from tbmm.engine import hooks, optimizers  # noqa: E402,F401
from tbmm.evaluation import metrics  # noqa: E402,F401
from tbmm import models  # noqa: E402,F401  (fast configs: FastRetinaNet, Float32FocalLoss, ...)
