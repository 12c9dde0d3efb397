"""Named phantom data set recipes, and writing one only where it is not already on disk."""
import json
import os.path as osp

from tbmm.datasets.phantom.writer import PHANTOM_PARAMS_FILE, make_phantom_dataset

#: The demo's phantom set: box sizes as in the real data, but every class equally often and a few
#: more lesions per image than real X-rays, so that a detector trained from scratch on 2 CPU cores
#: for ~10 minutes sees each class often enough to learn it.
DEMO_PHANTOM_OPTIONS = dict(
    negative_fraction=0.15,
    min_class_fraction=1 / 9,
    lesions_per_image={2: 0.25, 3: 0.35, 4: 0.25, 5: 0.15})


def ensure_phantom_dataset(data_root, num_train, num_test, image_size, seed,
                           options=DEMO_PHANTOM_OPTIONS, say=print):
    """Generate the phantom data set (``options``: a recipe such as :data:`DEMO_PHANTOM_OPTIONS`)
    unless one with the same parameters is already in ``data_root``; ``say`` reports which."""
    params = dict(num_train=num_train, num_test=num_test, image_size=image_size, seed=seed,
                  **options)
    stamp = osp.join(data_root, PHANTOM_PARAMS_FILE)
    if osp.isfile(stamp):
        with open(stamp) as f:
            written = json.load(f)
        # The file holds every argument; the ones not given here are make_phantom_dataset's
        # defaults either way.
        if {key: written.get(key) for key in params} == json.loads(json.dumps(params)):
            say(f'phantom data set already in {data_root} ({num_train} train / {num_test} test)')
            return
    say(f'writing phantom data set to {data_root} ({num_train} train / {num_test} test, '
         f'{image_size}x{image_size})')
    make_phantom_dataset(data_root, **params)
