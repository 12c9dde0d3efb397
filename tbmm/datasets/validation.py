"""Check an annotation file and its images before training; every problem names file and record.

:func:`validate_dataset` goes through the whole annotation file (unlike
:func:`~tbmm.datasets.annotations.read_annotations`, it does not stop at the first bad record),
checks each listed image from its header and file end (``decode=True`` also decodes it) and
returns a :class:`ValidationReport`; ``tools/misc/validate_data.py`` prints it.

A problem is an **error** when training with the same settings would fail, at data set build time
or later (an unreadable image, a box without area inside its image, whose regression target is
infinite), and a **warning** when training runs but something is changed or left out (boxes clipped
to the image, dropped classes, skipped images) or looks wrong (tiny or duplicate boxes, unexpected
image sizes).

:func:`~tbmm.datasets.image_io.inspect_image` and :func:`clip_box_to_image` are shared with
:class:`~tbmm.datasets.ChestXDetDataset` (``check_images=True``), so the tool and training agree.
"""
import difflib
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from tbmm.classes import DEFAULT_CLASSES, covering_preset
from tbmm.datasets.annotations import AnnotationError, load_annotation_list, validate_record
from tbmm.datasets.image_io import IMAGE_SUFFIXES, ImageReadError, inspect_image, read_xray
from tbmm.errors import UserInputError

ERROR = 'error'
WARNING = 'warning'

# Problem codes (stable: tests and scripts match on them).
ANNOTATION_FILE = 'annotation-file'  # missing, unreadable, not JSON, not a list
NO_RECORDS = 'no-records'
BAD_RECORD = 'bad-record'  # structure or box geometry (validate_record)
DUPLICATE_FILE_NAME = 'duplicate-file-name'
UNKNOWN_CLASS = 'unknown-class'
IMAGE_FOLDER = 'image-folder'
MISSING_IMAGE = 'missing-image'
UNREADABLE_IMAGE = 'unreadable-image'
BOX_OUTSIDE_IMAGE = 'box-outside-image'  # no area inside the image
BOX_PARTLY_OUTSIDE = 'box-partly-outside-image'  # clipped to the image
TINY_BOX = 'tiny-box'
DUPLICATE_BOX = 'duplicate-box'
UNEXPECTED_IMAGE_SIZE = 'unexpected-image-size'

UNKNOWN_CLASS_POLICIES = ('error', 'drop')
MISSING_IMAGE_POLICIES = ('error', 'skip')


class DatasetBuildError(UserInputError):
    """The data set cannot be built as configured; the message says what to change."""


def check_dataset_policies(unknown_class_policy, missing_image_policy):
    """Refuse a policy name that is none of :data:`UNKNOWN_CLASS_POLICIES` /
    :data:`MISSING_IMAGE_POLICIES` (the data set and ``validate_data`` take the same settings)."""
    if unknown_class_policy not in UNKNOWN_CLASS_POLICIES:
        raise DatasetBuildError(f'unknown_class_policy must be one of {UNKNOWN_CLASS_POLICIES}, '
                                f'got {unknown_class_policy!r}')
    if missing_image_policy not in MISSING_IMAGE_POLICIES:
        raise DatasetBuildError(f'missing_image_policy must be one of {MISSING_IMAGE_POLICIES}, '
                                f'got {missing_image_policy!r}')

@dataclass(frozen=True)
class Problem:
    """One finding; ``message`` is one line naming the file (and the record, where there is one)."""
    severity: str
    code: str
    message: str
    index: Optional[int] = None
    file_name: Optional[str] = None

    def __str__(self):
        return f'{self.severity}: {self.message}'


@dataclass
class ValidationReport:
    """Everything :func:`validate_dataset` found; :meth:`format` renders it for people."""
    ann_file: str
    img_dir: str
    classes: Tuple[str, ...]
    records: int = 0
    negatives: int = 0
    images_found: int = 0
    images_missing: int = 0
    images_unreadable: int = 0
    decoded: bool = False
    boxes_per_class: Counter = field(default_factory=Counter)
    unknown_classes: Counter = field(default_factory=Counter)
    image_sizes: Counter = field(default_factory=Counter)  # (width, height) -> images
    image_kinds: Counter = field(default_factory=Counter)  # kind -> images
    conversions: Dict[str, str] = field(default_factory=dict)  # kind -> what reading does to it
    unlisted_images: List[str] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)

    @property
    def errors(self):
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self):
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self):
        """No errors: training with these settings can start (warnings allowed)."""
        return not self.errors

    def count(self, code):
        return sum(1 for p in self.problems if p.code == code)

    def to_dict(self):
        return dict(
            ann_file=self.ann_file, img_dir=self.img_dir, classes=list(self.classes),
            records=self.records, negatives=self.negatives, images_found=self.images_found,
            images_missing=self.images_missing, images_unreadable=self.images_unreadable,
            decoded=self.decoded, boxes_per_class=dict(self.boxes_per_class),
            unknown_classes=dict(self.unknown_classes),
            image_sizes={f'{w}x{h}': n for (w, h), n in self.image_sizes.items()},
            image_kinds=dict(self.image_kinds), conversions=dict(self.conversions),
            unlisted_images=list(self.unlisted_images),
            problems=[dict(severity=p.severity, code=p.code, message=p.message, index=p.index,
                           file_name=p.file_name) for p in self.problems],
            ok=self.ok)

    def format(self, max_listed=50):
        """The report as text; ``max_listed`` problems at most (0: all), the rest as a count."""
        lines = [f'Data set check of {self.ann_file} with images in {self.img_dir}']
        lines.append(f'  records:          {self.records} ({self.negatives} without boxes)')
        images = (f'{self.images_found} found, {self.images_missing} missing, '
                  f'{self.images_unreadable} unreadable'
                  + (' (headers read; --decode decodes every image)' if not self.decoded
                     else ' (every image decoded)'))
        lines.append(f'  images:           {images}')
        if self.records and self.images_missing == self.records:
            lines.append(f'                    none of the listed images is in {self.img_dir}: '
                         'wrong image folder?')
        if self.unlisted_images:
            first = ', '.join(self.unlisted_images[:3])
            lines.append(f'  not listed:       {len(self.unlisted_images)} image files in the '
                         f'folder are not in the annotation file (e.g. {first})')
        if self.image_sizes:
            sizes = ', '.join(f'{w}x{h}: {n}' for (w, h), n in self.image_sizes.most_common())
            lines.append(f'  image sizes:      {sizes}')
        if self.image_kinds:
            kinds = ', '.join(
                f'{kind}: {n}' + (f' ({self.conversions[kind]})' if kind in self.conversions
                                  else '') for kind, n in self.image_kinds.most_common())
            lines.append(f'  image kinds:      {kinds}')
        per_class = ', '.join(f'{c}: {self.boxes_per_class.get(c, 0)}' for c in self.classes)
        lines.append(f'  boxes per class:  {per_class}')
        if self.unknown_classes:
            unknown = ', '.join(f'{c}: {n}' for c, n in self.unknown_classes.most_common())
            preset = covering_preset(tuple(self.classes) + tuple(self.unknown_classes))
            hint = f'; --classes {preset} covers them all' if preset else ''
            lines.append(f'  unknown classes:  {unknown} (boxes; not in the '
                         f'{len(self.classes)}-class list{hint})')
        box_counts = [(BOX_OUTSIDE_IMAGE, 'without area inside the image'),
                      (BOX_PARTLY_OUTSIDE, 'partly outside (clipped)'), (TINY_BOX, 'tiny'),
                      (DUPLICATE_BOX, 'duplicated')]
        box_summary = ', '.join(f'{self.count(code)} {what}' for code, what in box_counts
                                if self.count(code))
        if box_summary:
            lines.append(f'  box problems:     {box_summary}')
        errors, warnings = self.errors, self.warnings
        if self.problems:
            lines.append(f'Problems ({_plural(len(errors), "error")}, '
                         f'{_plural(len(warnings), "warning")}):')
            # Errors first: they are what stops training.
            ordered = errors + warnings
            shown = ordered if max_listed <= 0 else ordered[:max_listed]
            lines.extend(f'  {p}' for p in shown)
            if len(shown) < len(ordered):
                lines.append(f'  ... {len(ordered) - len(shown)} more not listed '
                             '(--max-listed 0 lists all)')
        if errors:
            lines.append(f'FAILED: {_plural(len(errors), "error")}; training with these settings '
                         'would fail.')
        elif warnings:
            lines.append(f'OK with {_plural(len(warnings), "warning")}: training can start; read '
                         'them first.')
        else:
            lines.append('OK: no problems found.')
        return '\n'.join(lines)


def _plural(n, word):
    return f'{n} {word}' + ('' if n == 1 else 's')


def clip_box_to_image(box, width, height):
    """``box`` clipped to a ``width`` x ``height`` image; ``None`` when no area is left inside."""
    x1, y1, x2, y2 = box
    clipped = [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return None
    return clipped


def _where(ann_file, index, file_name):
    return f'{ann_file}: record {index} ({file_name!r})'


def _suggestion(name, classes):
    """A "did you mean" hint for a class name that differs from a known one in case or spaces,
    or by a typo (``Nodul``, ``Nodules``); none for a different class (``Pneumothorax``)."""
    def key(text):
        return ''.join(text.lower().split())
    keys = {key(c): c for c in classes}
    close = difflib.get_close_matches(key(name), list(keys), n=1, cutoff=0.8)
    return f" (did you mean {keys[close[0]]!r}?)" if close else ''


def validate_dataset(ann_file, img_dir, classes: Sequence[str] = DEFAULT_CLASSES,
                     expect_size: Optional[int] = None, decode: bool = False,
                     unknown_class_policy: str = 'error', missing_image_policy: str = 'error',
                     min_box_size: float = 2.0) -> ValidationReport:
    """Check an annotation file and its image folder the way training would use them.

    Args:
        classes: the model's class list; boxes of other classes are unknown.
        expect_size: warn about images that are not ``expect_size`` x ``expect_size``.
        decode: also decode every image fully (slow), which finds corrupt pixel data too.
        unknown_class_policy, missing_image_policy: the data set's settings (see
            :class:`~tbmm.datasets.ChestXDetDataset`): ``'drop'`` / ``'skip'`` turn those errors
            into warnings, as they turn build errors into counted drops.
        min_box_size: boxes narrower or lower than this (pixels, inside the image) are "tiny".
    """
    check_dataset_policies(unknown_class_policy, missing_image_policy)
    ann_file, img_dir = os.fspath(ann_file), os.fspath(img_dir)
    classes = tuple(classes)
    report = ValidationReport(ann_file=ann_file, img_dir=img_dir, classes=classes, decoded=decode)
    add = report.problems.append

    try:
        raw_records = load_annotation_list(ann_file)
    except AnnotationError as e:
        add(Problem(ERROR, ANNOTATION_FILE, str(e)))
        return report
    report.records = len(raw_records)
    if not raw_records:
        add(Problem(ERROR, NO_RECORDS,
                    f'{ann_file}: the annotation list is empty: nothing to train or evaluate on'))
        return report

    folder_ok = osp.isdir(img_dir)
    if not folder_ok:
        add(Problem(ERROR, IMAGE_FOLDER,
                    f'{img_dir}: image folder not found; no image was checked'))

    first_index_of = {}
    loadable = 0
    for index, raw in enumerate(raw_records):
        try:
            record = validate_record(raw, index, ann_file)
        except AnnotationError as e:
            add(Problem(ERROR, BAD_RECORD, str(e), index, e.file_name))
            continue
        name = record['file_name']
        where = _where(ann_file, index, name)
        if name in first_index_of:
            add(Problem(ERROR, DUPLICATE_FILE_NAME,
                        f'{where}: duplicate file_name (first at record {first_index_of[name]})',
                        index, name))
            continue
        first_index_of[name] = index
        if not record['boxes']:
            report.negatives += 1
        _check_classes(report, record, index, where, unknown_class_policy)
        image = _check_image(report, osp.join(img_dir, name), index, name, where, folder_ok,
                             decode, expect_size, missing_image_policy)
        _check_boxes(report, record, index, where, image, min_box_size)
        loadable += image is not None

    if report.ok and folder_ok and not loadable:
        # Every record is skipped under the policies: the data set build stops with "no images".
        add(Problem(ERROR, NO_RECORDS, f'{ann_file}: no images left to load: all {report.records} '
                    'records are skipped'))
    if folder_ok:
        listed = set(first_index_of)
        report.unlisted_images = sorted(
            f for f in os.listdir(img_dir)
            if f.lower().endswith(IMAGE_SUFFIXES) and f not in listed)
    return report


def _check_classes(report, record, index, where, unknown_class_policy):
    unknown = Counter()
    for sym in record['syms']:
        if sym in report.classes:
            report.boxes_per_class[sym] += 1
        else:
            unknown[sym] += 1
    if not unknown:
        return
    report.unknown_classes.update(unknown)
    names = ', '.join(f'{name!r} ({n})' + _suggestion(name, report.classes)
                      for name, n in unknown.items())
    n = sum(unknown.values())
    if unknown_class_policy == 'error':
        report.problems.append(Problem(
            ERROR, UNKNOWN_CLASS,
            f'{where}: {n} box(es) of classes outside the {len(report.classes)}-class list: '
            f'{names}; use a class list that has them, or drop them (unknown_class_policy="drop")',
            index, record['file_name']))
    else:
        report.problems.append(Problem(
            WARNING, UNKNOWN_CLASS,
            f'{where}: {n} box(es) of classes outside the class list will be dropped: {names}',
            index, record['file_name']))


def _check_image(report, path, index, name, where, folder_ok, decode, expect_size,
                 missing_image_policy):
    """The :class:`~tbmm.datasets.image_io.ImageCheck` of a record's image, or ``None`` (missing,
    unreadable, unchecked)."""
    if not folder_ok:
        return None
    if not osp.isfile(path):  # as the data set decides it
        report.images_missing += 1
        severity = ERROR if missing_image_policy == 'error' else WARNING
        action = ('' if severity == ERROR
                  else '; the record will be skipped (missing_image_policy="skip")')
        report.problems.append(Problem(severity, MISSING_IMAGE,
                                       f'{where}: image not found: {path}{action}', index, name))
        return None
    try:
        image = inspect_image(path)
    except (ImageReadError, ImportError) as e:  # ImportError: a DICOM file and no pydicom
        # The data set with check_images=True finds the same and skips it under
        # missing_image_policy='skip', so this follows that policy.
        severity = ERROR if missing_image_policy == 'error' else WARNING
        action = ('' if severity == ERROR
                  else '; the record will be skipped (missing_image_policy="skip")')
        _unreadable(report, severity, where, path, e, action, index, name)
        return None
    if decode:
        try:
            read_xray(path, channels=1)
        except ImageReadError as e:
            # Only decoding finds this: the data set builds, and training stops at this image.
            _unreadable(report, ERROR, where, path, e, '; training would stop at this image', index,
                        name)
            return None
    report.images_found += 1
    report.image_sizes[(image.width, image.height)] += 1
    report.image_kinds[image.kind] += 1
    if image.conversion:
        report.conversions[image.kind] = image.conversion
    if expect_size and (image.width, image.height) != (expect_size, expect_size):
        report.problems.append(Problem(
            WARNING, UNEXPECTED_IMAGE_SIZE,
            f'{where}: image is {image.width}x{image.height}, expected '
            f'{expect_size}x{expect_size}; training resizes it, and its boxes must be in its own '
            'pixels', index, name))
    return image


def _unreadable(report, severity, where, path, error, action, index, name):
    report.images_unreadable += 1
    reason = (f'unreadable image: {error.reason} ({path})' if isinstance(error, ImageReadError)
              else str(error))
    report.problems.append(Problem(severity, UNREADABLE_IMAGE, f'{where}: {reason}{action}', index,
                                   name))


def _check_boxes(report, record, index, where, image, min_box_size):
    name = record['file_name']
    add = report.problems.append
    seen = {}
    for j, (sym, box) in enumerate(zip(record['syms'], record['boxes'])):
        key = (sym, tuple(box))
        if key in seen:
            add(Problem(WARNING, DUPLICATE_BOX,
                        f'{where}: box {j} repeats box {seen[key]} ({sym!r}, {box}); the same '
                        'finding is counted twice', index, name))
        seen.setdefault(key, j)
        # Without the image size, only the lower bound (0) is known.
        width, height = (image.width, image.height) if image else (float('inf'), float('inf'))
        size_text = f'{image.width}x{image.height} image' if image else 'image'
        clipped = clip_box_to_image(box, width, height)
        if clipped is None:
            add(Problem(ERROR, BOX_OUTSIDE_IMAGE,
                        f'{where}: box {j} {box} has no area inside the {size_text} (its '
                        'regression target would be infinite); fix or remove it', index, name))
            continue
        if clipped != box:
            add(Problem(WARNING, BOX_PARTLY_OUTSIDE,
                        f'{where}: box {j} {box} is partly outside the {size_text}; training '
                        f'clips it to {[round(v, 2) for v in clipped]}', index, name))
        box_w, box_h = clipped[2] - clipped[0], clipped[3] - clipped[1]
        if min(box_w, box_h) < min_box_size:
            add(Problem(WARNING, TINY_BOX,
                        f'{where}: box {j} {box} is tiny ({box_w:g}x{box_h:g} px inside the '
                        f'image, under {min_box_size:g} px): a click instead of a drag?',
                        index, name))
