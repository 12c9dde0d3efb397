"""tbmm: chest X-ray lesion detection (ChestX-Det) with RetinaNet on MMDetection.

Importing the package registers its datasets, transforms, metrics and hooks in MMDetection's
registries, which is what ``custom_imports = dict(imports=['tbmm'])`` in the configs relies on.
"""
__version__ = '0.1.0'

from tbmm import checkpoint as _checkpoint  # noqa: E402

# MMEngine checkpoints must load under torch's weights_only=True default (torch >= 2.6).
_checkpoint.setup_checkpoint_loading()

from tbmm import datasets, engine, evaluation  # noqa: E402,F401
from tbmm.evaluation import metrics as _metrics  # noqa: E402,F401  (registers ChestXDetMetric)
