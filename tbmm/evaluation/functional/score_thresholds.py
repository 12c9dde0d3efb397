"""Score thresholds per class for the analysis: one default, overridden per class.

A detection is kept when its score is >= its class's threshold. Per-class values come from a
``thresholds.json`` (format and reader: :mod:`.thresholds`, e.g. ``{"classes": {"Nodule":
{"threshold": 0.42}}}``); the classes it leaves out keep the default.
"""
import json
import math
import os

from tbmm.utils import ensure_parent_dir


def _check_threshold(value, where):
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not 0.0 <= value <= 1.0):
        raise ValueError(f'{where}: a score threshold must be a number in [0, 1], got {value!r}')
    return float(value)


def score_thresholds(classes, default=0.3, per_class=None):
    """``{class: threshold}`` for every class: ``per_class``'s value where given, else ``default``.

    A ``per_class`` name outside ``classes`` is an error (a misspelt class would otherwise keep the
    default without a word).
    """
    default = _check_threshold(default, 'score threshold')
    per_class = dict(per_class or {})
    unknown = [name for name in per_class if name not in classes]
    if unknown:
        raise ValueError(f'score threshold for class(es) not evaluated: '
                         f'{", ".join(map(repr, unknown))} (classes: {", ".join(classes)})')
    return {name: _check_threshold(per_class[name], f'threshold of {name!r}')
            if name in per_class else default for name in classes}


def write_f1_thresholds(path, entries, iou_thr):
    """Write ``{class: {"threshold", "f1", "precision", "recall"}}`` as a ``thresholds.json`` that
    :func:`.thresholds.load_thresholds` reads (target ``f1``); classes without a threshold are left
    out (they keep the default when read back)."""
    document = {
        'format': 'tbmm-thresholds/1',
        'target': {'metric': 'f1', 'value': None},
        'rule': 'score >= threshold',
        'classes': entries,
        'settings': {'iou_thr': float(iou_thr)},
        'note': 'best-F1 threshold per class, chosen on the evaluated set itself (optimistic '
                'there): choose thresholds on a validation set '
                '(tools/analysis_tools/thresholds.py)',
    }
    path = ensure_parent_dir(os.fspath(path))
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(document, f, indent=2)
        f.write('\n')
    return path
