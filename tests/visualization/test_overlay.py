"""Overlays change the image where boxes, labels, legend and marks go, and nowhere else."""
import cv2
import numpy as np
import pytest

from tbmm.classes import DEFAULT_CLASSES
from tbmm.visualization import (PALETTE, class_color, draw_boxes, draw_gt_vs_pred, format_label,
                                save_image)


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
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
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
    # The label sits just above the box; the legend at the top right.
    assert diff[y1 - margin // 2:y1, x1:x1 + margin].any()
    assert diff[:size // 8, -size // 8:].any()
    # Nothing in the middle band between label and legend, nor on the left above the label.
    assert not diff[size // 4:y1 - margin, :].any()


def test_input_image_is_not_modified():
    image = noise_image(128)
    before = image.copy()
    draw_boxes(image, record(['Mass'], [[10, 10, 60, 60]]))
    assert np.array_equal(image, before)


def test_rgb_input_is_accepted_and_keeps_its_size():
    image = np.dstack([noise_image(200)] * 3)[:150]
    out = draw_boxes(image, record(['Mass'], [[10, 10, 60, 60]]))
    assert out.shape == (150, 200, 3)


def test_boxes_below_the_threshold_are_not_drawn_and_no_finding_is_marked():
    image = noise_image(256)
    box = [40, 150, 110, 230]
    below = draw_boxes(image, record(['Nodule'], [box], [0.29]), score_thr=0.3)
    empty = draw_boxes(image, record([], [], []), score_thr=0.3)
    # All below the threshold reads exactly like an empty prediction: the mark, no box, no legend.
    assert np.array_equal(below, empty)
    diff = changed(image, below)
    assert not diff[box[1]:box[3] + 1, box[0]:box[2] + 1].any()
    assert diff[:32, :96].any()  # the "No finding" mark at the top left
    assert not diff[:, 128:].any()  # no legend at the top right, nothing elsewhere
    assert not diff[64:, :].any()


def test_no_finding_mark_is_absent_when_a_box_passes_the_threshold():
    image = noise_image(256)
    box = [40, 150, 110, 230]
    out = draw_boxes(image, record(['Nodule', 'Mass'], [box, [150, 150, 200, 200]], [0.31, 0.1]))
    assert not changed(image, out)[:32, :96].any()
    assert not changed(image, out)[150:201, 150:201].any()  # the Mass below threshold


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
    assert out.shape == (256, 256, 3)
    assert np.all(out[255, 1:255] == class_color('Fracture'))


@pytest.mark.parametrize('gap', [None, 0, 10])
def test_gt_vs_pred_puts_the_two_panels_side_by_side(gap):
    image = noise_image(256)
    gt = record(['Nodule'], [[40, 150, 110, 230]])
    pred = record(['Nodule', 'Mass'], [[42, 148, 112, 228], [150, 150, 200, 200]], [0.9, 0.5])
    out = draw_gt_vs_pred(image, gt, pred, DEFAULT_CLASSES, score_thr=0.3, gap=gap)
    width = out.shape[1]
    gap_width = width - 2 * 256
    assert out.shape[0] == 256
    if gap is None:
        assert 1 <= gap_width <= 16
    else:
        assert gap_width == gap
    gt_panel = draw_boxes(image, gt, DEFAULT_CLASSES, 0.3, title='Ground truth')
    pred_panel = draw_boxes(image, pred, DEFAULT_CLASSES, 0.3, title='Prediction')
    assert np.array_equal(out[:, :256], gt_panel)
    assert np.array_equal(out[:, 256 + gap_width:], pred_panel)
    assert np.all(out[:, 256:256 + gap_width] == 255)


def test_save_image_writes_rgb_that_reads_back_identically(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = tmp_path / 'sub' / 'overlay.png'
    save_image(path, rgb)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), rgb)
    with pytest.raises(ValueError, match='suffix'):
        save_image(tmp_path / 'no_suffix', rgb)
