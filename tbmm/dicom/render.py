"""Show an image as a Grayscale Softcopy Presentation State says, the way a viewer does: a small
renderer for pictures and checks, not a full implementation of the standard.

The presentation state's own transforms are applied to the stored pixels in the standard's order
(PS3.4 N.2): its modality rescale (identity when it has none), its first VOI window (pydicom's
``apply_windowing``: LINEAR, LINEAR_EXACT or SIGMOID; the value range when it has no window), then
its Presentation LUT Shape (INVERSE flips the grey scale over 0-255; pydicom's own
``apply_presentation_lut`` flips over the image's maximum instead, which darkens a window that
leaves the brightest pixels below white). The image's own window and photometric interpretation are
ignored, as the standard says for a presentation state. Then every graphic annotation is drawn:
POLYLINE objects in pixel units as lines in their layer's recommended colour, text objects at
their anchor point. VOI LUT tables, modality LUT tables and display units are refused with a
``NotImplementedError``.
"""
import cv2
import numpy as np

__all__ = ['apply_presentation_lut', 'render_presentation_state', 'windowed_gray']

_DEFAULT_RGB = (255, 255, 0)
_SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 pixel precision


def _window(values, voi_item):
    """pydicom's windowing (LINEAR, LINEAR_EXACT or SIGMOID; the first window) of the
    presentation state's VOI item onto [0, 255]."""
    from pydicom import Dataset
    from pydicom.pixels import apply_windowing

    # apply_windowing maps onto the range of a dataset's stored bits: 8 unsigned bits give 0-255.
    window = Dataset()
    window.PhotometricInterpretation = 'MONOCHROME2'
    window.BitsStored = 8
    window.PixelRepresentation = 0
    for keyword in ('WindowCenter', 'WindowWidth', 'VOILUTFunction'):
        if keyword in voi_item:
            setattr(window, keyword, voi_item[keyword].value)
    return apply_windowing(values, window)


def windowed_gray(stored, presentation_state):
    """Stored pixel values through the presentation state's modality rescale and VOI window, as
    ``float64`` in [0, 255] (before the presentation LUT)."""
    if 'ModalityLUTSequence' in presentation_state:
        raise NotImplementedError('modality LUT tables are not rendered')
    slope = float(presentation_state.get('RescaleSlope', 1) or 1)
    intercept = float(presentation_state.get('RescaleIntercept', 0) or 0)
    values = stored.astype(np.float64) * slope + intercept
    voi_items = presentation_state.get('SoftcopyVOILUTSequence') or []
    if voi_items and 'VOILUTSequence' in voi_items[0]:
        raise NotImplementedError('VOI LUT tables are not rendered')
    if voi_items and 'WindowCenter' in voi_items[0]:
        return _window(values, voi_items[0])
    low, high = float(values.min()), float(values.max())
    return (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)


def apply_presentation_lut(gray, presentation_state):
    """``uint8`` P-values (0 black) from windowed values: inverted for a Presentation LUT Shape of
    INVERSE."""
    shape = str(presentation_state.get('PresentationLUTShape', 'IDENTITY')).upper()
    if 'PresentationLUTSequence' in presentation_state:
        raise NotImplementedError('presentation LUT tables are not rendered')
    out = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    return 255 - out if shape == 'INVERSE' else out


def _layer_colours(presentation_state):
    from highdicom.color import CIELabColor
    colours = {}
    for layer in presentation_state.get('GraphicLayerSequence') or []:
        lab = layer.get('GraphicLayerRecommendedDisplayCIELabValue')
        colours[layer.GraphicLayer] = (CIELabColor.from_dicom_value(lab).to_rgb(clip=True)
                                       if lab is not None else _DEFAULT_RGB)
    return colours


def _pixel_points(graphic_data):
    # DICOM puts 0.0\0.0 at the top left corner of the top left pixel, OpenCV at its centre.
    points = np.asarray(graphic_data, dtype=np.float64).reshape(-1, 2) - 0.5
    return np.round(points * (1 << _SUBPIXEL_BITS)).astype(np.int32)


def render_presentation_state(image, presentation_state, line_width=None, font_scale=None):
    """The image (a pydicom dataset with pixels; first frame) as ``presentation_state`` shows it,
    with its graphics: an RGB ``uint8`` array of the image's size."""
    stored = image.pixel_array
    if int(image.get('NumberOfFrames') or 1) > 1:
        stored = stored[0]
    gray = apply_presentation_lut(windowed_gray(stored, presentation_state), presentation_state)
    canvas = np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    size = max(canvas.shape[:2])
    line_width = line_width or max(2, size // 400)
    font_scale = font_scale or max(0.5, size / 1200)
    colours = _layer_colours(presentation_state)
    for annotation in presentation_state.get('GraphicAnnotationSequence') or []:
        colour = colours.get(annotation.get('GraphicLayer'), _DEFAULT_RGB)
        for graphic in annotation.get('GraphicObjectSequence') or []:
            if graphic.GraphicAnnotationUnits != 'PIXEL':
                raise NotImplementedError('graphics in display units are not rendered')
            if graphic.GraphicType != 'POLYLINE':
                raise NotImplementedError(f'graphic type {graphic.GraphicType} is not rendered')
            cv2.polylines(canvas, [_pixel_points(graphic.GraphicData)], False, colour,
                          line_width, cv2.LINE_AA, _SUBPIXEL_BITS)
        for text in annotation.get('TextObjectSequence') or []:
            if 'AnchorPoint' not in text or text.AnchorPointAnnotationUnits != 'PIXEL':
                raise NotImplementedError('text without a pixel anchor point is not rendered')
            x, y = (float(v) for v in text.AnchorPoint)
            thickness = max(1, line_width // 2)
            label = str(text.UnformattedTextValue)
            (_, text_height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                                  thickness)
            # Above the anchor (a box's top left corner), or just below it at the image's top.
            top = y - 2 * line_width
            if top - text_height < 0:
                top = y + text_height + 2 * line_width
            origin = (int(round(x)), int(round(top)))
            cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, colour, thickness, cv2.LINE_AA)
    return canvas
