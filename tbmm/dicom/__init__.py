"""DICOM results of an inference (light: highdicom and pydicom, no torch): a Comprehensive SR
(TID 1500) with the findings and a Grayscale Softcopy Presentation State that draws them on the
source image.

* :mod:`.codes`: the coded concepts (SNOMED CT where pydicom's dictionary has the code, else a
  private ``99TBMM`` scheme).
* :mod:`.sr` and :mod:`.gsps`: one image's SR and GSPS (highdicom objects).
* :mod:`.writer`: :class:`DicomResultWriter`, which writes both per DICOM input.
* :mod:`.render`: applies a GSPS to its image (VOI window, presentation LUT, graphics).
"""
from tbmm.dicom.sr import AlgorithmInfo, findings_of
from tbmm.dicom.writer import DicomResultWriter, algorithm_info, result_names

__all__ = ['AlgorithmInfo', 'DicomResultWriter', 'algorithm_info', 'findings_of', 'result_names']
