"""The coded concepts tbmm's DICOM results use: one finding code per class name, the score's
concept and unit, the procedure reported.

Standard codes (SNOMED CT ``SCT``, DICOM ``DCM``, ``UCUM``) are used only where pydicom's code
dictionary (``pydicom.sr.codedict``, generated from DICOM PS3.16) holds that very code with a
meaning that names the class; ``tests/dicom/test_codes.py`` checks each entry against that
dictionary.
Classes with no such code (Atelectasis, Consolidation, Emphysema, ...) get a code of tbmm's private
coding scheme ``99TBMM``: DICOM PS3.3 section 8.2 reserves designators that start with ``99`` for
private schemes. A class name outside the table (a model trained on other classes) gets a
``99TBMM`` code made from its name: ``X`` and the CRC-32 of the name in hex.

Each entry is ``(code value, coding scheme designator, code meaning)``.
"""
import zlib

__all__ = ['FINDING_CODES', 'PRIVATE_SCHEME', 'PRIVATE_SCHEME_NAME', 'PROCEDURE_CODE',
           'SCORE_CODE', 'SCORE_UNIT', 'finding_code', 'private_code_value']

PRIVATE_SCHEME = '99TBMM'
PRIVATE_SCHEME_NAME = 'tbmm finding codes (private; see tbmm/dicom/codes.py)'

#: Class name -> (code value, scheme, meaning) for every class of tbmm's presets (tbmm.classes).
FINDING_CODES = {
    # SNOMED CT, as in pydicom.sr.codedict (codes.SCT.<keyword> in the comment).
    'Nodule': ('27925004', 'SCT', 'Nodule'),                      # SCT.Nodule
    'Mass': ('4147007', 'SCT', 'Mass'),                           # SCT.Mass
    'Pneumothorax': ('36118008', 'SCT', 'Pneumothorax'),          # SCT.Pneumothorax
    'Cardiomegaly': ('287272002', 'SCT', 'Cardiomegaly'),         # SCT.Cardiomegaly
    # ChestX-Det's and NIH's "Effusion" is pleural effusion.
    'Effusion': ('60046008', 'SCT', 'Pleural effusion'),          # SCT.PleuralEffusion
    'Fibrosis': ('112674009', 'SCT', 'Fibrosis'),                 # SCT.Fibrosis
    'Calcification': ('18115005', 'SCT', 'Pathologic calcification'),  # SCT.PathologicCalcification
    # DICOM's own code (PS3.16), listed for chest findings; SNOMED CT's is not in the dictionary.
    'Infiltrate': ('112121', 'DCM', 'Infiltrate'),                # DCM.Infiltrate
    # No code for these in pydicom's dictionary (only narrower ones such as plate-like
    # atelectasis or mediastinal emphysema, which would say more than the model does).
    'Atelectasis': ('ATELECTASIS', PRIVATE_SCHEME, 'Atelectasis'),
    'Consolidation': ('CONSOLIDATION', PRIVATE_SCHEME, 'Consolidation'),
    'Emphysema': ('EMPHYSEMA', PRIVATE_SCHEME, 'Emphysema'),
    'Fracture': ('FRACTURE', PRIVATE_SCHEME, 'Fracture'),
    'Pleural Thickening': ('PLEURALTHICK', PRIVATE_SCHEME, 'Pleural thickening'),
    'Diffuse Nodule': ('DIFFUSENODULE', PRIVATE_SCHEME, 'Diffuse nodules'),
    'Pneumonia': ('PNEUMONIA', PRIVATE_SCHEME, 'Pneumonia'),
}

#: The detection score, a value in [0, 1]: DCM 111012 "Certainty of Finding" (codes.DCM.
#: CertaintyOfFinding), the concept DICOM's CAD templates give a finding's certainty.
SCORE_CODE = ('111012', 'DCM', 'Certainty of Finding')
#: UCUM "1", no units (codes.UCUM.NoUnits): the score is a plain number.
SCORE_UNIT = ('1', 'UCUM', 'no units')
#: SCT 413815006 "Chest imaging" (codes.SCT.ChestImaging): the procedure the report is about.
PROCEDURE_CODE = ('413815006', 'SCT', 'Chest imaging')

_CODE_MEANING_LENGTH = 64  # VR LO


def private_code_value(name):
    """The ``99TBMM`` code value of a class name that :data:`FINDING_CODES` lacks."""
    return f'X{zlib.crc32(name.encode("utf-8")):08X}'


def finding_code(name):
    """``(code value, scheme, meaning)`` of the finding a class ``name`` stands for."""
    if name in FINDING_CODES:
        return FINDING_CODES[name]
    return private_code_value(name), PRIVATE_SCHEME, name[:_CODE_MEANING_LENGTH]
