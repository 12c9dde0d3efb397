"""Reproducible multi-label stratified train/val split of ChestX-Det annotation records.

Images with findings are assigned by iterative stratification (Sechidis, Tsoumakas & Vlahavas,
"On the Stratification of Multi-Label Data", ECML PKDD 2011): the class with the fewest unassigned
images goes first, and each of its images joins the part that still wants that class most. A repair
pass then makes every class with at least 2 images appear in both parts whenever some assignment
allows it (with several classes per image it can be impossible, e.g. {A,B}, {B,C}, {A,C}). Images
without findings (of the stratified classes) are split separately in the same proportion.

:func:`grouped_parts` and :func:`kfold_records` do the same at the level of groups (patients, found
in the file names by a regular expression), for cross-validation folds and a held-out test part:
a patient's images never end up in two parts.
"""
import posixpath
import random
import re
from collections import Counter

from tbmm.errors import UserInputError

__all__ = ['split_records', 'count_images_per_class', 'group_ids', 'grouped_parts',
           'kfold_records', 'GroupPatternError']

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


# --- Patient-grouped parts (k-fold cross-validation, a held-out test part) ---------------------

class GroupPatternError(UserInputError):
    """A file name that the patient-id pattern does not match (the tools print it as one line)."""


def group_ids(file_names, group_regex=None):
    r"""The group (patient) of each file name: the regex's one capture group, searched in the base
    name, e.g. ``r'^(\d{8})_'`` for NIH names (``00000001_000.png`` -> ``00000001``).

    ``group_regex=None``: every image its own group (the file names). A name the regex does not
    match is an error naming it (and how many more).
    """
    if group_regex is None:
        return list(file_names)
    pattern = re.compile(group_regex)
    if pattern.groups != 1:
        raise GroupPatternError(
            f'group regex {group_regex!r} must have exactly one capture group (the patient id), '
            f'it has {pattern.groups}: e.g. ^(\\d{{8}})_')
    groups, unmatched = [], []
    for name in file_names:
        match = pattern.search(posixpath.basename(name))
        if match is None or not match.group(1):
            unmatched.append(name)
        else:
            groups.append(match.group(1))
    if unmatched:
        more = f' (and {len(unmatched) - 1} more)' if len(unmatched) > 1 else ''
        raise GroupPatternError(f'group regex {group_regex!r} does not match file name '
                                f'{unmatched[0]!r}{more}: cannot tell its patient')
    return groups


def _assign_groups(group_labels, group_sizes, fractions, rng):
    """Assign groups to parts, iterative stratification (Sechidis et al. 2011) at group level.

    ``group_labels[g]`` is a ``Counter`` of images per class in group ``g``; parts want
    ``fractions`` of every class's images and of all images. The class with the fewest unassigned
    groups goes first; each of its groups joins the part that still wants that class most (ties:
    the part that wants the most images, then seeded chance). Groups without any class go last,
    each to the part that still wants the most images, which spreads the negatives.
    """
    n_parts = len(fractions)
    total_per_class = Counter()
    for labels in group_labels:
        total_per_class.update(labels)
    wanted = {label: [f * n for f in fractions] for label, n in total_per_class.items()}
    wanted_total = [f * sum(group_sizes) for f in fractions]
    priority = [rng.random() for _ in group_labels]
    label_rank = {label: rng.random() for label in sorted(total_per_class)}
    groups_with = {}
    for g, labels in enumerate(group_labels):
        for label in labels:
            groups_with.setdefault(label, []).append(g)
    unassigned = {label: len(members) for label, members in groups_with.items()}
    part_of = {}

    def assign(g, part):
        part_of[g] = part
        wanted_total[part] -= group_sizes[g]
        for label, count in group_labels[g].items():
            wanted[label][part] -= count
            unassigned[label] -= 1

    while any(unassigned.values()):
        label = min((name for name, n in unassigned.items() if n),
                    key=lambda name: (unassigned[name], label_rank[name]))
        for g in sorted(groups_with[label], key=priority.__getitem__):
            if g not in part_of:
                assign(g, max(range(n_parts),
                              key=lambda p: (wanted[label][p], wanted_total[p], rng.random())))
    negatives = sorted((g for g, labels in enumerate(group_labels) if not labels),
                       key=priority.__getitem__)
    for g in negatives:
        assign(g, max(range(n_parts), key=lambda p: (wanted_total[p], rng.random())))
    return [part_of[g] for g in range(len(group_labels))]


def grouped_parts(records, fractions, seed=0, classes=None, group_regex=None):
    """Split records into ``len(fractions)`` parts of about those shares, never splitting a group.

    Images are grouped by :func:`group_ids` (a patient's images stay together), classes are
    balanced across parts by multi-label iterative stratification over ``classes`` (``None``:
    every class that occurs), images without any of them are spread by size. Reproducible for a
    given ``seed``; each record lands in exactly one part, parts keep the input order.
    """
    if len(fractions) < 2 or any(f <= 0 for f in fractions):
        raise ValueError(f'need at least two parts with positive shares, got {list(fractions)}')
    total = sum(fractions)
    fractions = [f / total for f in fractions]
    records = list(records)
    class_set = None if classes is None else set(classes)
    ids = group_ids([r['file_name'] for r in records], group_regex)
    index_of, members = {}, []
    for i, group in enumerate(ids):
        if group not in index_of:
            index_of[group] = len(members)
            members.append([])
        members[index_of[group]].append(i)
    group_labels = [Counter(label for i in m for label in _image_classes(records[i], class_set))
                    for m in members]
    part_of_group = _assign_groups(group_labels, [len(m) for m in members], fractions,
                                   random.Random(seed))
    part_of = {i: part_of_group[g] for g, m in enumerate(members) for i in m}
    return [[r for i, r in enumerate(records) if part_of[i] == p] for p in range(len(fractions))]


def kfold_records(records, folds=5, seed=0, classes=None, group_regex=None):
    """K-fold cross-validation parts: a list of ``(train_records, val_records)``, one per fold.

    Every record is in exactly one fold's val part; no group (patient) is in two folds; classes and
    negatives are balanced across folds (:func:`grouped_parts`).
    """
    if folds < 2:
        raise ValueError(f'need at least 2 folds, got {folds}')
    records = list(records)
    parts = grouped_parts(records, [1] * folds, seed, classes, group_regex)
    if not all(parts):
        n_groups = len(set(group_ids([r['file_name'] for r in records], group_regex)))
        raise ValueError(f'{len(records)} images in {n_groups} groups cannot fill {folds} folds')
    chosen = [set(map(id, part)) for part in parts]
    return [([r for r in records if id(r) not in chosen[k]], parts[k]) for k in range(folds)]
