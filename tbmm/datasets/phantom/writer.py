"""The phantom data set on disk: the real data set's layout (``annotation/{train,test}.json``,
``{train,test}_data/*.png``), every class represented in every split, byte-identical for the same
arguments."""
from __future__ import annotations

import json
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from tbmm.classes import DEFAULT_CLASSES
from tbmm.datasets.annotations import write_annotations
from tbmm.datasets.phantom.box_stats import (
    LESIONS_PER_IMAGE_PROBS,
    MULTILABEL_PAIR,
    REFERENCE_IMAGE_SIZE,
    LesionClasses,
    check_known_classes,
    class_probabilities,
)
from tbmm.datasets.phantom.image import sample_phantom_image
from tbmm.errors import UserInputError

__all__ = ['PhantomDataset', 'plan_split', 'PHANTOM_PARAMS_FILE', 'PhantomFolderError',
           'make_phantom_dataset']


@dataclass
class PhantomDataset:
    """Where :func:`make_phantom_dataset` wrote what."""
    root: str
    train_ann_file: str
    train_img_dir: str
    test_ann_file: str
    test_img_dir: str
    num_train: int
    num_test: int
    box_counts: Dict[str, Dict[str, int]]  # split → class → number of boxes


def _allocate(total, probs):
    """Largest-remainder integer split of ``total`` by ``probs``."""
    exact = np.asarray(probs, float) * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind='stable')[:total - counts.sum()]:
        counts[i] += 1
    return counts


def plan_split(rng: np.random.Generator, num_images: int, classes: Sequence[str] = DEFAULT_CLASSES,
               negative_fraction: float = 0.2, multilabel_fraction: float = 0.1,
               min_class_fraction: float = 0.08,
               lesions_per_image: Optional[dict] = None) -> List[List[LesionClasses]]:
    """Lesion classes per image: exact negative and multi-label counts, every class represented.

    Each positive image's first lesion comes from a shuffled deck holding the classes in
    proportion to :func:`class_probabilities`, so even a small split has all of them.
    """
    probs = class_probabilities(classes, min_class_fraction)
    num_negative = int(round(num_images * negative_fraction))
    num_positive = num_images - num_negative
    order = rng.permutation(num_images)
    positive = order[:num_positive]
    can_pair = all(c in classes for c in MULTILABEL_PAIR)
    num_multilabel = int(round(num_positive * multilabel_fraction)) if can_pair else 0
    multilabel = set(rng.permutation(positive)[:num_multilabel].tolist())

    deck = np.repeat(np.arange(len(classes)), _allocate(num_positive, probs))
    deck = rng.permutation(deck)
    lesions_per_image = lesions_per_image or LESIONS_PER_IMAGE_PROBS
    counts = [int(n) for n in lesions_per_image]
    count_probs = np.asarray(list(lesions_per_image.values()), dtype=float)
    if min(counts) < 1 or (count_probs < 0).any() or count_probs.sum() <= 0:
        raise ValueError(f'lesions_per_image must map counts >= 1 to probabilities, '
                         f'got {lesions_per_image}')
    count_probs = count_probs / count_probs.sum()
    plan: List[List[LesionClasses]] = [[] for _ in range(num_images)]
    for first, index in zip(deck, sorted(positive.tolist())):
        num_lesions = int(rng.choice(counts, p=count_probs))
        lesions: List[LesionClasses] = [classes[first]]
        lesions += [classes[i] for i in rng.choice(len(classes), size=num_lesions - 1, p=probs)]
        if index in multilabel:
            lesions = [MULTILABEL_PAIR] + lesions[:3]
        plan[index] = lesions
    return plan


#: What :func:`make_phantom_dataset` writes into its folder: its arguments, and the mark that the
#: folder's images are a phantom set's (which a new set may replace).
PHANTOM_PARAMS_FILE = 'phantom_params.json'


class PhantomFolderError(UserInputError):
    """A folder the phantom set must not be written into (its images may be real data)."""


def make_phantom_dataset(out_root, num_train: int = 300, num_test: int = 60,
                         image_size: int = REFERENCE_IMAGE_SIZE, seed: int = 0,
                         negative_fraction: float = 0.2, multilabel_fraction: float = 0.1,
                         classes: Sequence[str] = DEFAULT_CLASSES,
                         min_class_fraction: float = 0.08,
                         lesions_per_image: Optional[dict] = None) -> PhantomDataset:
    """Write a phantom data set in the real layout and return where it went.

    ``out_root/annotation/{train,test}.json`` and ``out_root/{train,test}_data/NNNNN.png``; test
    file names continue the train numbering. Same arguments → byte-identical files. Train and test
    draw from separate random streams, and every image from its own, derived from ``seed``.

    ``min_class_fraction`` floors each class's share of lesions (1/len(classes) balances them);
    ``lesions_per_image`` maps a lesion count to its probability for positive images (default
    :data:`LESIONS_PER_IMAGE_PROBS`, close to the real data).

    The arguments go to ``out_root/phantom_params.json``. A folder that has one holds an earlier
    phantom set, whose images are removed first (a smaller set leaves none behind); a folder whose
    image folders hold files without it is refused (:class:`PhantomFolderError`): it may be real
    data.
    """
    classes = tuple(classes)
    check_known_classes(classes)
    if image_size < 64:
        raise ValueError(f'image_size must be at least 64, got {image_size}')
    if num_train < 0 or num_test < 0:
        raise ValueError(f'image counts must not be negative, got {num_train} / {num_test}')
    for name, value in (('negative_fraction', negative_fraction),
                        ('multilabel_fraction', multilabel_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{name} must be within [0, 1], got {value}')
    out_root = os.fspath(out_root)
    params = dict(num_train=num_train, num_test=num_test, image_size=image_size, seed=seed,
                  negative_fraction=negative_fraction, multilabel_fraction=multilabel_fraction,
                  classes=list(classes), min_class_fraction=min_class_fraction,
                  lesions_per_image=lesions_per_image)
    _clear_earlier_phantom(out_root)
    result = dict(root=out_root, num_train=num_train, num_test=num_test, box_counts={})
    first_index = 0
    for split_id, (split, num_images) in enumerate((('train', num_train), ('test', num_test))):
        img_dir = osp.join(out_root, f'{split}_data')
        ann_file = osp.join(out_root, 'annotation', f'{split}.json')
        os.makedirs(img_dir, exist_ok=True)
        plan = plan_split(np.random.default_rng([seed, split_id]), num_images, classes,
                          negative_fraction, multilabel_fraction, min_class_fraction,
                          lesions_per_image)
        records, box_counts = [], Counter()
        for i, lesion_classes in enumerate(plan):
            phantom = sample_phantom_image(np.random.default_rng([seed, split_id, i]), image_size,
                                           lesion_classes)
            file_name = f'{first_index + i:05d}.png'
            if not cv2.imwrite(osp.join(img_dir, file_name), phantom.image):
                raise OSError(f'could not write {osp.join(img_dir, file_name)}')
            records.append(phantom.to_record(file_name))
            box_counts.update(phantom.syms)
        write_annotations(ann_file, records)
        first_index += num_images
        result[f'{split}_ann_file'] = ann_file
        result[f'{split}_img_dir'] = img_dir
        result['box_counts'][split] = {c: box_counts.get(c, 0) for c in classes}
    with open(osp.join(out_root, PHANTOM_PARAMS_FILE), 'w', encoding='utf-8') as f:
        json.dump(params, f)
    return PhantomDataset(**result)


def _clear_earlier_phantom(out_root):
    """Remove an earlier phantom set's images from ``out_root``; refuse a folder of other images."""
    image_dirs = [osp.join(out_root, f'{split}_data') for split in ('train', 'test')]
    present = [osp.join(d, name) for d in image_dirs if osp.isdir(d) for name in os.listdir(d)]
    if not present:
        return
    if not osp.isfile(osp.join(out_root, PHANTOM_PARAMS_FILE)):
        raise PhantomFolderError(
            f'{out_root}: its image folders hold {len(present)} file(s) but no '
            f'{PHANTOM_PARAMS_FILE}, so they are not a phantom set and may be real data; write the '
            f'phantom to an empty or new folder')
    for path in present:
        if path.endswith('.png') and osp.isfile(path):
            os.remove(path)
