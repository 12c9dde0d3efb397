"""One phantom radiograph: anatomy, lesions and detector noise rendered together."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from tbmm.datasets.phantom.anatomy import Thorax, render_background, sample_thorax
from tbmm.datasets.phantom.box_stats import LesionClasses
from tbmm.datasets.phantom.lesion_appearance import draw_lesion
from tbmm.datasets.phantom.lesions import LesionSpec, sample_lesions

__all__ = ['PhantomImage', 'render_phantom_image', 'sample_phantom_image']


@dataclass
class PhantomImage:
    """One rendered image (uint8, HxW) with its annotation (boxes as int [x1, y1, x2, y2])."""
    image: np.ndarray
    syms: List[str] = field(default_factory=list)
    boxes: List[List[int]] = field(default_factory=list)

    def to_record(self, file_name: str) -> dict:
        """The image's annotation record (the annotation file format) under ``file_name``."""
        return {'file_name': file_name, 'syms': list(self.syms),
                'boxes': [list(b) for b in self.boxes]}


def render_phantom_image(rng: np.random.Generator, image_size: int,
                         lesions: Sequence[LesionSpec] = (),
                         thorax: Optional[Thorax] = None) -> PhantomImage:
    """Draw a thorax (sampled from ``rng`` unless given), the lesions, and detector noise.

    Background, lesions and noise use separate streams split off ``rng`` first, so the same
    ``rng`` state with and without a lesion gives identical pixels outside the lesion.
    """
    background_rng, lesion_rng, noise_rng = (np.random.default_rng(s) for s in
                                             rng.integers(0, 2**63, size=3))
    if thorax is None:
        thorax = sample_thorax(background_rng, image_size)
    elif thorax.image_size != image_size:
        raise ValueError(f'thorax was sampled for {thorax.image_size} px, not {image_size}')
    image = render_background(background_rng, thorax)
    syms, boxes = [], []
    for spec in lesions:
        box = draw_lesion(lesion_rng, image, spec)
        if box is None:
            continue
        for name in spec.syms:
            syms.append(name)
            boxes.append(list(box))
    noise_level = noise_rng.uniform(0.012, 0.022)
    image += noise_level * noise_rng.standard_normal(image.shape, dtype=np.float32)
    pixels = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return PhantomImage(image=pixels, syms=syms, boxes=boxes)


def sample_phantom_image(rng: np.random.Generator, image_size: int,
                         lesion_classes: Sequence[LesionClasses] = ()) -> PhantomImage:
    """One image: a random thorax with these lesions (empty → a negative image)."""
    thorax = sample_thorax(rng, image_size)
    lesions = sample_lesions(rng, thorax, lesion_classes)
    return render_phantom_image(rng, image_size, lesions, thorax)
