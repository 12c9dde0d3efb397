"""NIH ChestX-ray14's box list (``BBox_List_2017.csv``) to the annotation format.

NIH's layout: a header ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` (a CSV reader splits the
unquoted ``Bbox [x,y,w,h]`` into four names, and the trailing commas add empty ones), then one row
per box, ``00013118_008.png,Atelectasis,225.08,547.01,86.77,79.18``: top-left corner, width and
height in the pixels of NIH's 1024x1024 images. Rows may carry trailing empty cells.
"""
import os
import os.path as osp

from tbmm.datasets.convert.common import (
    ConversionError,
    ConversionReport,
    add_box,
    check_box,
    check_file_name,
    check_records,
    parse_number,
    read_csv,
    round_box,
    row_where,
)

#: Side of NIH ChestX-ray14's images, the pixels the CSV's boxes are given in.
NIH_IMAGE_SIZE = 1024
NIH_HEADER = 'Image Index,Finding Label,Bbox [x,y,w,h]'
_BOX_COLUMNS = ('x', 'y', 'w', 'h')


def _check_header(path, header):
    joined = ','.join(header).rstrip(',')
    # A re-saved copy may quote "Bbox [x,y,w,h]" or name the empty columns (pandas: "Unnamed: 6").
    normalised = joined.replace('"', '')
    if not (len(header) >= 3 and normalised.lower().startswith(NIH_HEADER.lower())):
        raise ConversionError(
            path, f'not the layout of NIH\'s BBox_List_2017.csv: the header (row 1) is '
            f'{joined!r}, expected {NIH_HEADER!r} (Image Index, Finding Label, then x, y, w, h)')


def _image_files(images_dir):
    from tbmm.datasets.image_io import IMAGE_SUFFIXES
    if not osp.isdir(images_dir):
        raise NotADirectoryError(f'{images_dir}: --images is not a folder')
    return sorted(name for name in os.listdir(images_dir) if name.lower().endswith(IMAGE_SUFFIXES)
                  and osp.isfile(osp.join(images_dir, name)))


def convert_nih(csv_path, scale=1.0, decimals=1, classes=None, drop_unknown=False, images_dir=None,
                skip_missing=False, negatives_from_images=False):
    """Convert NIH's box CSV; return a :class:`ConversionReport` whose ``records`` are the images.

    One record per image, sorted by file name, its boxes in CSV order and its classes spelt as in
    the CSV. Boxes become ``[x, y, x + w, y + h] * scale`` (0.5 for 512-pixel copies of the
    images), rounded to ``decimals`` (None: not rounded). Every box must lie inside NIH's
    1024x1024 image; a repeated row (same image, class and box) is kept once and counted.

    Args:
        classes: the class names allowed (None: every class in the CSV). A box of another class is
            an error, or with ``drop_unknown`` dropped and counted; an image left with no box is
            then left out (counted), not turned into a negative, since it has a finding.
        images_dir: the folder of the images. Images of the CSV missing there are an error naming
            the CSV row, or with ``skip_missing`` skipped and counted. Every listed image's size
            must be ``1024 * scale`` (its header is read). Image files there without a box are
            counted, and added as negatives (empty ``syms``/``boxes``) with
            ``negatives_from_images``.

    Raises:
        ConversionError: one line naming the CSV and the row (or the image).
    """
    csv_path = os.fspath(csv_path)
    if not (scale > 0 and scale < float('inf')):
        raise ConversionError(csv_path, f'the scale must be a positive number, got {scale}')
    if negatives_from_images and images_dir is None:
        raise ConversionError(csv_path, 'negatives from images need the image folder (--images)')
    report = ConversionReport(csv_path)
    header, rows = read_csv(csv_path)
    _check_header(csv_path, header)
    allowed = None if classes is None else set(classes)
    records, first_row = {}, {}
    for row, cells in rows:
        name = cells[0] if cells else ''
        where = row_where(row, name or None)
        if len(cells) < 6 or not all(cells[:6]):
            raise ConversionError(
                csv_path, f'needs 6 values (Image Index, Finding Label, x, y, w, h), got '
                f'{sum(1 for c in cells[:6] if c)} of {",".join(cells)!r}', where)
        if any(cells[6:]):
            raise ConversionError(csv_path, f'unexpected values after h: {",".join(cells[6:])!r}',
                                  where)
        check_file_name(name, csv_path, where)
        label = cells[1]
        x, y, w, h = (parse_number(text, csv_path, where, column)
                      for text, column in zip(cells[2:6], _BOX_COLUMNS))
        if w <= 0 or h <= 0:
            raise ConversionError(csv_path, f'box width and height must be positive, got w={w:g} '
                                  f'h={h:g}', where)
        check_box([x, y, x + w, y + h], csv_path, where, (NIH_IMAGE_SIZE, NIH_IMAGE_SIZE),
                  what='box [x, y, x + w, y + h]')
        record = records.setdefault(name, dict(file_name=name, syms=[], boxes=[]))
        first_row.setdefault(name, row)
        if allowed is not None and label not in allowed:
            if not drop_unknown:
                raise ConversionError(
                    csv_path, f'class {label!r} is not in the class list ({", ".join(classes)}); '
                    'drop such boxes with --drop-unknown', where)
            report.note(f'boxes of classes outside the class list, dropped ({label})', row)
            continue
        box = round_box([x * scale, y * scale, (x + w) * scale, (y + h) * scale], decimals)
        check_box(box, csv_path, where,
                  what=f'box after scaling and rounding to {decimals} decimals')
        add_box(record, label, box, report, where)

    for name in [n for n, r in records.items() if not r['boxes']]:
        del records[name]  # every box was of a dropped class
        report.note('images left without a box by the class list, left out', name)

    if images_dir is not None:
        _match_images(csv_path, records, first_row, report, images_dir, scale, skip_missing,
                      negatives_from_images)
    report.records = [records[name] for name in sorted(records)]
    check_records(report.records, csv_path)
    return report


def _match_images(csv_path, records, first_row, report, images_dir, scale, skip_missing,
                  negatives_from_images):
    from tbmm.datasets.image_io import read_xray_info
    on_disk = _image_files(images_dir)
    expected = NIH_IMAGE_SIZE * scale
    for name in sorted(records, key=first_row.get):
        path = osp.join(images_dir, name)
        if not osp.isfile(path):
            if not skip_missing:
                raise ConversionError(
                    csv_path, f'image {path} is not there (--skip-missing skips such images)',
                    row_where(first_row[name]))
            report.note(f'images of the CSV missing in {images_dir}, skipped', name)
            report.note(f'boxes of the images missing in {images_dir}, skipped',
                        n=len(records[name]['boxes']))
            del records[name]
            continue
        info = read_xray_info(path)
        if abs(info.width - expected) > 0.5 or abs(info.height - expected) > 0.5:
            raise ConversionError(
                csv_path, f'image {path} is {info.width}x{info.height}, but NIH boxes are in '
                f'{NIH_IMAGE_SIZE}-pixel coordinates and the scale {scale:g} makes them fit '
                f'{expected:g}x{expected:g}: use --scale {info.width / NIH_IMAGE_SIZE:g}',
                row_where(first_row[name]))
    unlisted = [name for name in on_disk if name not in records and name not in first_row]
    for name in unlisted:
        if negatives_from_images:
            records[name] = dict(file_name=name, syms=[], boxes=[])
            report.note(f'images in {images_dir} without a box, added as negatives', name)
        else:
            report.note(f'images in {images_dir} without a box, not included '
                        '(--negatives-from-images adds them as negatives)', name)
