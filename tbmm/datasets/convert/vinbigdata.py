"""VinDr-CXR / VinBigData's box CSV to the annotation format.

Layout (Kaggle's ``train.csv``): ``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max``,
one row per box and reader, in the pixels of the original image; ``No finding`` rows (class_id
14) have empty coordinates. ``class_id`` and ``rad_id`` may be absent (VinDr-CXR's own CSVs): then
class names are not cross-checked, and all rows count as one reader.

Every image was read by several radiologists, each drawing their own boxes. ``fuse='wbf'`` merges
them class by class with ensemble-boxes' weighted boxes fusion (each reader one "model", every box
weight 1: a fused box is the mean of the boxes it merges); ``'none'`` keeps every reader's boxes.
WBF wants coordinates in [0, 1]; IoU and averages do not change under a common scale, so each
image's boxes are divided by their largest coordinate and multiplied back: the result is the one
normalising by the true image size would give (up to WBF's float32 arithmetic), and image sizes are
not needed. They only serve, when given (``image_id,width,height``), to refuse boxes outside the
image.
"""
import os
from collections import OrderedDict

from tbmm.datasets.convert.common import (
    ConversionError,
    ConversionReport,
    add_box,
    check_box,
    check_file_name,
    check_records,
    column_index,
    fit_row,
    parse_number,
    read_csv,
    round_box,
    row_where,
)
from tbmm.errors import MissingExtraError

NO_FINDING = 'No finding'
FUSE_MODES = ('wbf', 'none')
_COORDINATES = ('x_min', 'y_min', 'x_max', 'y_max')


def _weighted_boxes_fusion():
    try:
        from ensemble_boxes import weighted_boxes_fusion
    except ImportError as e:
        raise MissingExtraError(
            'fusing the readers\' boxes (--fuse wbf) needs the ensemble-boxes package, which is '
            "not installed: pip install ensemble-boxes (or 'tbmm[tta]'), or keep every reader's "
            'boxes with --fuse none') from e
    return weighted_boxes_fusion


def read_image_sizes(path):
    """``{image_id: (width, height)}`` from a CSV with columns ``image_id,width,height``."""
    path = os.fspath(path)
    header, rows = read_csv(path)
    columns = column_index(path, header, ('image_id', 'width', 'height'))
    sizes = {}
    for row, cells in rows:
        where = row_where(row, cells[0] if columns[0] == 0 else None)
        cells = fit_row(cells, header, path, where)
        image_id, width, height = (cells[i] for i in columns)
        where = row_where(row, image_id or None)
        if not image_id:
            raise ConversionError(path, 'empty image_id', where)
        size = tuple(parse_number(cells[i], path, where, name)
                     for i, name in zip(columns[1:], ('width', 'height')))
        if not all(v > 0 for v in size):
            raise ConversionError(path, f'width and height must be positive, got {size}', where)
        if sizes.setdefault(image_id, size) != size:
            raise ConversionError(path, f'a second, different size for {image_id!r}', where)
    return sizes


def convert_vinbigdata(csv_path, fuse='wbf', iou_thr=0.4, image_sizes=None, suffix='.png',
                       decimals=1, classes=None, drop_unknown=False, clip=False):
    """Convert VinBigData's CSV; return a :class:`ConversionReport` whose ``records`` are the
    images, sorted by file name (``image_id + suffix``).

    An image is negative when no reader drew a box on it (all its rows are ``No finding``).
    Boxes are rounded to ``decimals`` (None: not rounded) after fusion. A repeated row (same
    image, class, reader and box) is kept once and counted; so is a box identical to one of the
    same class already in the image (``fuse='none'``: two readers' equal boxes).

    Args:
        image_sizes: ``{image_id: (width, height)}`` (see :func:`read_image_sizes`) or None. With
            it, every image needs a size and a box outside its image is an error (``clip``:
            clipped and counted).
        classes, drop_unknown: as in :func:`tbmm.datasets.convert.nih.convert_nih`.

    Raises:
        ConversionError: one line naming the CSV and the row.
        MissingExtraError: ``fuse='wbf'`` and ensemble-boxes is not installed.
    """
    csv_path = os.fspath(csv_path)
    if fuse not in FUSE_MODES:
        raise ValueError(f'fuse must be one of {FUSE_MODES}, got {fuse!r}')
    if not 0 < iou_thr < 1:
        raise ConversionError(csv_path, f'the IoU threshold must be between 0 and 1, got {iou_thr}')
    fusion = _weighted_boxes_fusion() if fuse == 'wbf' else None
    header, rows = read_csv(csv_path)
    required = ('image_id', 'class_name') + _COORDINATES
    columns = dict(zip(required, column_index(csv_path, header, required)))
    for optional in ('class_id', 'rad_id'):
        if optional in header:
            columns[optional] = header.index(optional)
    report = ConversionReport(csv_path)
    allowed = None if classes is None else set(classes)
    images = OrderedDict()  # image_id -> list of (class, reader, box, where)
    class_ids, seen_rows, dropped_from, no_finding_from = {}, set(), set(), set()
    for row, cells in rows:
        cells = fit_row(cells, header, csv_path, row_where(row))
        value = {name: cells[i] for name, i in columns.items()}
        image_id, label = value['image_id'], value['class_name']
        where = row_where(row, image_id or None)
        if not image_id:
            raise ConversionError(csv_path, 'empty image_id', where)
        check_file_name(image_id + suffix, csv_path, where)
        if not label:
            raise ConversionError(csv_path, 'empty class_name', where)
        if 'class_id' in value:
            known = class_ids.setdefault(label, (value['class_id'], row))
            if known[0] != value['class_id']:
                raise ConversionError(csv_path, f'class {label!r} has class_id '
                                      f'{value["class_id"]!r} here but {known[0]!r} at row '
                                      f'{known[1]}', where)
        boxes = images.setdefault(image_id, [])
        coordinates = [value[c] for c in _COORDINATES]
        if label == NO_FINDING:
            if any(c and c.lower() != 'nan' for c in coordinates):
                raise ConversionError(csv_path, f'a {NO_FINDING!r} row with coordinates '
                                      f'{",".join(coordinates)!r}', where)
            no_finding_from.add(image_id)
            continue
        box = [parse_number(text, csv_path, where, name)
               for text, name in zip(coordinates, _COORDINATES)]
        if min(box) < 0:
            raise ConversionError(csv_path, f'negative coordinate in box {box}', where)
        size = None
        if image_sizes is not None:
            if image_id not in image_sizes:
                raise ConversionError(csv_path, f'image {image_id!r} has no size in the image '
                                      'size list', where)
            size = image_sizes[image_id]
        box = check_box(box, csv_path, where, size, 'box', clip, report)
        if allowed is not None and label not in allowed:
            if not drop_unknown:
                raise ConversionError(
                    csv_path, f'class {label!r} is not in the class list ({", ".join(classes)}); '
                    'drop such boxes with --drop-unknown', where)
            report.note(f'boxes of classes outside the class list, dropped ({label})', row)
            dropped_from.add(image_id)
            continue
        key = (image_id, label, value.get('rad_id', ''), tuple(box))
        if key in seen_rows:
            report.note('repeated rows (same image, class, reader and box), kept once', row)
            continue
        seen_rows.add(key)
        boxes.append((label, value.get('rad_id', ''), box, where))

    records = []
    for image_id, boxes in images.items():
        record = dict(file_name=image_id + suffix, syms=[], boxes=[])
        if not boxes:
            if image_id in dropped_from:
                report.note('images left without a box by the class list, left out', image_id)
                continue
            records.append(record)  # no reader drew a box: a negative
            continue
        if image_id in no_finding_from:
            report.note('images with boxes where some reader found nothing (boxes kept)',
                        image_id)
        if fusion is not None:
            fused = _fuse(fusion, boxes, iou_thr)
            report.note('reader boxes merged into another one by WBF', n=len(boxes) - len(fused))
            boxes = fused
        for label, _, box, where in boxes:
            add_box(record, label, round_box(box, decimals), report, where)
        records.append(record)
    report.records = sorted(records, key=lambda r: r['file_name'])
    check_records(report.records, csv_path)
    return report


def _fuse(fusion, boxes, iou_thr):
    """One image's ``(class, reader, box, where)`` boxes fused class by class, every reader one
    WBF "model"; returned in the order of the classes' first boxes, then by coordinates."""
    labels = list(OrderedDict.fromkeys(label for label, _, _, _ in boxes))
    readers = list(OrderedDict.fromkeys(reader for _, reader, _, _ in boxes))
    scale = max(v for _, _, box, _ in boxes for v in box)  # > 0: boxes are non-empty, x1 >= 0
    boxes_list, scores_list, labels_list = ([[] for _ in readers] for _ in range(3))
    for label, reader, box, _ in boxes:
        t = readers.index(reader)
        boxes_list[t].append([v / scale for v in box])
        scores_list[t].append(1.0)
        labels_list[t].append(labels.index(label))
    fused, _, fused_labels = fusion(boxes_list, scores_list, labels_list, iou_thr=iou_thr,
                                    skip_box_thr=0.0, conf_type='avg')
    where = {}
    for label, _, _, place in boxes:
        where.setdefault(label, place)
    out = sorted(((int(index), [float(v) * scale for v in box])
                  for box, index in zip(fused, fused_labels)),
                 key=lambda item: (item[0], item[1]))
    return [(labels[index], None, box, where[labels[index]]) for index, box in out]
