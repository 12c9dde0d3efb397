"""``tools/evaluate.py --analysis DIR``: confusion matrix, TIDE errors, curves and galleries.

:func:`write_analysis` writes into ``DIR``:

=============================  =================================================================
``confusion.json`` / ``.png``  :func:`.functional.confusion.confusion_matrix` at the thresholds
``errors.json``                per class AP50, ΔAP50 per TIDE error type, error counts
                               (:func:`.functional.errors.error_summary`)
``per_image.json``             per image true positives, false positives with their kind, missed
                               lesions at the thresholds
                               (:func:`.functional.errors.per_image_errors`)
``curves/<class>_pr.png``      precision-recall, operating point marked
``curves/<class>_f1.png``      F1 / precision / recall against the score threshold, best F1 marked
``curves/<class>_froc.png``    FROC with the ChestX-Det10 points
``best_f1_thresholds.json``    each class's best-F1 threshold, in the ``thresholds.json`` format
                               (:mod:`.functional.thresholds`; chosen on this set: optimistic)
``gallery/<class>/*.png``      with ``img_dir``: crops of the highest-scoring false positives
                               (``fp_NN_<image>.png``) and the largest lesions missed at the
                               threshold (``missed_NN_<image>.png``), ground truth | prediction
=============================  =================================================================

Class names become file names with characters other than letters, digits, ``-``, ``_`` and ``.``
replaced by ``_`` (``Pleural Thickening`` -> ``Pleural_Thickening``).
"""
import json
import os
import os.path as osp
import re

import numpy as np

from tbmm.utils import ensure_parent_dir

from .functional.class_curves import class_curves, operating_point
from .functional.confusion import confusion_from_pairing, threshold_array
from .functional.errors import (
    ERROR_TYPES,
    FP_KINDS,
    TIDE_NAMES,
    TRUE_POSITIVE,
    classify_errors,
    error_summary,
    gallery_selection,
    per_image_errors,
)
from .functional.froc import CHESTXDET_FROC_FPS
from .functional.pairing import pair_records
from .functional.score_thresholds import write_f1_thresholds

#: Crops are scaled so that their longer side is within these bounds (legible labels).
GALLERY_CROP_SIZE = (256, 512)
_KIND_TITLES = {'duplicate': 'duplicate', 'localisation': 'poor localisation',
                'wrong_class': 'wrong class', 'both': 'wrong class + box',
                'background': 'background'}


def file_slug(name):
    """``'Pleural Thickening' -> 'Pleural_Thickening'``; ``'a/b.png' -> 'a_b'`` (suffix dropped)."""
    stem = osp.splitext(name)[0] if '.' in osp.basename(name) else name
    return re.sub(r'[^A-Za-z0-9_.-]', '_', stem.replace('/', '_').replace('\\', '_')) or '_'


def _write_json(path, data, list_key=None):
    """Indented JSON; ``data[list_key]`` (a long list) one compact item per line instead, which
    json writes with its C encoder (indenting tens of thousands of entries takes seconds)."""
    ensure_parent_dir(path)
    with open(path, 'w', encoding='utf-8') as f:
        if list_key is None:
            json.dump(data, f, indent=1)
        else:
            head = {k: v for k, v in data.items() if k != list_key}
            f.write(json.dumps(head, indent=1)[:-2] + f',\n "{list_key}": [\n')
            f.write(',\n'.join(json.dumps(item) for item in data[list_key]))
            f.write('\n ]\n}')
        f.write('\n')
    return path


def format_error_table(summary):
    """Per class AP50 and ΔAP50 per TIDE error type (rows), as text."""
    types = list(ERROR_TYPES)
    names = [*summary['classes'], 'mean']
    width = max(len(n) for n in names)
    header = (f'{"Class":<{width}}  {"AP50":>6}  '
              + '  '.join(f'{"d" + TIDE_NAMES[t]:>6}' for t in types))

    def cells(entry):
        return '  '.join('   n/a' if entry['delta_ap50'][t] is None
                         else f'{entry["delta_ap50"][t]:>6.3f}' for t in types)

    def ap(value):
        return '   n/a' if value is None else f'{value:>6.3f}'

    lines = ['Where AP50 is lost (TIDE: AP50 gained by fixing each error type alone)', header,
             '-' * len(header)]
    for name in summary['classes']:
        entry = summary['per_class'][name]
        lines.append(f'{name:<{width}}  {ap(entry["ap50"])}  {cells(entry)}')
    lines.append('-' * len(header))
    lines.append(f'{"mean":<{width}}  {ap(summary["overall"]["ap50"])}  '
                 f'{cells(summary["overall"])}')
    lines.append('Cls wrong class, Loc poor localisation, Both, Dupe duplicate, Bkg background, '
                 'Miss missed lesion (errors.json: definitions).')
    return '\n'.join(lines)


def _crop_window(box, height, width):
    """Pixel window ``(x0, y0, x1, y1)`` around ``box`` with half its size (>= 32 px) as context."""
    x1, y1, x2, y2 = box
    margin = max(32.0, 0.5 * max(x2 - x1, y2 - y1))
    x0 = int(np.clip(np.floor(x1 - margin), 0, max(width - 1, 0)))
    y0 = int(np.clip(np.floor(y1 - margin), 0, max(height - 1, 0)))
    xe = int(np.clip(np.ceil(x2 + margin), x0 + 1, width))
    ye = int(np.clip(np.ceil(y2 + margin), y0 + 1, height))
    return x0, y0, xe, ye


def _crop_record(syms, boxes, window, scale, scores=None):
    """The boxes overlapping ``window``, in the scaled crop's coordinates."""
    x0, y0, xe, ye = window
    out = {'syms': [], 'boxes': []}
    if scores is not None:
        out['scores'] = []
    for j, (sym, box) in enumerate(zip(syms, boxes)):
        if box[2] <= x0 or box[0] >= xe or box[3] <= y0 or box[1] >= ye:
            continue
        out['syms'].append(sym)
        out['boxes'].append([(box[0] - x0) * scale, (box[1] - y0) * scale,
                             (box[2] - x0) * scale, (box[3] - y0) * scale])
        if scores is not None:
            out['scores'].append(float(scores[j]))
    return out


def _gallery_panel(image, box, gt_syms, gt_boxes, pred, classes, pred_title, score_thr=0.0):
    """Ground truth | prediction crops around ``box``, scaled to :data:`GALLERY_CROP_SIZE`."""
    import cv2

    from tbmm.visualization.overlay import draw_boxes

    height, width = image.shape[:2]
    window = _crop_window(box, height, width)
    x0, y0, xe, ye = window
    crop = image[y0:ye, x0:xe]
    longer = max(crop.shape[:2])
    low, high = GALLERY_CROP_SIZE
    scale = min(max(low, longer), high) / longer
    if scale != 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1
                          else cv2.INTER_LINEAR)
    gt_panel = draw_boxes(crop, _crop_record(gt_syms, gt_boxes, window, scale), classes,
                          title='Ground truth')
    pred_record = _crop_record(pred['syms'], pred['boxes'], window, scale, pred['scores'])
    pred_panel = draw_boxes(crop, pred_record, classes, score_thr=score_thr, title=pred_title)
    gap = np.full((gt_panel.shape[0], max(2, round(2 * scale)), 3), 255, np.uint8)
    return np.concatenate([gt_panel, gap, pred_panel], axis=1)


def write_galleries(pairing, errors, selection, img_dir, out_dir, thresholds, gt_records,
                    log=print):
    """Crops of the selected false positives and missed lesions (see :func:`write_analysis`).

    Images missing from ``img_dir`` or unreadable are skipped and counted. Returns
    ``{"written": n, "missing_images": [names], "unreadable_images": {name: reason}}``.
    """
    from tbmm.datasets.image_io import ImageReadError, read_xray
    from tbmm.errors import MissingExtraError
    from tbmm.visualization.overlay import save_image

    p, e = pairing, errors
    classes = p.classes
    gt_by_name = {r['file_name']: r for r in gt_records}
    jobs = {}  # image index -> [(path, box, pred record, title)]
    for name, chosen in selection.items():
        folder = osp.join(out_dir, file_slug(name))
        for n, d in enumerate(chosen['false_positives'], 1):
            kind = FP_KINDS[e.kind[d]]
            pred = {'syms': [name], 'boxes': [p.det.boxes[d].tolist()],
                    'scores': [float(p.det.scores[d])]}
            path = osp.join(folder, f'fp_{n:02d}_{file_slug(p.file_names[p.det.images[d]])}.png')
            jobs.setdefault(int(p.det.images[d]), []).append(
                (path, p.det.boxes[d], pred, f'False positive: {_KIND_TITLES[kind]}'))
        for n, g in enumerate(chosen['missed'], 1):
            image = int(p.gt.images[g])
            path = osp.join(folder,
                            f'missed_{n:02d}_{file_slug(p.file_names[image])}.png')
            jobs.setdefault(image, []).append((path, p.gt.boxes[g], None, name))

    dets_by_image = p.det_by_image()
    # Kept detections are filtered per class below; the panel's "No finding >= t" shows the lowest.
    lowest = min(thresholds.values()) if thresholds else 0.0
    written, missing, unreadable = 0, [], {}
    for image_index, image_jobs in sorted(jobs.items()):
        file_name = p.file_names[image_index]
        path = osp.join(img_dir, file_name)
        if not osp.isfile(path):
            missing.append(file_name)
            continue
        try:
            pixels = read_xray(path)
        except (ImageReadError, MissingExtraError) as error:
            unreadable[file_name] = str(error)
            continue
        gt_record = gt_by_name[file_name]
        dets = dets_by_image[image_index]
        kept = dets[p.det.scores[dets] >= np.array([thresholds[c] for c in classes])[
            p.det.labels[dets]]]
        above = {'syms': [classes[k] for k in p.det.labels[kept]],
                 'boxes': p.det.boxes[kept].tolist(), 'scores': p.det.scores[kept].tolist()}
        for out_path, box, pred, title in image_jobs:
            shown_thr = 0.0
            if pred is None:  # missed lesion: what the model kept around it
                pred, title, shown_thr = above, f'Missed {title}: detections kept', lowest
            panel = _gallery_panel(pixels, box, gt_record['syms'], gt_record['boxes'], pred,
                                   classes, title, shown_thr)
            save_image(out_path, panel)
            written += 1
    if missing:
        log(f'gallery: {len(missing)} of {len(jobs)} image(s) not found in {img_dir}, skipped '
            f'(first: {missing[0]!r})')
    if unreadable:
        first = next(iter(unreadable.values()))
        log(f'gallery: {len(unreadable)} image(s) unreadable, skipped (first: {first})')
    return {'written': written, 'n_images': len(jobs), 'missing_images': missing,
            'unreadable_images': unreadable}


def write_analysis(gt_records, pred_records, classes, out_dir, iou_thr=0.5, score_thr=0.3,
                   class_thresholds=None, img_dir=None, gallery_size=8,
                   froc_fps=CHESTXDET_FROC_FPS, log=print):
    """Write the analysis files (module docstring) into ``out_dir``; returns a summary dict
    (``error_summary`` = the errors.json content, ``files``, ``gallery``)."""
    from .analysis_plots import plot_class_froc, plot_confusion, plot_f1, plot_pr

    pairing = pair_records(gt_records, pred_records, classes, iou_thr)
    thr, thresholds = threshold_array(pairing.classes, score_thr, class_thresholds)
    os.makedirs(out_dir, exist_ok=True)
    files = []

    confusion = confusion_from_pairing(pairing, score_thr, class_thresholds)
    files.append(_write_json(osp.join(out_dir, 'confusion.json'), confusion))
    files.append(plot_confusion(confusion, osp.join(out_dir, 'confusion.png')))

    errors = classify_errors(pairing)
    summary = error_summary(pairing, errors, score_thr, class_thresholds)
    files.append(_write_json(osp.join(out_dir, 'errors.json'), summary))
    files.append(_write_json(osp.join(out_dir, 'per_image.json'),
                             per_image_errors(pairing, errors, score_thr, class_thresholds),
                             list_key='images'))

    curves = class_curves(pairing, froc_fps)
    best = {}
    for k, name in enumerate(pairing.classes):
        curve = curves[name]
        if curve is None:
            continue  # no ground truth: no curves
        slug = file_slug(name)
        operating = operating_point(curve['is_tp'], curve['scores'], curve['n_gt'], thr[k])
        folder = osp.join(out_dir, 'curves')
        files.append(plot_pr(name, curve, summary['per_class'][name]['ap50'],
                             osp.join(folder, f'{slug}_pr.png'), operating))
        files.append(plot_f1(name, curve, osp.join(folder, f'{slug}_f1.png'), thr[k]))
        avg = float(np.mean(list(curve['froc']['points'].values())))
        files.append(plot_class_froc(name, curve, osp.join(folder, f'{slug}_froc.png'), avg))
        if curve['best_f1'] is not None:
            best[name] = curve['best_f1']
    best_path = write_f1_thresholds(osp.join(out_dir, 'best_f1_thresholds.json'), best,
                                    pairing.iou_thr)
    files.append(best_path)

    gallery = None
    if img_dir is not None:
        selection = gallery_selection(pairing, errors, gallery_size, score_thr, class_thresholds)
        gallery = write_galleries(pairing, errors, selection, img_dir,
                                  osp.join(out_dir, 'gallery'), thresholds, gt_records, log=log)
    n_tp_above = int((errors.kind[pairing.det.scores >= thr[pairing.det.labels]]
                      == TRUE_POSITIVE).sum()) if len(pairing.det) else 0
    return {'error_summary': summary, 'confusion': confusion, 'files': files,
            'gallery': gallery, 'n_tp_at_thr': n_tp_above}
