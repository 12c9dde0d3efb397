"""Statistics of an annotation file: counts per class, negatives, boxes per image, box sizes and
which classes appear together.

Everything works on records in the annotation format (:mod:`tbmm.datasets.annotations`) and
returns JSON-ready dicts; :func:`format_statistics` renders them as text tables.
"""
from collections import Counter

import numpy as np

#: Percentiles of box width and height reported per class, and their names.
SIZE_PERCENTILES = (0, 5, 25, 50, 75, 95, 100)
SIZE_PERCENTILE_NAMES = ('min', 'p5', 'p25', 'median', 'p75', 'p95', 'max')


def classes_in(records):
    """Class names appearing in ``records``, sorted."""
    return sorted({name for record in records for name in record['syms']})


def _percentiles(values):
    if not values:
        return None
    points = np.percentile(np.asarray(values, dtype=np.float64), SIZE_PERCENTILES)
    return {name: round(float(v), 1) for name, v in zip(SIZE_PERCENTILE_NAMES, points)}


def cooccurrence_matrix(records, classes):
    """``K x K`` counts of images holding a box of class i and one of class j.

    The diagonal is the number of images with class i; the matrix is symmetric. An image counts once
    per pair however many boxes it has.
    """
    index = {name: k for k, name in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for record in records:
        present = sorted({index[name] for name in record['syms'] if name in index})
        if present:
            matrix[np.ix_(present, present)] += 1
    return matrix


def shared_boxes(records, classes):
    """Boxes that carry several classes: identical coordinates in one image, two or more classes.

    Counts box *positions* (an image and its four coordinates), each once however many entries
    repeat it; only the listed ``classes`` take part. Returns ``{"boxes"`` (positions with two or
    more different classes), ``"label_sets"`` (``{"A + B": positions}``, the exact class set of
    each, most frequent first, names in ``classes`` order), ``"pairs"`` (``{"A + B": positions whose
    set holds both}``, most frequent first) and ``"same_class_duplicates"`` (entries repeating a
    box with its own class, which evaluation counts as a second lesion)``}``.
    """
    index = {name: k for k, name in enumerate(classes)}
    sets, pairs = Counter(), Counter()
    duplicates = 0
    for record in records:
        by_position = {}
        for name, box in zip(record['syms'], record['boxes']):
            if name not in index:
                continue
            names = by_position.setdefault(tuple(box), [])
            duplicates += name in names
            names.append(name)
        for names in by_position.values():
            unique = sorted(set(names), key=index.get)
            if len(unique) < 2:
                continue
            sets[' + '.join(unique)] += 1
            pairs.update(f'{a} + {b}' for i, a in enumerate(unique) for b in unique[i + 1:])

    def by_count(counter):
        return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))

    return {'boxes': sum(sets.values()), 'label_sets': by_count(sets), 'pairs': by_count(pairs),
            'same_class_duplicates': duplicates}


def dataset_statistics(records, classes=None):
    """Per-class and per-image statistics of annotation records.

    Args:
        records: annotation records (``file_name``, ``syms``, ``boxes`` in pixels).
        classes: class names to report, in order; default: every class in the records, sorted.
            Boxes of other classes are only counted, in ``other_classes``.

    Returns a dict with ``classes``, ``n_images``, ``n_boxes`` (of the listed classes),
    ``n_negative`` (images without a box of the listed classes), ``other_classes``
    (``{name: boxes}``), ``boxes_per_image`` (``mean``, ``median``, ``max`` and a ``histogram``
    ``{"<boxes>": images}``), ``per_class`` (``{name: {"boxes", "images", "width", "height"}}``,
    sizes as :data:`SIZE_PERCENTILE_NAMES` percentiles, ``None`` without boxes),
    ``cooccurrence`` (``{"classes", "matrix"}``, see :func:`cooccurrence_matrix`) and
    ``shared_boxes`` (boxes with several classes, see :func:`shared_boxes`).
    """
    classes = list(classes) if classes is not None else classes_in(records)
    index = {name: k for k, name in enumerate(classes)}
    box_counts, image_counts, other = Counter(), Counter(), Counter()
    widths = {name: [] for name in classes}
    heights = {name: [] for name in classes}
    boxes_per_image = []
    for record in records:
        n_listed = 0
        for name, (x1, y1, x2, y2) in zip(record['syms'], record['boxes']):
            if name not in index:
                other[name] += 1
                continue
            n_listed += 1
            box_counts[name] += 1
            widths[name].append(x2 - x1)
            heights[name].append(y2 - y1)
        image_counts.update({name for name in record['syms'] if name in index})
        boxes_per_image.append(n_listed)

    per_image = np.asarray(boxes_per_image, dtype=np.int64)
    histogram = np.bincount(per_image) if per_image.size else np.zeros(0, dtype=np.int64)
    return {
        'classes': classes,
        'n_images': len(records),
        'n_boxes': int(per_image.sum()),
        'n_negative': int((per_image == 0).sum()),
        'other_classes': dict(sorted(other.items())),
        'boxes_per_image': {
            'mean': float(per_image.mean()) if per_image.size else 0.0,
            'median': float(np.median(per_image)) if per_image.size else 0.0,
            'max': int(per_image.max()) if per_image.size else 0,
            'histogram': {str(n): int(c) for n, c in enumerate(histogram) if c},
        },
        'per_class': {
            name: {'boxes': box_counts[name], 'images': image_counts[name],
                   'width': _percentiles(widths[name]), 'height': _percentiles(heights[name])}
            for name in classes},
        'cooccurrence': {'classes': classes,
                         'matrix': cooccurrence_matrix(records, classes).tolist()},
        'shared_boxes': shared_boxes(records, classes),
    }


def _table(header, rows, align_left=1):
    """Plain text table; the first ``align_left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]

    def line(row):
        cells = [f'{str(v):<{w}}' if i < align_left else f'{str(v):>{w}}'
                 for i, (v, w) in enumerate(zip(row, widths))]
        return '  '.join(cells).rstrip()

    return '\n'.join([line(header)] + [line(row) for row in rows])


def _fmt(value):
    return '-' if value is None else f'{value:g}'


def format_statistics(stats):
    """:func:`dataset_statistics` as text tables: counts, sizes, co-occurrence."""
    classes = stats['classes']
    per_class = stats['per_class']
    n_images = stats['n_images']
    parts = []

    rows = [[name, per_class[name]['boxes'], per_class[name]['images'],
             f'{100 * per_class[name]["images"] / n_images:.1f}' if n_images else '-']
            for name in classes]
    # Images with boxes of unlisted classes only are not "no finding" images.
    negatives = '(none of these)' if stats['other_classes'] else '(no finding)'
    rows.append([negatives, 0, stats['n_negative'],
                 f'{100 * stats["n_negative"] / n_images:.1f}' if n_images else '-'])
    rows.append(['all', stats['n_boxes'], n_images, '100.0' if n_images else '-'])
    parts.append(_table(['class', 'boxes', 'images', '% images'], rows))
    if stats['other_classes']:
        parts.append('boxes of classes not listed: ' + ', '.join(
            f'{name} {count}' for name, count in stats['other_classes'].items()))

    shared = stats['shared_boxes']
    lines = [f'boxes with several classes (identical coordinates in one image): {shared["boxes"]}']
    if shared['boxes']:
        lines.append('  exact class sets: ' + ', '.join(
            f'{name} {n}' for name, n in list(shared['label_sets'].items())[:5]))
        lines.append('  holding both classes of a pair: ' + ', '.join(
            f'{name} {n}' for name, n in list(shared['pairs'].items())[:5]))
    lines.append('same-class duplicate boxes (a box repeated with its own class): '
                 f'{shared["same_class_duplicates"]}')
    parts.append('\n'.join(lines))

    per_image = stats['boxes_per_image']
    histogram = ', '.join(f'{n}: {c}' for n, c in per_image['histogram'].items())
    parts.append(f'boxes per image: mean {per_image["mean"]:.2f}, median {per_image["median"]:g}, '
                 f'max {per_image["max"]}  (boxes: images  {histogram})')

    rows = []
    for name in classes:
        for axis in ('width', 'height'):
            sizes = per_class[name][axis]
            values = [_fmt(sizes[p]) if sizes else '-' for p in SIZE_PERCENTILE_NAMES]
            rows.append([name if axis == 'width' else '', axis] + values)
    parts.append(_table(['box size (px)', ''] + list(SIZE_PERCENTILE_NAMES), rows, align_left=2))

    matrix = stats['cooccurrence']['matrix']
    header = ['images with both'] + [str(k + 1) for k in range(len(classes))]
    rows = [[f'{k + 1:>2} {name}'] + matrix[k] for k, name in enumerate(classes)]
    parts.append(_table(header, rows) + '\n(diagonal: images with the class)')
    return '\n\n'.join(parts)
