"""tbmm: chest X-ray lesion detection (ChestX-Det) with RetinaNet on MMDetection.

``import tbmm`` is light (annotation I/O, evaluation, phantom data work without torch or mmdet).
``tbmm.plugin`` registers the MMDetection parts; the configs import it through
``custom_imports = dict(imports=['tbmm.plugin'])``.
"""
import warnings

__version__ = '0.1.0'

# MMEngine 0.10.7 imports pkg_resources (hence the setuptools<82 pin), which warns at every tool
# start, several times; it is about MMEngine's dependency and says nothing a tbmm user can act on.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
