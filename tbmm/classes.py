"""Class lists of the ChestX-Det family, in the order the model's labels use."""

#: The source report's 9 classes (default).
CHESTXDET_9_CLASSES = (
    'Consolidation', 'Fibrosis', 'Effusion', 'Nodule', 'Mass', 'Emphysema',
    'Calcification', 'Atelectasis', 'Fracture')

#: Public ChestX-Det10: the 9 classes plus Pneumothorax.
CHESTXDET10_CLASSES = CHESTXDET_9_CLASSES + ('Pneumothorax', )

#: ChestX-Det (relabelled superset, 13 classes), alphabetical as its authors list them.
CHESTXDET13_CLASSES = (
    'Atelectasis', 'Calcification', 'Cardiomegaly', 'Consolidation',
    'Diffuse Nodule', 'Effusion', 'Emphysema', 'Fibrosis', 'Fracture', 'Mass',
    'Nodule', 'Pleural Thickening', 'Pneumothorax')

DEFAULT_CLASSES = CHESTXDET_9_CLASSES


def parse_class_list(text):
    """Parse ``"A,B,C"`` (or a known preset name) into a tuple of class names."""
    presets = {
        'chestxdet9': CHESTXDET_9_CLASSES,
        'chestxdet10': CHESTXDET10_CLASSES,
        'chestxdet13': CHESTXDET13_CLASSES,
    }
    if text is None:
        return DEFAULT_CLASSES
    if text.lower() in presets:
        return presets[text.lower()]
    names = tuple(n.strip() for n in text.split(',') if n.strip())
    if not names:
        raise ValueError(f'empty class list: {text!r}')
    if len(set(names)) != len(names):
        raise ValueError(f'duplicate class names in {text!r}')
    return names
