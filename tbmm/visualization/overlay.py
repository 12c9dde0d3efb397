"""Box overlays on chest X-rays: class-coloured boxes, labels, legend, ground truth vs prediction.

One concept: the overlay's layout and its drawing share one size style, font and palette, and a
layout is only ever made to be drawn, so they stay one module.

Drawing is plain OpenCV on ``uint8`` RGB arrays (no display, no matplotlib), so it is fast enough to
run over a whole test set. Records are in the annotation format of :mod:`tbmm.datasets.annotations`:
``{"file_name", "syms", "boxes": [[x1, y1, x2, y2]], optional "scores"}``.

Layout (:func:`layout_overlay`, rectangles a test can check): the image keeps its pixel
coordinates at the output's top left; a panel on its right holds the title, any "No finding" mark
and the legend of the classes drawn, so none of them covers the image. Each box's label sits next
to it (above, inside under the top edge, below), moved, stacked or shrunk so that no two labels
overlap. Line widths and text scale with the image size (legible at 256 px and at 2048 px).
"""
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import cv2
import numpy as np

from tbmm.classes import DEFAULT_CLASSES, PALETTE, class_color  # noqa: F401  (re-exported)
from tbmm.utils import ensure_parent_dir

_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Smallest font scale a label shrinks to when its place is taken (capitals about 7 px tall).
MIN_FONT_SCALE = 0.3
_PANEL_BACKGROUND = (0, 0, 0)
_PANEL_TEXT = (255, 255, 255)
_NO_FINDING_BACKGROUND = (255, 255, 255)
_NO_FINDING_TEXT = (0, 0, 0)
_SEPARATOR = (255, 255, 255)


def format_label(name, score=None):
    """The text drawn next to a box: ``"Nodule 0.87"``, or ``"Nodule"`` without a score."""
    return name if score is None else f'{name} {score:.2f}'


def draw_boxes(image, record, classes=DEFAULT_CLASSES, score_thr=0.3, title=None):
    """Draw the record's boxes on a copy of ``image``, with a side panel; return an RGB ``uint8``
    image ``H x (W + panel) x 3``.

    Args:
        image: ``H x W`` gray or ``H x W x 3`` RGB ``uint8`` array (e.g. from ``read_xray``).
        record: annotation or prediction record. With ``scores``, only boxes scoring at least
            ``score_thr`` are drawn and labels show the score; without, every box is drawn.
        classes: class list fixing the colours (see :func:`class_color`).
        score_thr: minimum score of a drawn prediction, or ``{class: threshold}`` (per-class
            operating thresholds, every class of the record's boxes).
        title: optional text at the top of the panel.

    The image keeps its pixel coordinates (``out[:H, :W]``); the panel on its right holds the
    title, the legend of the classes drawn and, when no box is drawn, a "No finding" mark (with
    the threshold for predictions), so an empty result can't be mistaken for a missing overlay.
    Labels are placed so that none covers another (:func:`layout_overlay`).
    """
    canvas = _as_rgb(image)
    layout = layout_overlay(canvas.shape[:2], record, classes, score_thr, title)
    return render_layout(canvas, layout)


def render_layout(image, layout, min_width=None):
    """Draw :class:`OverlayLayout` ``layout`` of ``image`` (RGB ``uint8``, the layout's image
    size); the panel is widened to make the output ``min_width`` wide when given."""
    height, width = layout.image_size
    canvas_width = max(layout.canvas_size[1], min_width or 0)
    canvas = np.empty((layout.canvas_size[0], canvas_width, 3), np.uint8)
    canvas[:] = _PANEL_BACKGROUND
    canvas[:height, :width] = image
    for name, (x1, y1, x2, y2), color in layout.boxes:
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, layout.line_width, cv2.LINE_8)
    # Labels after all boxes, so no box outline crosses a label.
    for text_box in [*layout.labels, *layout.panel]:
        _draw_text_box(canvas, text_box)
    for (x1, y1, x2, y2), color in layout.swatches:
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), color, cv2.FILLED)
    return canvas


@dataclass(frozen=True)
class TextBox:
    """A text on a filled rectangle; ``rect`` = ``(x1, y1, x2, y2)`` covers the pixels
    ``x1 <= x < x2``, ``y1 <= y < y2`` of the output (image and panel)."""
    text: str
    rect: Tuple[int, int, int, int]
    font_scale: float
    thickness: int
    color: Tuple[int, int, int]
    background: Tuple[int, int, int]

    @property
    def text_height(self):
        """Height in pixels of the text's capitals (what makes it legible)."""
        return cv2.getTextSize(self.text, _FONT, self.font_scale, self.thickness)[0][1]


@dataclass
class OverlayLayout:
    """Where :func:`draw_boxes` puts everything (see :func:`layout_overlay`)."""
    image_size: Tuple[int, int]  # (H, W) of the image, at the output's top left
    canvas_size: Tuple[int, int]  # (H, W + panel width) of the output
    line_width: int
    boxes: List[tuple] = field(default_factory=list)  # (name, (x1, y1, x2, y2) drawn, colour)
    labels: List[TextBox] = field(default_factory=list)  # in the image, one per box shown
    panel: List[TextBox] = field(default_factory=list)  # title, "No finding", legend names
    swatches: List[tuple] = field(default_factory=list)  # legend colours: (rect, colour)
    legend_rect: Optional[Tuple[int, int, int, int]] = None  # the legend's area in the panel
    hidden_labels: int = 0  # labels no free place was found for (counted in the panel)

    def text_rects(self):
        """Rectangles of every label and panel text and of the legend, for overlap checks."""
        rects = [t.rect for t in (*self.labels, *self.panel)]
        return rects + ([self.legend_rect] if self.legend_rect else [])


def layout_overlay(image_size, record, classes=DEFAULT_CLASSES, score_thr=0.3, title=None):
    """The layout of :func:`draw_boxes` for an image of ``image_size`` = ``(H, W)``: boxes, their
    labels and the side panel, as rectangles (testable without drawing).

    Each label goes to the first free place of: above the box's top-left corner (stacking
    upwards), inside under its top edge (stacking down), below its bottom edge, the same at its
    right edge, then the free place nearest to its box; if no place is free, its font shrinks
    (down to :data:`MIN_FONT_SCALE`) and, failing that, the label is left out and counted in the
    panel. Labels are placed best score first, so the best findings get the places next to their
    boxes. No two labels overlap, and none reaches into the panel.
    """
    height, width = (int(v) for v in image_size[:2])
    style = _Style(height, width)
    detections = _visible_detections(record, score_thr)
    layout = OverlayLayout(image_size=(height, width), canvas_size=(height, width),
                           line_width=style.line)
    # A box drawn again with another class (one finding of several classes, e.g. Consolidation +
    # Effusion) nests inside the earlier outline, so every class of it stays visible.
    repeat = _repeat_numbers([box for _, box, _ in detections])
    clipped = []  # labels go by the box itself, not its inset outline
    for (name, box, _), k in zip(detections, repeat):
        # Clipped into the image, so a box reaching the border (x2 == width) shows that edge.
        x1, x2 = (min(max(int(round(v)), 0), width - 1) for v in box[0::2])
        y1, y2 = (min(max(int(round(v)), 0), height - 1) for v in box[1::2])
        inset = min(k * style.line, (x2 - x1) // 2, (y2 - y1) // 2)
        clipped.append((x1, y1, x2, y2))
        layout.boxes.append((name, (x1 + inset, y1 + inset, x2 - inset, y2 - inset),
                             class_color(name, classes)))

    placed = np.zeros((0, 4), np.int64)
    order = sorted(range(len(detections)),
                   key=lambda i: -(detections[i][2] if detections[i][2] is not None else 0))
    labels = {}
    for i in order:  # stable: ground truth (no scores) keeps the record's order
        name, _, score = detections[i]
        color = class_color(name, classes)
        label = _place_label(style, format_label(name, score), clipped[i], placed,
                             (height, width), color)
        if label is None:
            layout.hidden_labels += 1
            continue
        labels[i] = label
        placed = np.vstack([placed, np.array([label.rect], np.int64)])
    layout.labels = [labels[i] for i in sorted(labels)]

    drawn_names = {name for name, _, _ in detections}
    legend = [n for n in classes if n in drawn_names]
    legend += sorted(drawn_names.difference(legend))
    no_finding = None
    if not detections:
        no_finding = ('No finding' if _scores(record) is None
                      else 'No finding above the class thresholds' if isinstance(score_thr, dict)
                      else f'No finding >= {score_thr:.2f}')
    _layout_panel(layout, style, title, no_finding, legend, classes)
    return layout


def _label_size(style, text, scale):
    thickness = style.thickness_for(scale)
    (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    return text_width + 2 * style.pad, text_height + baseline + 2 * style.pad, thickness


def _preferred_corners(box, label_width, label_height, placed):
    """Top-left corners to try for a label of ``box``, best first (see :func:`layout_overlay`):
    above the box, right on top of labels already there (tight stacks), then further up, inside
    under the top edge, below; the same at the box's right edge."""
    x1, y1, x2, y2 = box
    right = x2 - label_width
    corners = []
    for x in (x1, right):
        corners.append((x, y1 - label_height))
        # On top of the labels placed just above this box (e.g. a neighbouring box's).
        tops = sorted({int(p[1]) for p in placed
                       if y1 - 4 * label_height <= p[1] <= y1 and p[0] < x + label_width
                       and x < p[2]}, reverse=True)
        corners += [(x, top - label_height) for top in tops]
        corners += [(x, y1 - k * label_height) for k in (2, 3)]  # above, stacking up
        corners += [(x, y1 + k * label_height) for k in (0, 1, 2)]  # inside, stacking down
        corners += [(x, y2 + k * label_height) for k in (0, 1)]  # below
    return corners


def _free(rects, placed):
    """Which candidate ``rects`` (N x 4) overlap none of ``placed`` (M x 4)."""
    if not len(placed):
        return np.ones(len(rects), bool)
    overlap = ((rects[:, None, 0] < placed[None, :, 2]) & (placed[None, :, 0] < rects[:, None, 2])
               & (rects[:, None, 1] < placed[None, :, 3])
               & (placed[None, :, 1] < rects[:, None, 3]))
    return ~overlap.any(axis=1)


def _place_label(style, text, box, placed, image_size, color):
    height, width = image_size
    for scale in style.label_scales():
        label_width, label_height, thickness = _label_size(style, text, scale)
        if label_width > width or label_height > height:
            continue
        corners = _preferred_corners(box, label_width, label_height, placed)
        # Then anywhere in the image, nearest to the box's top-left corner first.
        xs = np.unique(np.r_[np.arange(0, width - label_width + 1, max(1, label_width // 4)),
                             width - label_width])
        ys = np.unique(np.r_[np.arange(0, height - label_height + 1, max(1, label_height // 2)),
                             height - label_height])
        grid_x, grid_y = np.meshgrid(xs, ys)
        distance = np.hypot(grid_x - box[0], grid_y - (box[1] - label_height)).ravel()
        nearest = np.argsort(distance, kind='stable')
        candidates = np.array(
            [(min(max(x, 0), width - label_width), y) for x, y in corners
             if 0 <= y <= height - label_height] +
            list(zip(grid_x.ravel()[nearest], grid_y.ravel()[nearest])), np.int64).reshape(-1, 2)
        rects = np.concatenate([candidates, candidates + (label_width, label_height)], axis=1)
        free = np.flatnonzero(_free(rects, placed))
        if free.size:
            x, y = (int(v) for v in candidates[free[0]])
            return TextBox(text, (x, y, x + label_width, y + label_height), scale, thickness,
                           _text_color_on(color), color)
    return None


def _wrap(style, text, max_width):
    """Words of ``text`` in lines at most ``max_width`` pixels wide (a longer word is cut)."""
    lines, line = [], ''
    for word in text.split():
        while _label_size(style, word, style.font_scale)[0] > max_width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and _label_size(style, word[:cut], style.font_scale)[0] > max_width:
                cut -= 1
            if line:
                lines.append(line)
                line = ''
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f'{line} {word}'.strip()
        if line and _label_size(style, candidate, style.font_scale)[0] > max_width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def _layout_panel(layout, style, title, no_finding, legend, classes):
    """Title, "No finding" mark and legend in a panel right of the image; sets the canvas width.

    Legend rows fill the panel's height and go on in another column when they do not fit.
    """
    height, width = layout.image_size
    gap, scale, thickness = style.margin, style.font_scale, style.font_thickness
    text_sizes = {name: cv2.getTextSize(name, _FONT, scale, thickness) for name in legend}
    text_height = max([h for (_, h), _ in text_sizes.values()] or [0])
    row_height = text_height + max([b for _, b in text_sizes.values()] or [0]) + style.pad
    swatch = text_height
    column_width = max([w for (w, _), _ in text_sizes.values()] or [0]) + swatch + style.pad
    hidden = (f'{layout.hidden_labels} label(s) left out (no room)'
              if layout.hidden_labels else None)
    fixed = max([_label_size(style, t, scale)[0] for t in (no_finding, hidden) if t] or [0])
    title_width = _label_size(style, title, scale)[0] if title else 0
    inner = max(column_width, fixed, min(title_width, max(column_width, fixed, width // 2)))
    inner = max(inner, _label_size(style, 'Ground truth', scale)[0])

    def stack(texts, top, color, background):
        boxes = []
        for text in texts:
            w, h, t = _label_size(style, text, scale)
            x = width + gap
            boxes.append(TextBox(text, (x, top, x + w, top + h), scale, t, color, background))
            top += h
        return boxes, top

    for _ in range(2):  # the legend's columns may widen the panel; the title then rewraps
        title_lines = _wrap(style, title, inner) if title else []
        line_height = _label_size(style, 'Ag', scale)[1]
        max_lines = max(1, (height - 2 * gap) // (3 * line_height))
        if len(title_lines) > max_lines:
            title_lines = title_lines[:max_lines - 1] + [title_lines[max_lines - 1] + '...']
        panel, top = stack(title_lines, gap, _PANEL_TEXT, _PANEL_BACKGROUND)
        if no_finding:
            marks, top = stack([no_finding], top + gap // 2, _NO_FINDING_TEXT,
                               _NO_FINDING_BACKGROUND)
            panel += marks
        if hidden:
            notes, top = stack([hidden], top + gap // 2, _PANEL_TEXT, _PANEL_BACKGROUND)
            panel += notes
        legend_top = top + gap
        rows = max(1, (height - legend_top - gap) // max(row_height, 1)) if legend else 1
        columns = -(-len(legend) // rows) if legend else 0
        legend_width = columns * column_width + max(0, columns - 1) * gap
        if legend_width <= inner:
            break
        inner = legend_width
    layout.panel = panel
    layout.swatches = []
    for k, name in enumerate(legend):
        column, row = divmod(k, rows)
        x = width + gap + column * (column_width + gap)
        y = legend_top + row * row_height
        layout.swatches.append(((x, y, x + swatch, y + swatch), class_color(name, classes)))
        layout.panel.append(TextBox(name, (x + swatch + style.pad, y - style.pad,
                                           x + column_width, y + row_height - style.pad),
                                    scale, thickness, _PANEL_TEXT, _PANEL_BACKGROUND))
    if legend:
        n_rows = min(rows, len(legend))
        layout.legend_rect = (width + gap, legend_top, width + gap + legend_width,
                              legend_top + n_rows * row_height)
    layout.canvas_size = (height, width + 2 * gap + inner)


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

    Each panel is :func:`draw_boxes` of the image with its side panel, both made as wide as the
    wider one; they are separated by a white strip ``gap`` pixels wide (default: scaled to the
    image, a few pixels).
    """
    rgb = _as_rgb(image)
    layouts = [layout_overlay(rgb.shape[:2], record, classes, score_thr, title)
               for record, title in ((gt_record, 'Ground truth'), (pred_record, 'Prediction'))]
    panel_width = max(layout.canvas_size[1] for layout in layouts)
    gt_panel, pred_panel = (render_layout(rgb, layout, panel_width) for layout in layouts)
    height = gt_panel.shape[0]
    if gap is None:
        gap = _Style(*rgb.shape[:2]).panel_gap
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

    def thickness_for(self, scale):
        return max(1, round(scale * 1.5))

    def label_scales(self):
        """Font scales a label tries: the style's, then smaller ones down to MIN_FONT_SCALE."""
        scales = [self.font_scale * f for f in (1.0, 0.85, 0.7)]
        return sorted({max(MIN_FONT_SCALE, s) for s in scales}, reverse=True)


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
    # A dict is a threshold per class (operating thresholds): a box shows at its class's one.
    kept = [(name, box, float(s)) for name, box, s in zip(names, boxes, scores)
            if s >= (score_thr[name] if isinstance(score_thr, dict) else score_thr)]
    return sorted(kept, key=lambda detection: detection[2])


def _text_color_on(background):
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _draw_text_box(canvas, text_box):
    x1, y1, x2, y2 = text_box.rect
    cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), text_box.background, cv2.FILLED)
    (_, text_height), baseline = cv2.getTextSize(text_box.text, _FONT, text_box.font_scale,
                                                 text_box.thickness)
    pad = (y2 - y1 - text_height - baseline) // 2  # the rectangle is the text plus a pad around
    cv2.putText(canvas, text_box.text, (x1 + pad, y1 + pad + text_height), _FONT,
                text_box.font_scale, text_box.color, text_box.thickness, cv2.LINE_AA)
