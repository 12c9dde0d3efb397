"""Line charts of training runs (losses, learning rate, per-class metrics) as PNG files.

matplotlib draws off-screen (``Figure`` + Agg canvas, no pyplot state), so it runs on servers and
in tests. Classes keep the colours of the box overlays (:func:`tbmm.visualization.class_color`).
"""
import os

from tbmm.classes import DEFAULT_CLASSES, class_color
from tbmm.utils import ensure_parent_dir


def new_figure(width=8, height=5):
    """A matplotlib figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path):
    """Write ``fig`` to ``path`` (its folder made), cropped to its content; return the path."""
    path = ensure_parent_dir(os.fspath(path))
    fig.savefig(path, bbox_inches='tight')
    return path


def plot_lines(series, path, title, xlabel, ylabel, colors=None, mean=None, ylim=None,
               log_y=False, integer_x=False):
    """One line per entry of ``series`` (``{label: (xs, ys)}``), written to ``path`` (PNG).

    Args:
        colors: optional ``{label: (r, g, b)}`` in 0-255.
        mean: optional ``(label, xs, ys)`` drawn as a dashed black line on top.
        ylim: optional ``(low, high)``; ``log_y``: logarithmic y axis; ``integer_x``: whole-number
            x ticks (epochs).
    """
    many = len(series) + (mean is not None) > 6
    fig = new_figure(10 if many else 8, 5)
    ax = fig.add_subplot()
    for label, (xs, ys) in series.items():
        color = None
        if colors and label in colors:
            color = tuple(c / 255 for c in colors[label])
        ax.plot(xs, ys, label=label, color=color, linewidth=1.5,
                marker='o' if len(xs) <= 30 else None, markersize=3)
    if mean is not None:
        label, xs, ys = mean
        ax.plot(xs, ys, label=label, color='black', linestyle='--', linewidth=2)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if log_y:
        ax.set_yscale('log')
    if integer_x:
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if many:  # 9-13 classes do not fit inside the axes
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), fontsize='small')
    else:
        ax.legend(fontsize='small')
    return save_figure(fig, path)


def plot_per_class(per_class, path, title, ylabel, xlabel='epoch', mean=None,
                   classes=DEFAULT_CLASSES):
    """Per-class metric curves (``{class: (xs, ys)}``) in the overlay colours, values in [0, 1]."""
    colors = {name: class_color(name, classes) for name in per_class}
    return plot_lines(per_class, path, title, xlabel, ylabel, colors=colors, mean=mean,
                      ylim=(0, 1.02), integer_x=xlabel == 'epoch')
