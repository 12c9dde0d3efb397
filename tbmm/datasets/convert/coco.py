"""The annotation format to COCO detection JSON and back.

COCO side: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations`` (``id``,
``image_id``, ``category_id``, ``bbox`` = [x, y, width, height], ``area`` = width * height,
``iscrowd`` 0) and ``categories`` (``id`` from 1 in class order, ``name``). Ids count from 1 in
the order of the records and their boxes. Negatives are images without annotations; identical boxes
of different classes are separate annotations. ``to_coco`` then ``from_coco`` gives the records
back exactly: each width is chosen so that ``x + width`` is ``x2`` again in floating point.
"""
import json
import math
import os
import os.path as osp

from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.convert.common import (
    ConversionError,
    ConversionReport,
    check_box,
    check_file_name,
    check_records,
)


def _extent(low, high):
    """``high - low``, nudged by an ulp or two where needed so that ``low + extent == high``."""
    extent = high - low
    for _ in range(4):
        total = low + extent
        if total == high:
            break
        extent = math.nextafter(extent, math.inf if total < high else -math.inf)
    return extent


def to_coco(ann_path, classes=None, image_size=None, images_dir=None, clip=False):
    """Convert an annotation file to a COCO dict; return ``(coco, report)``.

    Args:
        classes: category order (ids from 1); None: the file's classes, alphabetical. A box of a
            class not listed is an error naming the record.
        image_size: ``(width, height)`` of every image, or
        images_dir: the folder whose image headers give each image's size (a missing image is an
            error naming its record). One of the two is required: COCO images carry their size.
        clip: clip boxes partly outside their image (counted) instead of refusing them.

    The records' ``polygons`` and ``scores`` are not converted (counted in the report).
    """
    ann_path = os.fspath(ann_path)
    records = read_annotations(ann_path)
    report = ConversionReport(ann_path)
    if (image_size is None) == (images_dir is None):
        raise ConversionError(ann_path, 'COCO images carry their size: give the size of every '
                              'image (--image-size W H) or their folder (--images DIR), not both')
    if classes is None:
        classes = sorted({s for r in records for s in r['syms']})
    category_ids = {name: i for i, name in enumerate(classes, start=1)}
    images, annotations = [], []
    for index, record in enumerate(records):
        name = record['file_name']
        where = f'record {index} ({name!r})'
        size = image_size if images_dir is None else _header_size(ann_path, where, images_dir, name)
        images.append(dict(id=index + 1, file_name=name, width=size[0], height=size[1]))
        for key in ('polygons', 'scores'):
            if key in record:
                report.note(f'records whose "{key}" were not converted', name)
        boxes = []
        for j, (sym, box) in enumerate(zip(record['syms'], record['boxes'])):
            if sym not in category_ids:
                raise ConversionError(ann_path, f'box {j} has class {sym!r}, which is not in the '
                                      f'class list ({", ".join(classes)})', where)
            x1, y1, x2, y2 = check_box(box, ann_path, where, size, f'box {j}', clip, report)
            width, height = _extent(x1, x2), _extent(y1, y2)
            annotations.append(dict(id=len(annotations) + 1, image_id=index + 1,
                                    category_id=category_ids[sym], bbox=[x1, y1, width, height],
                                    area=width * height, iscrowd=0))
            boxes.append([x1, y1, x2, y2])
        report.records.append(dict(file_name=name, syms=list(record['syms']), boxes=boxes))
    coco = dict(info=dict(description=f'converted by tbmm from {osp.basename(ann_path)}'),
                licenses=[], images=images, annotations=annotations,
                categories=[dict(id=i, name=n, supercategory='lesion')
                            for n, i in category_ids.items()])
    return coco, report


def _header_size(ann_path, where, images_dir, name):
    from tbmm.datasets.image_io import read_xray_info
    path = osp.join(images_dir, name)
    if not osp.isfile(path):
        raise ConversionError(ann_path, f'image {path} is not there', where)
    info = read_xray_info(path)
    return info.width, info.height


def write_coco(path, coco):
    """Write a COCO dict as JSON (parent folder created, never half-written)."""
    from tbmm.utils import ensure_parent_dir
    path = ensure_parent_dir(os.fspath(path))
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(coco, f)
    os.replace(path + '.tmp', path)


def _load(path):
    try:
        with open(path, encoding='utf-8-sig') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConversionError(path, 'file not found') from None
    except IsADirectoryError:
        raise ConversionError(path, 'is a directory, not a COCO JSON file') from None
    except OSError as e:
        raise ConversionError(path, f'cannot read ({e.strerror or e})') from None
    except (ValueError, RecursionError) as e:
        raise ConversionError(path, f'not valid JSON ({e})') from None
    if not isinstance(data, dict):
        raise ConversionError(path, f'top level must be a COCO object, got {type(data).__name__}')
    missing = [k for k in ('images', 'annotations', 'categories') if k not in data]
    if missing:
        raise ConversionError(path, f'not COCO detection JSON: missing {", ".join(missing)}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data[key], list):
            raise ConversionError(path, f'"{key}" must be a list')
    return data


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entries(path, data, key, fields):
    """Yield ``(where, entry)`` for ``data[key]``, each an object having ``fields``."""
    for i, entry in enumerate(data[key]):
        where = f'{key}[{i}]'
        if not isinstance(entry, dict):
            raise ConversionError(path, f'expected an object, got {type(entry).__name__}', where)
        if 'id' in entry:
            where += f' (id {entry["id"]!r})'
        missing = [f for f in fields if f not in entry]
        if missing:
            raise ConversionError(path, f'missing {", ".join(missing)}', where)
        yield where, entry


def _unique_id(path, where, entry, seen, what):
    key = entry['id']
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise ConversionError(path, f'{what} id must be an integer or a string', where)
    if key in seen:
        raise ConversionError(path, f'duplicate {what} id (first at {seen[key]})', where)
    seen[key] = where
    return key


def from_coco(coco_path, clip=False):
    """Convert a COCO detection JSON file to records; return a :class:`ConversionReport`.

    Records follow the order of ``images`` and their boxes the order of ``annotations``; an image
    without annotations is a negative. Crowd annotations (``iscrowd`` 1: regions, not findings)
    are left out and counted. Where an image has ``width``/``height``, a box outside it is an
    error (``clip``: clipped and counted). Errors name the file and the entry (``annotations[4]``).
    """
    coco_path = os.fspath(coco_path)
    data = _load(coco_path)
    report = ConversionReport(coco_path)
    categories, seen = {}, {}
    for where, entry in _entries(coco_path, data, 'categories', ('id', 'name')):
        key = _unique_id(coco_path, where, entry, seen, 'category')
        if not isinstance(entry['name'], str) or not entry['name'].strip():
            raise ConversionError(coco_path, 'category name must be a non-empty string', where)
        if entry['name'] in categories.values():
            raise ConversionError(coco_path, f'duplicate category name {entry["name"]!r}', where)
        categories[key] = entry['name']
    records, sizes, seen, names = {}, {}, {}, set()
    for where, entry in _entries(coco_path, data, 'images', ('id', 'file_name')):
        key = _unique_id(coco_path, where, entry, seen, 'image')
        name = entry['file_name']
        if not isinstance(name, str):
            raise ConversionError(coco_path, 'file_name must be a string', where)
        check_file_name(name, coco_path, where)
        if name in names:
            raise ConversionError(coco_path, f'duplicate file_name {name!r}', where)
        names.add(name)
        size = (entry.get('width'), entry.get('height'))
        if size != (None, None):
            if not all(_is_number(v) and v > 0 for v in size):
                raise ConversionError(coco_path, f'width and height must be positive numbers, got '
                                      f'{size[0]!r} and {size[1]!r}', where)
            sizes[key] = size
        records[key] = dict(file_name=name, syms=[], boxes=[])
    seen = {}
    for where, entry in _entries(coco_path, data, 'annotations',
                                 ('id', 'image_id', 'category_id', 'bbox')):
        _unique_id(coco_path, where, entry, seen, 'annotation')
        if entry['image_id'] not in records:
            raise ConversionError(coco_path, f'image_id {entry["image_id"]!r} is not in "images"',
                                  where)
        if entry['category_id'] not in categories:
            raise ConversionError(coco_path, f'category_id {entry["category_id"]!r} is not in '
                                  '"categories"', where)
        bbox = entry['bbox']
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            raise ConversionError(coco_path, f'bbox must be 4 finite numbers [x, y, width, '
                                  f'height], got {bbox!r}', where)
        if entry.get('iscrowd', 0):
            report.note('crowd annotations (iscrowd 1), left out', where)
            continue
        x, y, width, height = (float(v) for v in bbox)
        if width <= 0 or height <= 0:
            raise ConversionError(coco_path, f'bbox width and height must be positive, got '
                                  f'{bbox!r}', where)
        box = check_box([x, y, x + width, y + height], coco_path, where,
                        sizes.get(entry['image_id']), 'box', clip, report)
        record = records[entry['image_id']]
        record['syms'].append(categories[entry['category_id']])
        record['boxes'].append(box)
    report.records = list(records.values())
    check_records(report.records, coco_path)
    return report
