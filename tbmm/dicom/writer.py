"""Write a DICOM input's findings as a Comprehensive SR and a GSPS next to the other results.

:class:`DicomResultWriter` takes each image's prediction record as inference produces it: DICOM
inputs get ``DIR/<name>.sr.dcm`` and ``DIR/<name>.gsps.dcm`` (``<name>``: the input's file name
without its ``.dcm``/``.dicom`` suffix, sub-folders kept); other inputs are counted and left alone.
A DICOM input whose header cannot be turned into results is reported in one line and skipped.
"""
import os
import os.path as osp
from collections import Counter

from tbmm.datasets.image_io.formats import DICOM_SUFFIXES, has_dicom_magic, is_dicom, read_head
from tbmm.dicom.gsps import build_gsps
from tbmm.dicom.sr import AlgorithmInfo, build_sr, findings_of
from tbmm.errors import error_line

__all__ = ['DicomResultWriter', 'algorithm_info', 'result_names']


def algorithm_info(config, checkpoints, parameters=()):
    """:class:`~tbmm.dicom.sr.AlgorithmInfo` of a model: named after its config file, tbmm's
    version, the SHA-256 of each checkpoint file."""
    from tbmm import __version__
    from tbmm.utils import file_sha256

    if isinstance(checkpoints, (str, os.PathLike)):
        checkpoints = [checkpoints]
    path = getattr(config, 'filename', None) or config  # a path or an mmengine Config
    name = osp.splitext(osp.basename(os.fspath(path)))[0]
    return AlgorithmInfo(name=name, version=__version__,
                         model_sha256=tuple(file_sha256(c) for c in checkpoints),
                         parameters=tuple(parameters))


def result_names(file_name):
    """``(SR name, GSPS name)`` of an input's file name: ``a/b.dcm -> a/b.sr.dcm, a/b.gsps.dcm``."""
    stem = file_name
    if stem.lower().endswith(DICOM_SUFFIXES):
        stem = osp.splitext(stem)[0]
    return f'{stem}.sr.dcm', f'{stem}.gsps.dcm'


# Type 2 attributes of the patient, study and series the results copy from the source: they must
# be present, but may be empty; highdicom stops at any that a (non-conformant) source lacks.
_TYPE2_COPIED = ('PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate',
                 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber')


def _fill_type2_attributes(source):
    for keyword in _TYPE2_COPIED:
        if keyword not in source:
            setattr(source, keyword, '')


class DicomResultWriter:
    """Writes SR + GSPS per DICOM input into ``out_dir``; call :meth:`write` per prediction record.

    Findings are the boxes scoring at least their class's entry of ``thresholds`` (else
    ``score_thr``); the SR lists them all, the GSPS draws them all. ``classes`` (the model's class
    list) gives the colours. Afterwards ``written`` holds ``(file_name, sr_path, gsps_path)``,
    ``failures`` ``(file_name, reason)`` and ``n_not_dicom`` the inputs that are no DICOM files.
    """

    def __init__(self, out_dir, algorithm, classes=None, score_thr=0.3, thresholds=None):
        self.out_dir = os.fspath(out_dir)
        self.algorithm = algorithm
        self.classes = tuple(classes) if classes else None
        self.score_thr = score_thr
        self.thresholds = thresholds
        self.written, self.failures, self.n_not_dicom = [], [], 0
        self._stems = Counter()

    def write(self, path, record):
        """Write the results of one input (``record`` in predictions.json's form); return the
        ``(sr_path, gsps_path)`` written, or None (not DICOM, or failed: see ``failures``)."""
        path = os.fspath(path)
        file_name = record['file_name']
        try:
            head = read_head(path)
        except Exception as e:  # gone since it was read for inference
            self.failures.append((file_name, error_line(e)))
            return None
        if not is_dicom(head, path):
            self.n_not_dicom += 1
            return None
        try:
            import pydicom
            source = pydicom.dcmread(path, stop_before_pixels=True,
                                     force=not has_dicom_magic(head))
            _fill_type2_attributes(source)
            findings = findings_of(record, self.score_thr, self.thresholds)
            sr = build_sr(source, findings, self.algorithm)
            gsps = build_gsps(source, findings, self.algorithm, classes=self.classes)
        except Exception as e:  # highdicom refuses many kinds of incomplete source headers
            self.failures.append((file_name, f'no DICOM results: {error_line(e)}'))
            return None
        sr_path, gsps_path = (osp.join(self.out_dir, name) for name in self._names(file_name))
        os.makedirs(osp.dirname(sr_path), exist_ok=True)
        sr.save_as(sr_path, enforce_file_format=True)
        gsps.save_as(gsps_path, enforce_file_format=True)
        self.written.append((file_name, sr_path, gsps_path))
        return sr_path, gsps_path

    def _names(self, file_name):
        sr_name, gsps_name = result_names(file_name)
        # b.dcm and b.dicom side by side: the second keeps its suffix in the name.
        self._stems[sr_name.lower()] += 1
        if self._stems[sr_name.lower()] > 1:
            flat = file_name.replace('.', '_')
            return f'{flat}.sr.dcm', f'{flat}.gsps.dcm'
        return sr_name, gsps_name
