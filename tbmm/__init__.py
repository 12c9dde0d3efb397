"""tbmm: chest X-ray lesion detection (ChestX-Det) with RetinaNet on MMDetection.

``import tbmm`` is light (annotation I/O, evaluation, phantom data work without torch or mmdet).
``tbmm.plugin`` registers the MMDetection parts; the configs import it through
``custom_imports = dict(imports=['tbmm.plugin'])``.
"""
__version__ = '0.1.0'
