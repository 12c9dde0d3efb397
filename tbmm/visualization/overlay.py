"""Box overlays on chest X-rays: class-coloured boxes, labels, legend, ground truth vs prediction.

Drawing is plain OpenCV on ``uint8`` RGB arrays (no display, no matplotlib), so it is fast enough to
run over a whole test set. Records are in the annotation format of :mod:`tbmm.datasets.annotations`:
``{"file_name", "syms", "boxes": [[x1, y1, x2, y2]], optional "scores"}``.

Layout, all inside the image (the output has the input's size): a label above each box (inside it
when the box touches the top edge), the title and any "No finding" mark at the top left, and the
legend of the classes drawn at the top right. Line widths and text scale with the image size.
"""
import os
import os.path as osp
from collections import Counter

import cv2
import numpy as np

from tbmm.classes import DEFAULT_CLASSES, PALETTE, class_color  # noqa: F401  (re-exported)
from tbmm.utils import ensure_parent_dir

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PANEL_BACKGROUND = (0, 0, 0)
_PANEL_TEXT = (255, 255, 255)
_NO_FINDING_BACKGROUND = (255, 255, 255)
_NO_FINDING_TEXT = (0, 0, 0)
_SEPARATOR = (255, 255, 255)


def format_label(name, score=None):
    """The text drawn next to a box: ``"Nodule 0.87"``, or ``"Nodule"`` without a score."""
    return name if score is None else f'{name} {score:.2f}'


def draw_boxes(image, record, classes=DEFAULT_CLASSES, score_thr=0.3, title=None):
    """Draw the record's boxes on a copy of ``image``; return an RGB ``uint8`` image, same size.

    Args:
        image: ``H x W`` gray or ``H x W x 3`` RGB ``uint8`` array (e.g. from ``read_xray``).
        record: annotation or prediction record. With ``scores``, only boxes scoring at least
            ``score_thr`` are drawn and labels show the score; without, every box is drawn.
        classes: class list fixing the colours (see :func:`class_color`).
        score_thr: minimum score of a drawn prediction.
        title: optional text at the top left.

    When no box is drawn, a "No finding" mark (with the threshold for predictions) is put at the top
    left so an empty result can't be mistaken for a missing overlay.
    """
    canvas = _as_rgb(image)
    style = _Style(*canvas.shape[:2])
    detections = _visible_detections(record, score_thr)

    # Title, "No finding" mark and legend first: a finding in a corner should cover them.
    header = []
    if title:
        header.append((title, _PANEL_TEXT, _PANEL_BACKGROUND))
    if not detections:
        text = 'No finding' if _scores(record) is None else f'No finding >= {score_thr:.2f}'
        header.append((text, _NO_FINDING_TEXT, _NO_FINDING_BACKGROUND))
    y = style.margin
    for text, color, background in header:
        y = style.margin + _draw_text_panel(canvas, style, text, (style.margin, y), color,
                                            background)
    drawn_names = {name for name, _, _ in detections}
    legend = [n for n in classes if n in drawn_names]
    legend += sorted(drawn_names.difference(legend))
    if legend:
        _draw_legend(canvas, style, legend, classes)

    height, width = canvas.shape[:2]
    # A box drawn again with another class (one finding of several classes, e.g. Consolidation +
    # Effusion) nests inside the earlier outline and stacks its label on the earlier one, so
    # every class of it stays visible.
    repeat = _repeat_numbers([box for _, box, _ in detections])
    for (name, box, _), k in zip(detections, repeat):
        # Clipped into the image, so a box reaching the border (x2 == width) shows that edge.
        x1, x2 = (min(max(int(round(v)), 0), width - 1) for v in box[0::2])
        y1, y2 = (min(max(int(round(v)), 0), height - 1) for v in box[1::2])
        inset = min(k * style.line, (x2 - x1) // 2, (y2 - y1) // 2)
        cv2.rectangle(canvas, (x1 + inset, y1 + inset), (x2 - inset, y2 - inset),
                      class_color(name, classes), style.line, cv2.LINE_8)
    # Labels after all boxes, so no box outline crosses a label.
    for (name, box, score), k in zip(detections, repeat):
        _draw_box_label(canvas, style, format_label(name, score), box, class_color(name, classes),
                        row=k)
    return canvas


def _repeat_numbers(boxes):
    """For each box, how many identical boxes came before it (0 for the first of each)."""
    seen = Counter()
    numbers = []
    for box in boxes:
        key = tuple(float(v) for v in box)
        numbers.append(seen[key])
        seen[key] += 1
    return numbers


def draw_gt_vs_pred(image, gt_record, pred_record, classes=DEFAULT_CLASSES, score_thr=0.3,
                    gap=None):
    """Side by side "Ground truth" | "Prediction" panels of the same image, as one RGB image.

    Each panel is :func:`draw_boxes` of the image (``H x W``); they are separated by a white strip
    ``gap`` pixels wide (default: scaled to the image, a few pixels), so the output is
    ``H x (2W + gap) x 3``.
    """
    gt_panel = draw_boxes(image, gt_record, classes, score_thr, title='Ground truth')
    pred_panel = draw_boxes(image, pred_record, classes, score_thr, title='Prediction')
    height = gt_panel.shape[0]
    if gap is None:
        gap = _Style(*gt_panel.shape[:2]).panel_gap
    separator = np.empty((height, int(gap), 3), np.uint8)
    separator[:] = _SEPARATOR
    return np.concatenate([gt_panel, separator, pred_panel], axis=1)


def save_image(path, rgb):
    """Write an RGB (or gray) ``uint8`` image, in the format its suffix names; makes parent dirs."""
    path = os.fspath(path)
    rgb = np.asarray(rgb)
    suffix = osp.splitext(path)[1]
    if not suffix:
        raise ValueError(f'{path}: no file suffix to choose the image format from')
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb
    try:
        ok, encoded = cv2.imencode(suffix, pixels)
    except cv2.error as e:
        raise ValueError(f'{path}: cannot encode image ({str(e).strip().splitlines()[-1]})') from e
    if not ok:
        raise ValueError(f'{path}: cannot encode image as {suffix}')
    ensure_parent_dir(path)
    with open(path, 'wb') as f:
        f.write(encoded.tobytes())


class _Style:
    """Sizes scaled to the image, so overlays read the same at 256 px and at 2048 px."""

    def __init__(self, height, width):
        size = max(height, width)
        self.line = max(1, round(size / 400))
        self.font_scale = max(0.35, size / 1600)
        self.font_thickness = max(1, round(self.font_scale * 1.5))
        self.pad = max(2, round(size / 300))
        self.margin = max(2, round(size / 150))
        self.panel_gap = max(2, 2 * self.line)

    def text_size(self, text):
        (width, height), baseline = cv2.getTextSize(text, _FONT, self.font_scale,
                                                    self.font_thickness)
        return width, height, baseline

    def put_text(self, canvas, text, origin, color):
        cv2.putText(canvas, text, origin, _FONT, self.font_scale, color, self.font_thickness,
                    cv2.LINE_AA)


def _as_rgb(image):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f'expected a uint8 image, got {image.dtype} (read it with read_xray)')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image).copy()
    raise ValueError(f'expected an H x W or H x W x 3 image, got shape {image.shape}')


def _scores(record):
    return record.get('scores')


def _visible_detections(record, score_thr):
    """``(name, box, score)`` of the boxes to draw, lowest score first so the best end on top."""
    scores = _scores(record)
    names, boxes = record.get('syms', []), record.get('boxes', [])
    if scores is None:
        return [(name, box, None) for name, box in zip(names, boxes)]
    kept = [(name, box, float(s)) for name, box, s in zip(names, boxes, scores) if s >= score_thr]
    return sorted(kept, key=lambda detection: detection[2])


def _text_color_on(background):
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _draw_text_panel(canvas, style, text, top_left, color, background):
    """Text on a filled rectangle whose top-left corner is ``top_left``; returns the bottom y."""
    text_width, text_height, baseline = style.text_size(text)
    x, y = top_left
    bottom = y + text_height + baseline + 2 * style.pad
    cv2.rectangle(canvas, (x, y), (x + text_width + 2 * style.pad, bottom), background, cv2.FILLED)
    style.put_text(canvas, text, (x + style.pad, y + style.pad + text_height), color)
    return bottom


def _draw_box_label(canvas, style, text, box, color, row=0):
    """The label of ``box``; ``row`` > 0 stacks it on the labels of identical boxes drawn before."""
    height, width = canvas.shape[:2]
    text_width, text_height, baseline = style.text_size(text)
    label_width = text_width + 2 * style.pad
    label_height = text_height + baseline + 2 * style.pad
    x1, y1 = int(round(box[0])), int(round(box[1]))
    x = min(max(0, x1), max(0, width - label_width))
    # Above the box; inside it, under the top edge, for the rows with no room above.
    rows_above = max(0, y1) // label_height
    y = (y1 - (row + 1) * label_height if row < rows_above
         else max(0, y1) + (row - rows_above) * label_height)
    _draw_text_panel(canvas, style, text, (x, y), _text_color_on(color), color)


def _draw_legend(canvas, style, names, classes):
    width = canvas.shape[1]
    sizes = [style.text_size(name) for name in names]
    text_height = max(h for _, h, _ in sizes)
    row_height = text_height + max(b for _, _, b in sizes) + style.pad
    swatch = text_height
    panel_width = swatch + style.pad + max(w for w, _, _ in sizes) + 2 * style.pad
    panel_height = row_height * len(names) + style.pad
    left = max(0, width - style.margin - panel_width)
    top = style.margin
    cv2.rectangle(canvas, (left, top), (left + panel_width, top + panel_height), _PANEL_BACKGROUND,
                  cv2.FILLED)
    for row, name in enumerate(names):
        row_top = top + style.pad + row * row_height
        x = left + style.pad
        cv2.rectangle(canvas, (x, row_top), (x + swatch, row_top + swatch),
                      class_color(name, classes), cv2.FILLED)
        style.put_text(canvas, name, (x + swatch + style.pad, row_top + text_height), _PANEL_TEXT)
