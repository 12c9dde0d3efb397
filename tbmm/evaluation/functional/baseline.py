"""A trivial baseline: every image gets each class's typical training box(es) at a constant score.

A model that does not beat it has learned nothing beyond where a class's boxes usually lie and how
common the class is. It sits with the evaluation (numpy only) because it is a yardstick for the
metrics, not a model: the cross-validation tool scores it per fold next to the trained models.

* :func:`box_prior_baseline` clusters each class's training boxes into ``k`` typical boxes with
  k-means, either on the IoU distance ``1 - IoU(box, centre)`` of the whole box, position included
  (as YOLO's anchor priors do for width and height; default), or plainly on ``(cx, cy, w, h)``.
  A centre is the coordinate mean of its boxes. k-means++ seeding from ``numpy.random.default_rng
  (seed)``, ``n_init`` starts, the best kept (highest mean IoU / lowest squared error), centres
  listed largest cluster first: the same input and seed give the same priors.
* :func:`predict_baseline` writes prediction records with those boxes on every image. Score of a
  class's box: the share of training images that have the class, times the share of the class's
  boxes in that box's cluster, so common classes and their main cluster rank first; within a class
  every image scores the same, so ranking among images is the input order (evaluate_records ranks
  ties in input order), and the image-level AUC is 0.5. (Pooled out-of-fold predictions carry
  each fold's own scores, which differ slightly between folds.)
* :func:`baseline_predictions` does both for one train/validation split.

Boxes are in pixels of the training images: the baseline assumes that the images of a data set
share one size, as they do in practice (one size per NIH / ChestX-Det set or resized copy).
"""
import numpy as np

from tbmm.classes import DEFAULT_CLASSES

from .matching import box_iou


def _pairwise_iou(boxes, centres):
    return box_iou(boxes[:, None, :], centres[None, :, :])


def _centres(boxes):
    return np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2])


def _assign(boxes, centres, distance):
    """Index of the nearest centre per box. IoU distance: a box overlapping no centre goes to the
    centre nearest its own centre (1 - IoU is 1 for all of them)."""
    if distance == 'cxcywh':
        return np.argmin(_cxcywh_sq_dist(boxes, centres), axis=1)
    iou = _pairwise_iou(boxes, centres)
    nearest = np.argmax(iou, axis=1)
    no_overlap = iou.max(axis=1) <= 0
    if no_overlap.any():
        gaps = ((_centres(boxes[no_overlap])[:, None, :] - _centres(centres)[None, :, :]) ** 2)
        nearest[no_overlap] = np.argmin(gaps.sum(axis=2), axis=1)
    return nearest


def _cxcywh(boxes):
    return np.column_stack([_centres(boxes), boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])


def _cxcywh_sq_dist(boxes, centres):
    return ((_cxcywh(boxes)[:, None, :] - _cxcywh(centres)[None, :, :]) ** 2).sum(axis=2)


def _distances(boxes, centres, distance):
    if distance == 'cxcywh':
        return _cxcywh_sq_dist(boxes, centres)
    return 1.0 - _pairwise_iou(boxes, centres)


def _seed_centres(boxes, k, distance, rng):
    """k-means++: the first centre at random, each next one drawn with probability proportional
    to the squared distance to the nearest centre so far (uniformly among boxes if all are 0)."""
    chosen = [int(rng.integers(len(boxes)))]
    for _ in range(1, k):
        nearest = _distances(boxes, boxes[chosen], distance).min(axis=1) ** 2
        nearest[chosen] = 0.0
        total = nearest.sum()
        p = nearest / total if total > 0 else None
        chosen.append(int(rng.choice(len(boxes), p=p)))
    return boxes[chosen].copy()


def kmeans_boxes(boxes, k, distance='iou', seed=0, n_init=8, max_iter=100):
    """Cluster boxes ``[x1, y1, x2, y2]`` into at most ``k`` centres; see the module docstring.

    Returns ``(centres (k', 4), sizes (k',))``, largest cluster first (ties: by coordinates);
    ``k' = min(k, distinct boxes)``, and with no more distinct boxes than ``k`` the centres are
    those boxes exactly.
    """
    if distance not in ('iou', 'cxcywh'):
        raise ValueError(f"distance must be 'iou' or 'cxcywh', got {distance!r}")
    if int(k) < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(boxes, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    if len(distinct) <= k:
        return _ordered(distinct, np.bincount(inverse, minlength=len(distinct)))

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centres = _seed_centres(boxes, int(k), distance, rng)
        labels = None
        for _ in range(max_iter):
            new_labels = _assign(boxes, centres, distance)
            if labels is not None and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for c in range(len(centres)):
                members = boxes[labels == c]
                if len(members):  # an empty cluster keeps its centre
                    centres[c] = members.mean(axis=0)
        labels = _assign(boxes, centres, distance)
        if distance == 'iou':
            cost = -_pairwise_iou(boxes, centres)[np.arange(len(boxes)), labels].mean()
        else:
            cost = _cxcywh_sq_dist(boxes, centres)[np.arange(len(boxes)), labels].mean()
        if best is None or cost < best[0] - 1e-12:
            best = (cost, centres.copy(), labels.copy())
    _, centres, labels = best
    sizes = np.bincount(labels, minlength=len(centres))
    keep = sizes > 0
    return _ordered(centres[keep], sizes[keep])


def _ordered(centres, sizes):
    # Largest cluster first; ties by x1, y1, x2, y2 (lexsort's last key is the primary one).
    order = np.lexsort((centres[:, 3], centres[:, 2], centres[:, 1], centres[:, 0], -sizes))
    return centres[order], np.asarray(sizes)[order]


def box_prior_baseline(train_records, classes=DEFAULT_CLASSES, k=1, distance='iou', seed=0,
                       n_init=8):
    """Each class's ``k`` typical training boxes and its baseline score.

    Returns:

    .. code-block:: text

        {"classes": [name, ...], "n_train_images": int,
         "settings": {"k", "distance", "seed"},
         "priors": {name: {"boxes": [[x1, y1, x2, y2], ...],   # <= k, largest cluster first
                           "cluster_sizes": [int, ...],      # training boxes per prior
                           "n_train_boxes": int, "n_train_images": int,  # with the class
                           "scores": [float, ...]}}}         # one per prior, see module doc

    A class without training boxes has no priors (empty lists) and so no baseline detections.
    """
    classes = [str(c) for c in classes]
    boxes = {name: [] for name in classes}
    images_with = {name: 0 for name in classes}
    for record in train_records:
        seen = set()
        for sym, box in zip(record['syms'], record['boxes']):
            if sym in boxes:
                boxes[sym].append(box)
                seen.add(sym)
        for sym in seen:
            images_with[sym] += 1
    n_images = len(train_records)
    priors = {}
    for name in classes:
        centres, sizes = kmeans_boxes(boxes[name], k, distance, seed, n_init)
        image_share = images_with[name] / n_images if n_images else 0.0
        n_boxes = len(boxes[name])
        priors[name] = {
            'boxes': centres.tolist(),
            'cluster_sizes': [int(s) for s in sizes],
            'n_train_boxes': n_boxes,
            'n_train_images': images_with[name],
            'scores': [float(image_share * s / n_boxes) for s in sizes],
        }
    return {'classes': classes, 'n_train_images': n_images,
            'settings': {'k': int(k), 'distance': distance, 'seed': seed}, 'priors': priors}


def predict_baseline(priors, file_names, score=None):
    """Prediction records (annotation format plus ``scores``) with every prior box on every image.

    ``score``: None for the priors' own scores (see the module docstring), or one constant for
    every box.
    """
    syms, boxes, scores = [], [], []
    for name in priors['classes']:
        prior = priors['priors'][name]
        for box, prior_score in zip(prior['boxes'], prior['scores']):
            syms.append(name)
            boxes.append([float(v) for v in box])
            scores.append(float(prior_score if score is None else score))
    return [{'file_name': file_name, 'syms': list(syms), 'boxes': [list(b) for b in boxes],
             'scores': list(scores)} for file_name in file_names]


def baseline_predictions(train_records, val, classes=DEFAULT_CLASSES, k=1, distance='iou',
                         seed=0, score=None):
    """The baseline fitted on ``train_records``, as prediction records for the images of ``val``
    (records or file names, in their order): ready for :func:`.evaluate_records`, or to pool with
    other folds' out-of-fold predictions.
    """
    priors = box_prior_baseline(train_records, classes, k, distance, seed)
    file_names = [item['file_name'] if isinstance(item, dict) else item for item in val]
    return predict_baseline(priors, file_names, score)
