"""Count matrices (class co-occurrence) as annotated heatmap PNGs."""
import numpy as np

from tbmm.visualization.curves import new_figure, save_figure


def plot_count_matrix(matrix, labels, path, title, colorbar_label='images'):
    """Heatmap of a square count matrix with every count written in its cell.

    The colour scale stops at the largest off-diagonal count: the diagonal (e.g. images per class)
    is much larger and would otherwise wash out the pairs; diagonal cells are framed instead.
    """
    matrix = np.asarray(matrix)
    n = len(labels)
    off_diagonal = matrix[~np.eye(n, dtype=bool)] if n > 1 else np.zeros(0)
    vmax = max(1, int(off_diagonal.max()) if off_diagonal.size else 1)
    size = max(5, 0.55 * n + 2.5)
    fig = new_figure(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(np.minimum(matrix, vmax), cmap='viridis', vmin=0, vmax=vmax)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha='right')
    ax.set_yticklabels(labels)
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            bright = min(value, vmax) > 0.6 * vmax
            ax.text(j, i, str(value), ha='center', va='center', fontsize=8,
                    color='black' if bright else 'white',
                    fontweight='bold' if i == j else 'normal')
        ax.add_patch(_diagonal_frame(i))
    fig.colorbar(image, ax=ax, label=f'{colorbar_label} (scale capped at the largest pair)')
    ax.set_title(title)
    return save_figure(fig, path)


def _diagonal_frame(i):
    from matplotlib.patches import Rectangle

    return Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor='white', linewidth=1.5)
