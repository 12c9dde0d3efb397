"""PNG plots of the error analysis: confusion matrix, and per class PR, F1-vs-threshold and FROC.

matplotlib draws off-screen (``Figure`` + Agg canvas, no pyplot state), as in
:func:`tbmm.evaluation.functional.report.plot_froc`, whose FROC axes the per-class FROC reuses.
"""
import os

import numpy as np

from tbmm.utils import ensure_parent_dir

from .functional.froc import CLASSIC_FROC_FPS
from .functional.report import style_froc_axes


def _figure(width=6.0, height=4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    path = ensure_parent_dir(os.fspath(path))
    fig.tight_layout()
    fig.savefig(path, format='png')
    return path


def _legend(ax, **kwargs):
    if ax.get_legend_handles_labels()[0]:  # nothing drawn (no detections): no empty legend
        ax.legend(fontsize=8, **kwargs)


def _fmt(value):
    return 'n/a' if value is None else f'{value:.3f}'


def _thresholds_text(score_thr):
    values = set(score_thr.values())
    if len(values) == 1:
        return f'score >= {values.pop():g}'
    return 'per-class score thresholds'


def plot_confusion(confusion, path):
    """The matrix of :func:`.functional.confusion.confusion_matrix`: counts in the cells, colour =
    share of the row (where each class's ground truth went; background row: share of all false
    positives)."""
    labels = confusion['labels']
    matrix = np.asarray(confusion['matrix'], dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = 2.0 + 0.55 * len(labels)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap='Blues', vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='share of the row')
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, rotation=45, ha='right')
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_xlabel('Prediction')
    ax.set_ylabel('Ground truth')
    font = 9 if len(labels) <= 10 else 7
    for r in range(len(labels)):
        for c in range(len(labels)):
            if r == c == len(labels) - 1:
                text, color = '-', 'gray'
            else:
                text = f'{int(matrix[r, c])}'
                color = 'white' if share[r, c] > 0.6 else 'black'
            ax.text(c, r, text, ha='center', va='center', color=color, fontsize=font)
    settings = confusion['settings']
    ax.set_title(f'Confusion matrix (IoU >= {settings["iou_thr"]:g}, '
                 f'{_thresholds_text(settings["score_thr"])})', fontsize=10)
    return _save(fig, path)


def plot_pr(name, curve, ap50, path, operating=None):
    """Precision against recall after each ranked detection, its interpolated envelope (whose area
    is AP50), and the operating point at the score threshold."""
    fig = _figure()
    ax = fig.add_subplot()
    recall, precision = curve['recall'], curve['precision']
    if recall.size:
        ax.plot(recall, precision, color='tab:blue', linewidth=1, alpha=0.6, label='precision')
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        ax.step(recall, envelope, where='post', color='tab:blue', linewidth=2,
                label='interpolated (AP50 area)')
    if operating is not None and operating['precision'] is not None:
        ax.plot([operating['recall']], [operating['precision']], 'o', color='tab:red',
                label=f'score >= {operating["threshold"]:g}')
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('Recall')
    ax.set_ylabel('Precision')
    ax.set_title(f'{name}: precision-recall (AP50 {_fmt(ap50)}, {curve["n_gt"]} lesions)')
    ax.grid(True, alpha=0.3)
    _legend(ax, loc='upper right')
    return _save(fig, path)


def plot_f1(name, curve, path, score_thr=None):
    """F1, precision and recall against the score threshold; the best-F1 threshold marked."""
    fig = _figure()
    ax = fig.add_subplot()
    f1 = curve['f1']
    if f1['thresholds'].size:
        for key, color, width in (('f1', 'black', 2), ('precision', 'tab:blue', 1),
                                  ('recall', 'tab:orange', 1)):
            ax.plot(f1['thresholds'], f1[key], color=color, linewidth=width,
                    label=key if key != 'f1' else 'F1')
    best = curve['best_f1']
    if best is not None:
        ax.axvline(best['threshold'], color='tab:green', linestyle='--', linewidth=1)
        ax.plot([best['threshold']], [best['f1']], 'o', color='tab:green',
                label=f'best F1 {best["f1"]:.3f} at {best["threshold"]:.3g}')
    if score_thr is not None:
        ax.axvline(score_thr, color='tab:red', linestyle=':', linewidth=1,
                   label=f'score threshold {score_thr:g}')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('Score threshold (detections scoring >= it kept)')
    ax.set_ylabel('F1 / precision / recall')
    ax.set_title(f'{name}: F1 against score threshold')
    ax.grid(True, alpha=0.3)
    _legend(ax, loc='best')
    return _save(fig, path)


def plot_class_froc(name, curve, path, avg_recall=None):
    """Recall against false positives per image (staircase), with the ChestX-Det10 points."""
    froc = curve['froc']
    points = froc['points']
    # The ChestX-Det10 points, then the classic ones above them (0.125 and 0.25 would crowd
    # 0.1 and 0.2 on the axis).
    fps = sorted(set(points) | {f for f in CLASSIC_FROC_FPS if f > 2 * max(points)})
    fig = _figure()
    ax = fig.add_subplot()
    fp_per_image, recall = froc['fp_per_image'], froc['recall']
    low, high = min(fps) / 2, max(fps)
    if fp_per_image.size:
        # Log axis: FP/image 0 (before the first false positive) is drawn at its left edge.
        xs = np.r_[low, np.maximum(fp_per_image, low)]
        ys = np.r_[0.0, recall]
        ax.step(xs, ys, where='post', color='tab:blue', linewidth=1.5, label='FROC')
        high = max(high, float(fp_per_image[-1]))
    ax.plot(list(points), list(points.values()), 'o', color='tab:red',
            label='ChestX-Det10 points ' + ', '.join(f'{f:g}' for f in points))
    style_froc_axes(ax, fps, f'{name}: FROC (ChestX-Det10 score {_fmt(avg_recall)})')
    ax.set_xlim(low, high * 1.05)
    _legend(ax, loc='lower right')
    return _save(fig, path)
