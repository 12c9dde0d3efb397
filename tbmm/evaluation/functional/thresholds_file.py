"""``thresholds.json``: the file that keeps per-class operating thresholds, its writer, and the
loader that checks it before a model runs on it.

:func:`.thresholds.select_thresholds` makes the document; :func:`write_thresholds` writes it and
:func:`load_thresholds` reads and checks it (inference, export, ``tools/evaluate.py`` and the
torch-free runtime of :mod:`tbmm.deploy`). The format:

.. code-block:: text

    {
      "format": "tbmm-thresholds/1",
      "target": {"metric": "sensitivity" | "fp_per_image" | "f1", "value": 0.9 | 0.1 | null},
      "rule": "score >= threshold",
      "classes": {
        name: {"threshold": float in [0, 1] | null, "reached": bool,
               "n_gt": int, "n_det": int, "tp": int, "fp": int,
               "sensitivity": float | null, "sensitivity_ci95": [lo, hi] | null,
               "precision": float | null, "precision_ci95": [lo, hi] | null,
               "fp_per_image": float | null, "fp_per_image_ci95": [lo, hi] | null,
               "f1": float | null, "n_resamples_na": int,
               "note": str (only where not reached or n/a: why, and which fallback)},
        ...  (in class-list order)
      },
      "settings": {"iou_thr", "n_images", "classes": [...],
                   "bootstrap": {"n_resamples", "confidence", "seed", "unit": "image" | "group",
                                 "n_units"} | null},
      "ignored_classes": {"gt": {name: boxes}, "pred": {name: boxes}},
      "images": {"n_images", "n_pred_records", "n_pred_files_not_in_gt"},
      "source": {"ann": path, "pred": path, "ann_sha256": hex, "pred_sha256": hex} | null,
      "tbmm_version": "0.1.0"
    }

Only ``classes.<name>.threshold`` is required by :func:`load_thresholds` (a hand-written
``{"classes": {"Nodule": {"threshold": 0.3}}}``, or the bare ``{"classes": {"Nodule": 0.3}}``,
loads too); the rest is the report of how it was chosen. Readers must ignore keys they do not
know. Standard library and :mod:`tbmm.errors` / :mod:`tbmm.utils` only (no numpy, no torch).
"""
import json
import math
import os

from tbmm.errors import UserInputError
from tbmm.utils import ensure_parent_dir, file_sha256

#: The ``format`` tag of a thresholds file; :func:`load_thresholds` refuses other versions.
THRESHOLDS_FORMAT = 'tbmm-thresholds/1'


class ThresholdError(UserInputError):
    """A thresholds file that cannot be used, or (strict) a target not reached; the message is one
    line naming the file or the classes."""


def source_of(ann_path, pred_path):
    """The ``source`` entry: the two files as given and their SHA-256."""
    return {'ann': os.fspath(ann_path), 'pred': os.fspath(pred_path),
            'ann_sha256': file_sha256(ann_path), 'pred_sha256': file_sha256(pred_path)}


def write_thresholds(result, path):
    """Write the document of :func:`.thresholds.select_thresholds` as JSON (atomically); return
    the path."""
    path = ensure_parent_dir(os.fspath(path))
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)
    return path


def _no_duplicate_keys(path):
    def hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ThresholdError(f'{path}: key {key!r} appears twice in one object')
            seen.add(key)
        return dict(pairs)
    return hook


def load_thresholds(path, classes=None):
    """Read and check a thresholds file: ``{class name: threshold}`` (floats in [0, 1]).

    Args:
        path: a ``thresholds.json`` (see the module docstring).
        classes: the classes the caller needs (e.g. the model's), in its order; None: every class
            in the file, in file order. Classes of the file that are not asked for are ignored.

    Raises :class:`ThresholdError` (a :class:`tbmm.utils.UserInputError`, so a tool run by
    :func:`tbmm.utils.run_cli` prints one ``error:`` line) naming the file and the class: file
    missing or not JSON, no ``classes`` object, another ``format``, a class asked for but missing,
    a threshold that is null (a class the file could not calibrate), not a number, or outside
    [0, 1].
    """
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8-sig') as f:  # a BOM from a Windows editor is fine
            text = f.read()
    except FileNotFoundError:
        raise ThresholdError(f'{path}: thresholds file not found') from None
    except (OSError, UnicodeDecodeError) as e:
        raise ThresholdError(f'{path}: cannot read the thresholds file: {e}') from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys(path))
    except json.JSONDecodeError as e:
        raise ThresholdError(f'{path}: not valid JSON (line {e.lineno} column {e.colno}: '
                             f'{e.msg})') from None
    if not isinstance(document, dict) or not isinstance(document.get('classes'), dict):
        raise ThresholdError(f'{path}: no "classes" object: not a thresholds file (write one with '
                             f'tools/analysis_tools/thresholds.py)')
    file_format = document.get('format', THRESHOLDS_FORMAT)
    if file_format != THRESHOLDS_FORMAT:
        raise ThresholdError(f'{path}: format {file_format!r} is not {THRESHOLDS_FORMAT!r}')
    in_file = document['classes']
    if classes is None:
        names = list(in_file)
        if not names:
            raise ThresholdError(f'{path}: "classes" is empty')
    else:
        names = [str(c) for c in classes]
        missing = [name for name in names if name not in in_file]
        if missing:
            more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
            has = ', '.join(map(repr, in_file)) or 'none'
            raise ThresholdError(f'{path}: no threshold for class {missing[0]!r}{more}; the file '
                                 f'has {has}')
    thresholds = {}
    for name in names:
        entry = in_file[name]
        if isinstance(entry, dict) and 'threshold' not in entry:
            raise ThresholdError(f'{path}: class {name!r} has no "threshold" key')
        value = entry['threshold'] if isinstance(entry, dict) else entry
        if value is None:
            why = entry.get('note') if isinstance(entry, dict) else None
            raise ThresholdError(f'{path}: class {name!r} has no threshold (null'
                                 f'{": " + why if why else ""}); set one by hand or leave the '
                                 f'class out')
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not 0.0 <= value <= 1.0):
            raise ThresholdError(f'{path}: class {name!r}: threshold must be a number in [0, 1], '
                                 f'got {value!r}')
        thresholds[name] = float(value)
    return thresholds
