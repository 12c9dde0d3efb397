"""Reading and writing the ChestX-Det annotation format.

One reader and one writer serve annotations and predictions alike: a prediction file is an
annotation file whose records also carry ``scores`` (one per box).

Record: ``{"file_name": "36204.png", "syms": ["Nodule"], "boxes": [[x1, y1, x2, y2]]}`` with
optional ``"polygons"`` and, for predictions, ``"scores"``. Empty ``syms``/``boxes`` means no
finding.
"""
import json
import math
import os
import re

from tbmm.errors import UserInputError, shorten
from tbmm.utils import ensure_parent_dir


class AnnotationError(UserInputError):
    """A problem in an annotation file; the message is one line naming the file and the record."""

    def __init__(self, path, message=None, index=None, file_name=None):
        if message is None:
            # A bare message (re-raised by MMEngine's registry with its own prefix).
            super().__init__(path)
            self.path = self.index = self.file_name = None
            return
        where = str(path)
        if index is not None:
            where += f': record {index}'
            if file_name is not None:
                where += f' ({file_name!r})'
        super().__init__(f'{where}: {message}')
        self.path = path
        self.index = index
        self.file_name = file_name


def is_absolute_or_escaping(file_name):
    """Whether an annotation's ``file_name`` is absolute (POSIX or Windows) or climbs out of the
    image folder with ``..``."""
    # Windows paths too ("C:\\x.png", "\\\\server\\x.png"): annotation files travel between systems,
    # and on POSIX osp.isabs() would take them for relative names that then go missing.
    parts = file_name.replace('\\', '/')
    return (parts.startswith('/') or re.match(r'^[A-Za-z]:', parts) is not None
            or '..' in parts.split('/'))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(number):
    try:
        return math.isfinite(number)
    except OverflowError:  # a JSON integer too large for a float
        return False


def _brief_repr(value, limit=120):
    return shorten(repr(value), limit)


def validate_record(record, index, path, require_scores=False):
    """Check one record's structure and box geometry; return it normalised.

    Returns a new dict with ``boxes`` as lists of 4 floats and ``syms`` as strings (plus ``scores``
    when present). Raises :class:`AnnotationError` naming ``path`` and ``index`` on any problem.
    """
    if not isinstance(record, dict):
        raise AnnotationError(path, f'expected an object, got {type(record).__name__}', index)
    file_name = record.get('file_name')

    def fail(message):
        raise AnnotationError(path, message, index,
                              file_name if isinstance(file_name, str) else None)

    missing = [k for k in ('file_name', 'syms', 'boxes') if k not in record]
    if missing:
        fail(f'missing key(s) {", ".join(missing)}')
    if not isinstance(file_name, str) or not file_name:
        fail('"file_name" must be a non-empty string')
    if is_absolute_or_escaping(file_name):
        fail('"file_name" must be relative to the image folder (no absolute path, no "..")')
    syms, boxes = record['syms'], record['boxes']
    if not isinstance(syms, list) or not all(isinstance(s, str) for s in syms):
        fail('"syms" must be a list of class-name strings')
    if not isinstance(boxes, list):
        fail('"boxes" must be a list of [x1, y1, x2, y2]')
    if len(syms) != len(boxes):
        fail(f'"syms" has {len(syms)} entries but "boxes" has {len(boxes)}')
    clean_boxes = []
    for j, box in enumerate(boxes):
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(_is_number(v) for v in box)):
            fail(f'box {j} must be 4 numbers [x1, y1, x2, y2], got {_brief_repr(box)}')
        if not all(_is_finite(v) for v in box):
            fail(f'box {j} has a non-finite or too large coordinate: {_brief_repr(box)}')
        x1, y1, x2, y2 = (float(v) for v in box)
        if x2 <= x1 or y2 <= y1:
            fail(f'box {j} is empty or inverted (need x2 > x1 and y2 > y1): {_brief_repr(box)}')
        clean_boxes.append([x1, y1, x2, y2])
    out = dict(record)
    out['syms'] = list(syms)
    out['boxes'] = clean_boxes
    if 'scores' in record or require_scores:
        scores = record.get('scores')
        if not isinstance(scores, list) or len(scores) != len(boxes) or not all(
                _is_number(s) and _is_finite(s) for s in scores):
            fail('"scores" must be a list of finite numbers, one per box')
        out['scores'] = [float(s) for s in scores]
    return out


def load_annotation_list(path):
    """Read an annotation file's JSON and check that it is a list; the records are not checked.

    A UTF-8 byte-order mark (written by some Windows editors) is accepted. Raises
    :class:`AnnotationError` naming the file when it is missing, unreadable, not JSON or not a list.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8-sig') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise AnnotationError(path, 'file not found') from None
    except IsADirectoryError:
        raise AnnotationError(path, 'is a directory, not an annotation file') from None
    except OSError as e:
        raise AnnotationError(path, f'cannot read ({e.strerror or e})') from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, integers over 4300 digits
        raise AnnotationError(path, f'not valid JSON ({e})') from None
    except RecursionError:  # json recurses once per nesting level
        raise AnnotationError(path, 'not valid JSON (nested too deeply)') from None
    if not isinstance(data, list):
        raise AnnotationError(
            path, f'top level must be a list of records, got {type(data).__name__}')
    return data


def read_annotations(path, require_scores=False):
    """Read and validate an annotation (or prediction) JSON file.

    Raises :class:`AnnotationError` (a ``ValueError``) with a one-line message naming the file and
    the record for unreadable JSON, a wrong top-level type, malformed records or duplicate file
    names.
    """
    path = os.fspath(path)
    data = load_annotation_list(path)
    records, seen = [], {}
    for i, record in enumerate(data):
        rec = validate_record(record, i, path, require_scores=require_scores)
        if rec['file_name'] in seen:
            raise AnnotationError(
                path, f'duplicate file_name (first at record {seen[rec["file_name"]]})', i,
                rec['file_name'])
        seen[rec['file_name']] = i
        records.append(rec)
    return records


def write_annotations(path, records):
    """Write records (annotations or predictions) as a JSON list, creating the parent folder."""
    path = ensure_parent_dir(os.fspath(path))
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(list(records), f)
    os.replace(tmp, path)  # never leave a half-written file behind
