"""Reproducible multi-label stratified train/val split of ChestX-Det annotation records.

Images with findings are assigned by iterative stratification (Sechidis, Tsoumakas & Vlahavas,
"On the Stratification of Multi-Label Data", ECML PKDD 2011): the class with the fewest unassigned
images goes first, and each of its images joins the part that still wants that class most. A repair
pass then makes every class with at least 2 images appear in both parts whenever some assignment
allows it (with several classes per image it can be impossible, e.g. {A,B}, {B,C}, {A,C}). Images
without findings (of the stratified classes) are split separately in the same proportion.
"""
import random
from collections import Counter

__all__ = ['split_records', 'count_images_per_class']

TRAIN, VAL = 0, 1


def _image_classes(record, classes):
    """The set of stratified classes an image has (a class with several boxes counts once)."""
    syms = set(record['syms'])
    return syms if classes is None else syms & classes


def count_images_per_class(records, classes=None):
    """``Counter`` of images per class (each class counted once per image) and the negatives count.

    Images without any of ``classes`` (all classes when ``None``) are the negatives.
    """
    classes = None if classes is None else set(classes)
    counts, negatives = Counter(), 0
    for record in records:
        labels = _image_classes(record, classes)
        counts.update(labels)
        negatives += not labels
    return counts, negatives


def _stratify(labels_of, indices, val_fraction, rng):
    """Iterative stratification of ``indices`` (all with at least one class) into train and val."""
    part_of = {}
    priority = {i: rng.random() for i in indices}  # seeded random order among equals
    images_with = {}
    for i in indices:
        for label in labels_of[i]:
            images_with.setdefault(label, []).append(i)

    # How many more images of each class each part wants. Real-valued as in the paper, except that a
    # class with >= 2 images wants at least one image in each part.
    wanted = {}
    for label, members in images_with.items():
        n = len(members)
        val = val_fraction * n if n < 2 else min(max(val_fraction * n, 1), n - 1)
        wanted[label] = [n - val, val]
    wanted_total = [(1 - val_fraction) * len(indices), val_fraction * len(indices)]
    label_rank = {label: rng.random() for label in sorted(images_with)}

    unassigned = {label: len(members) for label, members in images_with.items()}
    while len(part_of) < len(indices):
        # The class with the fewest unassigned images goes next (seeded order among equals).
        label = min((name for name, n in unassigned.items() if n),
                    key=lambda name: (unassigned[name], label_rank[name]))
        for i in sorted(images_with[label], key=priority.get):
            if i in part_of:
                continue
            part = max((TRAIN, VAL),
                       key=lambda p: (wanted[label][p], wanted_total[p], rng.random()))
            part_of[i] = part
            wanted_total[part] -= 1
            for other in labels_of[i]:
                wanted[other][part] -= 1
                unassigned[other] -= 1
    _repair(labels_of, images_with, part_of, priority)
    return part_of


def _repair(labels_of, images_with, part_of, priority):
    """Move images so that each class with >= 2 images is in both parts, where that is possible."""
    def count(label, part):
        return sum(part_of[i] == part for i in images_with[label])

    def fix(label):
        for target in (TRAIN, VAL):
            source = 1 - target
            if count(label, target) or count(label, source) < 2:
                continue
            # Only an image whose every class stays present in the source part may move, so a move
            # never undoes an earlier one. Images with the fewest classes move first.
            movable = [i for i in images_with[label] if part_of[i] == source and all(
                count(other, source) >= 2 or len(images_with[other]) < 2 for other in labels_of[i])]
            if movable:
                part_of[min(movable, key=lambda i: (len(labels_of[i]), priority[i]))] = target
                return True
        return False

    # A move adds images to the target part, which can make another class movable: repeat until
    # nothing changes (each move fixes one class for good, so this ends). Rare classes first.
    order = sorted((name for name, members in images_with.items() if len(members) >= 2),
                   key=lambda name: (len(images_with[name]), name))
    while any([fix(label) for label in order]):
        pass


def split_records(records, val_fraction=0.2, seed=0, classes=None):
    """Split annotation records into ``(train_records, val_records)``.

    Multi-label stratified over ``classes`` (``None``: every class that occurs), reproducible for a
    given ``seed``. Every class with at least 2 images ends up in both parts when some assignment
    allows it; images with none of the classes are split in the ``val_fraction`` proportion. Every
    record lands in exactly one part, and both parts keep the input order. Records are returned as
    the same objects, not copies.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}')
    records = list(records)
    class_set = None if classes is None else set(classes)
    labels_of = [_image_classes(r, class_set) for r in records]
    rng = random.Random(seed)

    positives = [i for i, labels in enumerate(labels_of) if labels]
    negatives = [i for i, labels in enumerate(labels_of) if not labels]
    part_of = _stratify(labels_of, positives, val_fraction, rng)
    val_negatives = set(rng.sample(negatives, round(val_fraction * len(negatives))))
    part_of.update({i: VAL if i in val_negatives else TRAIN for i in negatives})

    train = [r for i, r in enumerate(records) if part_of[i] == TRAIN]
    val = [r for i, r in enumerate(records) if part_of[i] == VAL]
    return train, val
