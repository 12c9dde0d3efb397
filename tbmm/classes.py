"""Class lists of the ChestX-Det family (and NIH ChestX-ray14's boxes), in the order the model's
labels use, and the colour each class is drawn in."""
import colorsys
import zlib

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

#: The 8 classes of NIH ChestX-ray14's official boxes (``BBox_List_2017.csv``), alphabetical, spelt
#: as in that file ("Infiltrate", where NIH's image labels say "Infiltration").
NIH8_CLASSES = (
    'Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltrate', 'Mass', 'Nodule', 'Pneumonia',
    'Pneumothorax')

DEFAULT_CLASSES = CHESTXDET_9_CLASSES


CLASS_PRESETS = {
    'chestxdet9': CHESTXDET_9_CLASSES,
    'chestxdet10': CHESTXDET10_CLASSES,
    'chestxdet13': CHESTXDET13_CLASSES,
    'nih8': NIH8_CLASSES,
}

#: Prefixes of the preset families: a single name starting with one of them that is no preset is
#: taken for a misspelt preset.
_PRESET_PREFIXES = ('chestxdet', 'nih')


def covering_preset(names):
    """The smallest preset of :data:`CLASS_PRESETS` holding every class in ``names``, or None.

    The ChestX-Det presets come first: classes both families have (Nodule, Mass, Effusion, ...)
    get the ChestX-Det preset the configs train, ``nih8`` only names that need NIH's own classes
    (Infiltrate, Pneumonia).
    """
    names = set(names)
    fitting = [(preset.startswith('nih'), len(classes), preset)
               for preset, classes in CLASS_PRESETS.items() if names <= set(classes)]
    return min(fitting)[2] if fitting else None


def parse_class_list(text):
    """Parse ``"A,B,C"`` (or a preset name of :data:`CLASS_PRESETS`) into a tuple of class names.

    A single name starting with ``chestxdet`` or ``nih`` that is no preset is refused as a misspelt
    preset (which would otherwise be a one-class list matching nothing); ``"name,"`` is that one
    class.
    """
    if text is None:
        return DEFAULT_CLASSES
    if text.lower() in CLASS_PRESETS:
        return CLASS_PRESETS[text.lower()]
    if ',' not in text and text.strip().lower().startswith(_PRESET_PREFIXES):
        raise ValueError(f'unknown class preset {text!r}: the presets are '
                         f'{", ".join(CLASS_PRESETS)} (for a class of that name write "{text},")')
    names = tuple(n.strip() for n in text.split(',') if n.strip())
    if not names:
        raise ValueError(f'empty class list: {text!r}')
    if len(set(names)) != len(names):
        raise ValueError(f'duplicate class names in {text!r}')
    return names


#: Saturated colours (RGB) that stay visible on gray radiographs, most distinct first
#: (after Sasha Trubetskoy's list of 20 distinct colours, without the grays and pale tones).
PALETTE = (
    (230, 25, 75),    # red
    (60, 180, 75),    # green
    (255, 225, 25),   # yellow
    (0, 130, 200),    # blue
    (245, 130, 48),   # orange
    (145, 30, 180),   # purple
    (70, 240, 240),   # cyan
    (240, 50, 230),   # magenta
    (210, 245, 60),   # lime
    (250, 190, 212),  # pink
    (0, 128, 128),    # teal
    (220, 190, 255),  # lavender
    (170, 110, 40),   # brown
    (170, 255, 195),  # mint
    (128, 128, 0),    # olive
    (255, 215, 180),  # apricot
    (128, 0, 0),      # maroon
    (0, 0, 128),      # navy
)


def class_color(name, classes=DEFAULT_CLASSES):
    """RGB colour of class ``name``: fixed by its position in ``classes``.

    Names outside ``classes`` get a colour derived from the name itself, stable across calls.
    """
    classes = tuple(classes)
    if name in classes:
        return PALETTE[classes.index(name) % len(PALETTE)]
    hue = (zlib.crc32(str(name).encode('utf-8')) % 360) / 360.0
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, 0.9, 1.0))
