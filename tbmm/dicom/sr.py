"""A Comprehensive SR (TID 1500 Measurement Report) of one image's findings, built with highdicom.

One TID 1410 planar ROI group per finding: its box as a closed POLYLINE (5 points, the first
repeated) in the source image's pixel space, its coded finding type (:mod:`tbmm.dicom.codes`), its
score as a "Certainty of Finding" measurement, and the algorithm's identification (name, tbmm's
version, the checkpoint's SHA-256). An image without findings gets one TID 1501 group on the image
whose finding is SCT 260413007 "None". A device observer context names tbmm as the observer.

Coordinates: tbmm's boxes ``[x1, y1, x2, y2]`` are in the original image's pixels with ``(0, 0)``
the top left corner of the top left pixel, which is DICOM's convention for image coordinates
(PS3.3 C.18.6.1.1, "the top left hand corner of the top left pixel ... is 0.0\\0.0"), so they go
into the SR unchanged.
"""
from dataclasses import dataclass, field

import numpy as np

from tbmm.dicom.codes import (
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    PROCEDURE_CODE,
    SCORE_CODE,
    SCORE_UNIT,
    finding_code,
)

__all__ = ['AlgorithmInfo', 'box_polyline', 'build_sr', 'coded', 'findings_of']

SR_SERIES_NUMBER = 9001
MANUFACTURER = 'tbmm'


@dataclass(frozen=True)
class AlgorithmInfo:
    """What made the findings: ``name`` (the config), tbmm's ``version``, the checkpoint's (or
    each ensemble member's) SHA-256 in ``model_sha256``, and extra ``parameters`` lines."""
    name: str
    version: str
    model_sha256: tuple
    parameters: tuple = field(default=())

    def parameter_lines(self):
        """The lines of the SR's Algorithm Parameters: each model hash, then ``parameters``."""
        return tuple(f'model sha256: {digest}' for digest in self.model_sha256) + self.parameters

    def device_uid(self):
        """A UID that stays the same for the same model (derived from its hashes)."""
        from pydicom.uid import generate_uid
        return generate_uid(entropy_srcs=['tbmm', self.name, *self.model_sha256])


def coded(entry):
    """A highdicom ``CodedConcept`` from a ``(value, scheme, meaning)`` entry."""
    from highdicom.sr import CodedConcept
    value, scheme, meaning = entry
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def box_polyline(box):
    """The closed POLYLINE of a box ``[x1, y1, x2, y2]``: 5 ``(column, row)`` points, clockwise
    from the top left corner, the first repeated at the end."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=np.float64)


def findings_of(record, score_thr=0.0, thresholds=None):
    """``(class name, box, score)`` of the record's boxes at or above their threshold, highest
    score first: ``thresholds[class]`` where given, else ``score_thr``."""
    thresholds = thresholds or {}
    found = [(sym, box, score) for sym, box, score in
             zip(record['syms'], record['boxes'], record['scores'])
             if score >= thresholds.get(sym, score_thr)]
    return sorted(found, key=lambda f: -f[2])


def _frame_numbers(source):
    # tbmm reads the first frame of a multi-frame image, so that is the one the boxes are on.
    return [1] if int(source.get('NumberOfFrames') or 1) > 1 else None


def build_sr(source, findings, algorithm, series_instance_uid=None, sop_instance_uid=None):
    """The ``highdicom.sr.ComprehensiveSR`` of ``findings`` (see :func:`findings_of`) on the image
    ``source`` (a pydicom dataset; its pixels are not needed). It is in the source's study, in a
    new series, with new UIDs unless given."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm_id = hd.sr.AlgorithmIdentification(
        name=algorithm.name, version=algorithm.version,
        parameters=list(algorithm.parameter_lines()) or None)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=algorithm.device_uid(), name=algorithm.name, manufacturer_name=MANUFACTURER,
            model_name=algorithm.name))
    frames = _frame_numbers(source)
    groups = []
    for index, (name, box, score) in enumerate(findings, start=1):
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=box_polyline(box),
            source_image=hd.sr.SourceImageForRegion.from_source_image(
                source, referenced_frame_numbers=frames))
        score_item = hd.sr.Measurement(name=coded(SCORE_CODE), value=float(score),
                                       unit=coded(SCORE_UNIT), algorithm_id=algorithm_id)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(),
                                                         identifier=f'finding {index}: {name}'),
            referenced_region=region, finding_type=coded(finding_code(name)),
            algorithm_id=algorithm_id, measurements=[score_item]))
    if not groups:
        # TID 1500 needs a group; without findings one TID 1501 group on the image says
        # "Finding: None" (DCM 121071, SCT 260413007).
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier='no finding'),
            algorithm_id=algorithm_id, finding_type=codes.SCT.None_,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(
                source, referenced_frame_numbers=frames)]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=coded(PROCEDURE_CODE), imaging_measurements=groups)
    sr = hd.sr.ComprehensiveSR(
        evidence=[source], content=report[0],
        series_instance_uid=series_instance_uid or hd.UID(), series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid or hd.UID(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
        series_description='tbmm findings (SR)')
    if any(finding_code(name)[1] == PRIVATE_SCHEME for name, _, _ in findings):
        sr.CodingSchemeIdentificationSequence = [_private_scheme_identification()]
    return sr


def _private_scheme_identification():
    # PS3.3 C.12.1.1.3.1: a private coding scheme used in the instance is identified here.
    from pydicom.dataset import Dataset
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = 'tbmm'
    return item
