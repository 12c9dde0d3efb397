"""Overlays change the image where boxes, labels, legend and marks go, and nowhere else."""
import cv2
import numpy as np
import pytest

from tbmm.classes import DEFAULT_CLASSES
from tbmm.visualization import (
    PALETTE,
    class_color,
    draw_boxes,
    draw_gt_vs_pred,
    format_label,
    save_image,
)


def noise_image(size, seed=0):
    """Random gray pixels: any drawn pixel is very likely to differ from what was there."""
    return (np.random.RandomState(seed).rand(size, size) * 255).astype(np.uint8)


def changed(before_gray, after_rgb):
    return np.any(after_rgb != before_gray[..., None], axis=2)


def record(syms, boxes, scores=None):
    out = {'file_name': 'x.png', 'syms': syms, 'boxes': boxes}
    if scores is not None:
        out['scores'] = scores
    return out


def test_class_colors_are_fixed_and_distinct_for_the_default_classes():
    colors = [class_color(name, DEFAULT_CLASSES) for name in DEFAULT_CLASSES]
    assert len(set(colors)) == len(DEFAULT_CLASSES)
    assert colors == list(PALETTE[:len(DEFAULT_CLASSES)])
    assert class_color('Nodule') == class_color('Nodule', DEFAULT_CLASSES)
    # Names outside the class list still get a stable colour.
    assert class_color('Pneumothorax') == class_color('Pneumothorax')
    assert all(0 <= c <= 255 for c in class_color('Pneumothorax'))


def test_labels_show_the_score_only_when_there_is_one():
    assert format_label('Nodule', 0.873) == 'Nodule 0.87'
    assert format_label('Nodule') == 'Nodule'


@pytest.mark.parametrize('size', [256, 1024])
def test_overlay_changes_the_box_outline_and_leaves_far_pixels_alone(size):
    image = noise_image(size)
    s = size / 256  # box in the lower-left quarter, scaled with the image
    x1, y1, x2, y2 = 40 * s, 150 * s, 110 * s, 230 * s
    out = draw_boxes(image, record(['Nodule'], [[x1, y1, x2, y2]], [0.87]), DEFAULT_CLASSES)
    # The image keeps its coordinates; the legend goes to a panel on its right.
    assert out.shape[0] == size and size < out.shape[1] < 2 * size and out.dtype == np.uint8
    panel = out[:, size:]
    out = out[:, :size]
    diff = changed(image, out)
    x1, y1, x2, y2 = (int(v) for v in (x1, y1, x2, y2))
    # Every pixel of the outline carries the class colour.
    outline = np.concatenate([out[y1, x1:x2 + 1], out[y2, x1:x2 + 1],
                              out[y1:y2 + 1, x1], out[y1:y2 + 1, x2]])
    assert np.all(outline == class_color('Nodule'))
    # The box interior (away from the label) and the lower-right quarter are untouched.
    margin = int(20 * s)
    assert not diff[y1 + margin:y2 - margin, x1 + margin:x2 - margin].any()
    assert not diff[size // 2:, size // 2:].any()
    # The label sits just above the box; nothing at the image's top right (no legend there).
    assert diff[y1 - margin // 2:y1, x1:x1 + margin].any()
    assert not diff[:size // 8, -size // 8:].any()
    # Nothing in the band above the label.
    assert not diff[:y1 - margin, :].any()
    # The panel: the legend swatch in the class colour, on the panel's black.
    assert np.all(panel == class_color('Nodule'), axis=2).sum() >= 16
    assert (panel == 0).all(axis=2).mean() > 0.8


def test_input_image_is_not_modified():
    image = noise_image(128)
    before = image.copy()
    draw_boxes(image, record(['Mass'], [[10, 10, 60, 60]]))
    assert np.array_equal(image, before)


def test_rgb_input_is_accepted_and_keeps_its_size():
    image = np.dstack([noise_image(200)] * 3)[:150]
    out = draw_boxes(image, record(['Mass'], [[10, 10, 60, 60]]))
    assert out.shape[0] == 150 and out.shape[1] > 200  # the image plus the panel
    undrawn = ~changed(image[..., 0], out[:, :200])
    assert undrawn.mean() > 0.8 and np.array_equal(out[:, :200][undrawn], image[undrawn])


def test_boxes_below_the_threshold_are_not_drawn_and_no_finding_is_marked():
    image = noise_image(256)
    box = [40, 150, 110, 230]
    below = draw_boxes(image, record(['Nodule'], [box], [0.29]), score_thr=0.3)
    empty = draw_boxes(image, record([], [], []), score_thr=0.3)
    # All below the threshold reads exactly like an empty prediction: the mark, no box, no legend.
    assert np.array_equal(below, empty)
    assert not changed(image, below[:, :256]).any()  # the image untouched
    panel = below[:, 256:]
    white = np.all(panel == 255, axis=2)
    assert white[:32].any()  # the "No finding >= 0.30" mark (white) at the panel's top
    assert not white[64:].any()
    # No legend: no colour in the panel.
    assert not np.any(panel.max(axis=2).astype(int) - panel.min(axis=2) > 8)


def test_no_finding_mark_is_absent_when_a_box_passes_the_threshold():
    image = noise_image(256)
    box = [40, 150, 110, 230]
    out = draw_boxes(image, record(['Nodule', 'Mass'], [box, [150, 150, 200, 200]], [0.31, 0.1]))
    assert not np.all(out[:, 256:] == 255, axis=2).any()  # no white mark in the panel
    assert not changed(image, out[:, :256])[150:201, 150:201].any()  # the Mass below threshold


def test_ground_truth_without_scores_draws_every_box():
    image = noise_image(256)
    boxes = [[40, 150, 110, 230], [150, 150, 200, 200]]
    out = draw_boxes(image, record(['Nodule', 'Effusion'], boxes), score_thr=0.99)
    assert np.all(out[150, 150:201] == class_color('Effusion'))
    assert np.all(out[150, 40:111] == class_color('Nodule'))


def test_identical_boxes_of_two_classes_show_both_outlines_and_labels():
    # One finding annotated twice (Consolidation + Effusion): neither class may hide the other.
    image = noise_image(256)
    box = [60, 120, 180, 220]
    out = draw_boxes(image, record(['Consolidation', 'Effusion'], [box, box]))
    consolidation, effusion = class_color('Consolidation'), class_color('Effusion')
    assert np.all(out[220, 60:181] == consolidation)  # outer outline
    assert np.all(out[219, 61:180] == effusion)  # the second, one line width inside
    # Their labels above the box, in the column of its left edge: stacked, not on one spot.
    column = out[:120, 60]
    rows_of = {name: np.flatnonzero(np.all(column == color, axis=1))
               for name, color in (('Consolidation', consolidation), ('Effusion', effusion))}
    assert len(rows_of['Consolidation']) and len(rows_of['Effusion'])
    assert rows_of['Effusion'].max() < rows_of['Consolidation'].min()


def test_stacked_labels_without_room_above_go_inside_the_box():
    image = noise_image(256)
    box = [60, 0, 180, 120]
    out = draw_boxes(image, record(['Consolidation', 'Effusion'], [box, box]))
    inside = out[2:120, 62:120]  # below the top edge, right of the two left edges

    def label_rows(name):  # rows mostly filled with the class colour: its label's background
        filled = np.all(inside == class_color(name), axis=2).sum(axis=1)
        return np.flatnonzero(filled > inside.shape[1] // 2)

    first, second = label_rows('Consolidation'), label_rows('Effusion')
    assert len(first) and len(second) and first.max() < second.min()


def test_boxes_work_at_the_image_edges():
    image = noise_image(256)
    out = draw_boxes(image, record(['Fracture'], [[0, 0, 256, 256]], [0.9]))
    assert out.shape[0] == 256
    assert np.all(out[255, 1:255] == class_color('Fracture'))


@pytest.mark.parametrize('gap', [None, 0, 10])
def test_gt_vs_pred_puts_the_two_panels_side_by_side(gap):
    image = noise_image(256)
    gt = record(['Nodule'], [[40, 150, 110, 230]])
    pred = record(['Nodule', 'Mass'], [[42, 148, 112, 228], [150, 150, 200, 200]], [0.9, 0.5])
    out = draw_gt_vs_pred(image, gt, pred, DEFAULT_CLASSES, score_thr=0.3, gap=gap)
    gt_panel = draw_boxes(image, gt, DEFAULT_CLASSES, 0.3, title='Ground truth')
    pred_panel = draw_boxes(image, pred, DEFAULT_CLASSES, 0.3, title='Prediction')
    # Both panels as wide as the wider one (the prediction's, with two legend rows), so the
    # halves line up.
    panel_width = max(gt_panel.shape[1], pred_panel.shape[1])
    gap_width = out.shape[1] - 2 * panel_width
    assert out.shape[0] == 256
    if gap is None:
        assert 1 <= gap_width <= 16
    else:
        assert gap_width == gap
    left, right = out[:, :panel_width], out[:, panel_width + gap_width:]
    assert np.array_equal(left[:, :gt_panel.shape[1]], gt_panel)
    assert np.all(left[:, gt_panel.shape[1]:] == 0)  # the narrower panel widened with black
    assert np.array_equal(right[:, :pred_panel.shape[1]], pred_panel)
    assert np.all(out[:, panel_width:panel_width + gap_width] == 255)


def test_save_image_writes_rgb_that_reads_back_identically(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / 'sub' / 'overlay.png'
    save_image(path, rgb)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), rgb)
    with pytest.raises(ValueError, match='suffix'):
        save_image(tmp_path / 'no_suffix', rgb)


# --- Label layout: no two labels overlap, nor a label and the panel ------------------------------

def overlaps(a, b):
    """Whether half-open rectangles ``(x1, y1, x2, y2)`` share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def crowded_record(size, seed, n_boxes=12):
    """Boxes bunched in the image's middle, several nearly identical, with long class names."""
    rng = np.random.default_rng(seed)
    names = ['Calcification', 'Mass', 'Pleural Thickening', 'Nodule', 'Consolidation',
             'Effusion', 'Diffuse Nodule']
    boxes, syms = [], []
    for _ in range(n_boxes):
        x1, y1 = rng.uniform(0.3, 0.55, size=2) * size
        w, h = rng.uniform(0.08, 0.25, size=2) * size
        boxes.append([float(x1), float(y1), float(x1 + w), float(y1 + h)])
        syms.append(names[int(rng.integers(len(names)))])
    boxes[1] = [v + 2 for v in boxes[0]]  # "Mass 0.75" next to "Calcification 0.45"
    return record(syms, boxes, rng.uniform(0.3, 1.0, size=n_boxes).round(2).tolist())


def check_layout(layout, size):
    height, width = layout.image_size
    canvas_height, canvas_width = layout.canvas_size
    assert (height, width) == (size, size) and canvas_height == size and canvas_width > width
    labels = [label.rect for label in layout.labels]
    for i, a in enumerate(labels):
        assert 0 <= a[0] < a[2] <= width and 0 <= a[1] < a[3] <= height, a  # in the image
        for b in labels[i + 1:]:
            assert not overlaps(a, b), (a, b)
    panel = [t.rect for t in layout.panel] + [layout.legend_rect]
    for i, a in enumerate(panel):
        assert width <= a[0] < a[2] <= canvas_width and 0 <= a[1] < a[3] <= canvas_height, a
        for b in labels:
            assert not overlaps(a, b), (a, b)
    for i, a in enumerate(panel[:-1]):  # the panel's texts do not cover each other either
        for b in panel[i + 1:-1]:
            assert not overlaps(a, b), (a, b)


@pytest.mark.parametrize('size', [256, 1024])
@pytest.mark.parametrize('seed', range(6))
def test_labels_never_overlap_each_other_or_the_panel(size, seed):
    from tbmm.visualization.overlay import layout_overlay

    rec = crowded_record(size, seed)
    layout = layout_overlay((size, size), rec, DEFAULT_CLASSES, score_thr=0.3, title='Prediction')
    check_layout(layout, size)
    shown = sum(score >= 0.3 for score in rec['scores'])
    assert len(layout.labels) + layout.hidden_labels == shown == len(layout.boxes)
    # Twelve boxes fit at both sizes: every label is shown, legible (capitals >= 7 px at 256,
    # >= 11 px at 1024), and the texts are the boxes' labels.
    assert layout.hidden_labels == 0
    assert min(label.text_height for label in layout.labels) >= (7 if size == 256 else 11)
    assert sorted(label.text for label in layout.labels) == sorted(
        format_label(n, s) for n, s in zip(rec['syms'], rec['scores']) if s >= 0.3)


@pytest.mark.parametrize('size', [256, 1024])
def test_drawn_labels_are_where_the_layout_says_and_uncovered(size):
    """Each label's rectangle, as drawn, still has its background colour along its edges: no
    other label or the legend was drawn over it."""
    from tbmm.visualization.overlay import layout_overlay

    rec = crowded_record(size, seed=3)
    image = np.full((size, size), 128, np.uint8)
    out = draw_boxes(image, rec, DEFAULT_CLASSES, score_thr=0.3, title='Prediction')
    layout = layout_overlay((size, size), rec, DEFAULT_CLASSES, 0.3, 'Prediction')
    assert out.shape[:2] == layout.canvas_size
    for label in layout.labels:
        x1, y1, x2, y2 = label.rect
        edges = np.concatenate([out[y1, x1:x2], out[y2 - 1, x1:x2], out[y1:y2, x1],
                                out[y1:y2, x2 - 1]])
        assert np.all(edges == label.background), label.text


def test_adjacent_labels_are_stacked_not_hidden():
    # The case at 256 px: "Mass 0.75" and "Calcification 0.45" on boxes 2 px apart.
    from tbmm.visualization.overlay import layout_overlay

    rec = record(['Mass', 'Calcification'], [[60, 100, 140, 180], [62, 102, 142, 182]],
                 [0.75, 0.45])
    layout = layout_overlay((256, 256), rec)
    mass, calcification = sorted(layout.labels, key=lambda label: label.text != 'Mass 0.75')
    assert (mass.text, calcification.text) == ('Mass 0.75', 'Calcification 0.45')
    assert not overlaps(mass.rect, calcification.rect)
    # Both next to their boxes: the better score right above its box, the other stacked on it.
    assert mass.rect[3] == 100 and calcification.rect[3] == mass.rect[1]


def test_a_label_with_no_room_is_counted_in_the_panel():
    from tbmm.visualization.overlay import layout_overlay

    # 60 boxes' labels cannot all fit in a 128 px image even at the smallest font.
    boxes = [[4 * k % 120, 4 * k % 120, 4 * k % 120 + 8, 4 * k % 120 + 8] for k in range(60)]
    rec = record(['Pleural Thickening'] * 60, boxes, [0.9] * 60)
    layout = layout_overlay((128, 128), rec)
    assert layout.hidden_labels > 0
    assert len(layout.labels) + layout.hidden_labels == 60
    assert any('left out' in t.text for t in layout.panel)
    check_layout(layout, 128)
