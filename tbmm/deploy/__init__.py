"""A light runtime for exported tbmm models: numpy, OpenCV, onnxruntime (pydicom for DICOM).

Nothing in this package imports torch, mmcv, mmdet or mmengine (``tests/deploy`` checks it), so
``pip install 'tbmm[deploy]'`` runs a model exported by ``tools/export.py`` where the training stack
cannot be installed::

    python -m tbmm.deploy model.onnx IMAGES... --out-dir DIR [--thresholds thresholds.json]

* :mod:`.metadata`: the ``tbmm.*`` entries an exported model carries (classes, preprocessing,
  anchors, box coder, NMS, thresholds, version, checkpoint hash).
* :mod:`.preprocess`, :mod:`.postprocess`: the test pipeline and RetinaNet's detection step in
  numpy.
* :mod:`.runtime`: :class:`OnnxDetector` and the folder driver :func:`run_folder`.
* :mod:`.quantize`: an int8 copy of an exported model, calibrated on images
  (``tools/export.py --int8``; needs the ``onnx`` package besides onnxruntime).
"""
from tbmm.deploy.metadata import MODEL_FORMAT, DeployMetadata, DeployModelError, parse_metadata
from tbmm.deploy.runtime import OnnxDetector, run_folder

__all__ = ['MODEL_FORMAT', 'DeployMetadata', 'DeployModelError', 'OnnxDetector', 'parse_metadata',
           'run_folder']
