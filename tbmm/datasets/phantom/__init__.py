"""Synthetic "phantom" chest X-rays with boxed lesions of the ChestX-Det classes.

The phantom data set stands in for the real images (not shipped with the repository) in the demo
and in tests: a small detector trained on it for minutes on a CPU must learn something, so every
class has its own distinct appearance, while the box sizes, box counts and class mix follow the
real ChestX-Det training annotations (:data:`REAL_BOX_STATS`).

Layers, from high to low level (one module each):

* :func:`make_phantom_dataset` (:mod:`.writer`) writes the real data set's layout
  (``annotation/{train,test}.json`` and ``{train,test}_data/*.png``).
* :func:`sample_phantom_image` (:mod:`.image`) makes one image with a given list of lesion classes.
* :func:`sample_thorax` (:mod:`.anatomy`), :func:`sample_lesions` (:mod:`.lesions`) and
  :func:`render_phantom_image` split that into anatomy, lesion placement and drawing
  (:mod:`.lesion_appearance`), so a test can draw the same image with and without a lesion.
* :mod:`.box_stats`: the real data's box sizes, class mix and lesion counts.
* :mod:`.recipes`: named data set recipes (the demo's mix) and writing one only once.

Boxes are tightened around what was actually drawn, so a box never contains empty margins.
"""
from tbmm.datasets.phantom.anatomy import Thorax, sample_thorax
from tbmm.datasets.phantom.box_stats import (
                                             LESIONS_PER_IMAGE_PROBS,
                                             MULTILABEL_PAIR,
                                             REAL_BOX_STATS,
                                             REFERENCE_IMAGE_SIZE,
                                             SIZE_QUANTILE_LEVELS,
                                             BoxSizeStats,
                                             LesionClasses,
                                             class_probabilities,
                                             sample_box_size,
)
from tbmm.datasets.phantom.image import PhantomImage, render_phantom_image, sample_phantom_image
from tbmm.datasets.phantom.lesions import LesionSpec, sample_lesions
from tbmm.datasets.phantom.recipes import DEMO_PHANTOM_OPTIONS, ensure_phantom_dataset
from tbmm.datasets.phantom.writer import (
                                             PHANTOM_PARAMS_FILE,
                                             PhantomDataset,
                                             PhantomFolderError,
                                             make_phantom_dataset,
                                             plan_split,
)

__all__ = ['DEMO_PHANTOM_OPTIONS', 'ensure_phantom_dataset', 'BoxSizeStats',
           'LESIONS_PER_IMAGE_PROBS', 'LesionClasses', 'LesionSpec',
           'MULTILABEL_PAIR', 'PHANTOM_PARAMS_FILE', 'PhantomDataset', 'PhantomFolderError',
           'PhantomImage', 'REAL_BOX_STATS', 'REFERENCE_IMAGE_SIZE', 'SIZE_QUANTILE_LEVELS',
           'Thorax', 'class_probabilities', 'make_phantom_dataset', 'plan_split',
           'render_phantom_image', 'sample_box_size', 'sample_lesions', 'sample_phantom_image',
           'sample_thorax']
