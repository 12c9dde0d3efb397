"""A Grayscale Softcopy Presentation State that draws findings on their source image, built with
highdicom: each box as a closed POLYLINE and a "<class> <score>" label anchored at its top left
corner, in pixel units of the source image, on one graphic layer per class (coloured with the
class's overlay colour).

The presentation state carries the source's modality LUT and VOI window (highdicom copies them
from the image). Its Presentation LUT Shape is INVERSE for a MONOCHROME1 image and IDENTITY
otherwise: a presentation state's output is a P-value where 0 is black, whatever the image's
photometric interpretation (PS3.3 C.11.6), so without INVERSE a MONOCHROME1 radiograph would be
shown with its grey scale reversed.
"""
import re

from tbmm.classes import class_color
from tbmm.dicom.sr import MANUFACTURER, box_polyline

__all__ = ['build_gsps', 'layer_names', 'label_text']

GSPS_SERIES_NUMBER = 9002
_LAYER_NAME_LENGTH = 16  # VR CS


def label_text(name, score):
    """The text drawn next to a box."""
    return f'{name} {score:.2f}'


def layer_names(class_names):
    """A graphic layer name (VR CS: upper case, digits, space, underscore; 16 characters) per class
    name, distinct."""
    names = {}
    for index, name in enumerate(dict.fromkeys(class_names), start=1):
        layer = re.sub(r'[^A-Z0-9 _]', '_', name.upper())[:_LAYER_NAME_LENGTH].strip() or 'FINDING'
        if layer in names.values():
            layer = f'FINDING {index}'
        names[name] = layer
    return names


def build_gsps(source, findings, algorithm, classes=None, series_instance_uid=None,
               sop_instance_uid=None):
    """The ``highdicom.pr.GrayscaleSoftcopyPresentationState`` drawing ``findings`` (``(class name,
    box, score)``, see :func:`tbmm.dicom.sr.findings_of`) on the image ``source`` (a pydicom
    dataset; its pixels are not needed). ``classes``: the model's class list, for the colours."""
    import highdicom as hd
    from highdicom.color import CIELabColor

    frames = 1 if int(source.get('NumberOfFrames') or 1) > 1 else None
    names = layer_names([name for name, _, _ in findings])
    layers = {}
    annotations = []
    for order, (name, layer_name) in enumerate(names.items(), start=1):
        colour = class_color(name, classes) if classes else class_color(name)
        layers[name] = hd.pr.GraphicLayer(layer_name=layer_name, order=order,
                                          description=name[:64],
                                          display_color=CIELabColor.from_rgb(*colour))
        mine = [(box, score) for n, box, score in findings if n == name]
        annotations.append(hd.pr.GraphicAnnotation(
            referenced_images=[source], graphic_layer=layers[name],
            referenced_frame_number=frames,
            graphic_objects=[hd.pr.GraphicObject(
                graphic_type=hd.pr.GraphicTypeValues.POLYLINE, graphic_data=box_polyline(box),
                units=hd.pr.AnnotationUnitsValues.PIXEL) for box, _ in mine],
            text_objects=[hd.pr.TextObject(
                text_value=label_text(name, score), units=hd.pr.AnnotationUnitsValues.PIXEL,
                anchor_point=(float(box[0]), float(box[1])), anchor_point_visible=False,
                text_justification=hd.pr.TextJustificationValues.LEFT) for box, score in mine]))
    photometric = str(source.get('PhotometricInterpretation', 'MONOCHROME2')).strip().upper()
    shape = (hd.PresentationLUTShapeValues.INVERSE if photometric == 'MONOCHROME1'
             else hd.PresentationLUTShapeValues.IDENTITY)
    gsps = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=[source], series_instance_uid=series_instance_uid or hd.UID(),
        series_number=GSPS_SERIES_NUMBER, sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name=algorithm.name[:64],
        software_versions=f'tbmm {algorithm.version}', device_serial_number='0',
        content_label='TBMM_FINDINGS', content_description='tbmm findings'[:64],
        graphic_layers=list(layers.values()) or None, graphic_annotations=annotations or None,
        presentation_lut_transformation=hd.PresentationLUTTransformation(
            presentation_lut_shape=shape),
        series_description='tbmm findings (GSPS)')
    # General Series' Laterality is type 2C, required for a paired body part: highdicom copies
    # neither it nor the body part, so dciodvfy cannot tell. Both come from the image.
    for keyword in ('BodyPartExamined', 'Laterality'):
        if source.get(keyword):
            setattr(gsps, keyword, source.get(keyword))
    return gsps
