"""Ground truth vs prediction overlays from an annotation file and a predictions file (no model)."""
import os.path as osp

from tbmm.datasets.annotations import read_annotations
from tbmm.datasets.image_io import read_xray
from tbmm.errors import UserInputError

from .overlay import draw_gt_vs_pred, save_image

__all__ = ['draw_prediction_files']


def _top_k(record, k):
    """The record with only its ``k`` best-scoring boxes (all when ``k`` is None)."""
    if k is None:
        return record
    order = sorted(range(len(record['scores'])), key=lambda i: -record['scores'][i])[:k]
    return dict(record, syms=[record['syms'][i] for i in order],
                boxes=[record['boxes'][i] for i in order],
                scores=[record['scores'][i] for i in order])


def draw_prediction_files(ann_file, pred_file, img_dir, out_dir, classes, names=None, num=6,
                          score_thr=0.3, top_k=None):
    """Write ``<name>_gt_vs_pred.png`` for ``names`` (default: the first ``num`` images of
    ``ann_file`` with findings, plus one without); returns the written paths.

    Boxes scoring below ``score_thr`` are not drawn; ``top_k`` keeps each image's best k.
    """
    gt = {r['file_name']: r for r in read_annotations(ann_file)}
    pred = {r['file_name']: r for r in read_annotations(pred_file, require_scores=True)}
    if names is None:
        names = [n for n, r in gt.items() if r['boxes']][:max(num - 1, 0)]
        names += [n for n, r in gt.items() if not r['boxes']][:1]
    unknown = [n for n in names if n not in gt]
    if unknown:
        raise UserInputError(f'{ann_file}: no record for {unknown[0]!r}'
                             + (f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''))
    written = []
    for name in names:
        empty = dict(file_name=name, syms=[], boxes=[], scores=[])
        overlay = draw_gt_vs_pred(read_xray(osp.join(img_dir, name)), gt[name],
                                  _top_k(pred.get(name, empty), top_k), classes,
                                  score_thr=score_thr)
        out = osp.join(out_dir, osp.splitext(name)[0].replace('/', '_') + '_gt_vs_pred.png')
        save_image(out, overlay)
        written.append(out)
    return written
