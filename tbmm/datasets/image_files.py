"""Which image files a folder, file or glob pattern names, the overlay file name of each, and the
list of those a run could not read.

Light (standard library only): the torch-based ``tools/infer.py`` driver
(:mod:`tbmm.apis.folder_inference`) and the torch-free ONNX runtime (:mod:`tbmm.deploy`) share it.
"""
import glob
import os
import os.path as osp
import sys
from collections import Counter

from tbmm.datasets.image_io import IMAGE_SUFFIXES

__all__ = ['find_images', 'overlay_names']


def _has_glob_magic(text):
    return any(c in text for c in '*?[')


def _is_image_file(path):
    return path.lower().endswith(IMAGE_SUFFIXES)


def _name_relative_to(path, base):
    return osp.relpath(path, base or '.').replace(os.sep, '/')


def find_images(source, exclude_dirs=()):
    """The image files ``source`` names, as ``(path, file_name)`` sorted by ``file_name``.

    * a folder: every file with an ``IMAGE_SUFFIXES`` suffix (PNG, JPEG, BMP, TIFF, DICOM) below
      it (recursively), named by its path relative to the folder;
    * a file: that file, whatever its suffix, named by its base name;
    * a glob pattern (``'scans/**/*.dcm'``): the matching image files, named relative to the
      pattern's leading folder without wildcards.

    Returns ``(images, n_skipped)``, ``n_skipped`` counting files with other suffixes. Folders in
    ``exclude_dirs`` (e.g. the output folder inside the input one) are not searched.
    """
    source = os.fspath(source)
    excluded = {osp.realpath(d) for d in exclude_dirs}
    if osp.isfile(source):
        return [(source, osp.basename(source))], 0
    if osp.isdir(source):
        candidates, base = [], source
        for root, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if osp.realpath(osp.join(root, d)) not in excluded)
            candidates.extend(osp.join(root, f) for f in files)
    elif _has_glob_magic(source):
        parts = source.replace(os.sep, '/').split('/')
        fixed = []
        for part in parts:
            if _has_glob_magic(part):
                break
            fixed.append(part)
        base = '/'.join(fixed) if fixed != [''] else '/'
        candidates = [p for p in glob.glob(source, recursive=True) if osp.isfile(p)
                      and not any(osp.realpath(p).startswith(d + os.sep) for d in excluded)]
    else:
        raise FileNotFoundError(f'{source}: no such file or folder')
    images = sorted(((p, _name_relative_to(p, base)) for p in candidates if _is_image_file(p)),
                    key=lambda item: item[1])
    return images, len(candidates) - len(images)


def overlay_names(file_names):
    """Overlay PNG name per file name: ``a/b.dcm -> a/b.png``; ``b.png`` and ``b.dcm`` side by side
    become ``b_png.png`` and ``b_dcm.png`` so neither overwrites the other."""
    stems = [osp.splitext(name) for name in file_names]
    counts = Counter(stem.lower() for stem, _ in stems)
    return {name: (f'{stem}_{suffix.lstrip(".")}.png' if counts[stem.lower()] > 1 and suffix
                   else f'{stem}.png')
            for name, (stem, suffix) in zip(file_names, stems)}


#: The list of images a folder run could not read, beside its predictions.json.
UNREADABLE_LIST = 'unreadable.txt'


def write_unreadable_list(out_dir, failures):
    """Write ``out_dir/unreadable.txt`` (``name<TAB>reason`` per line, sorted) for the
    ``(file_name, reason)`` pairs a run could not read, or remove one left over from an earlier
    run on the same folder when there are none; return its path."""
    path = osp.join(out_dir, UNREADABLE_LIST)
    if failures:
        os.makedirs(out_dir, exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.writelines(f'{name}\t{reason}\n' for name, reason in sorted(failures))
    elif osp.isfile(path):
        os.remove(path)
    return path


def report_unreadable(failures, out_dir, limit=10, file=None):
    """Print how many files could not be read and the first ``limit`` of them (to stderr)."""
    file = file or sys.stderr
    print(f'{len(failures)} file(s) could not be read '
          f'(all listed in {osp.join(out_dir, UNREADABLE_LIST)}):', file=file)
    for name, reason in failures[:limit]:
        print(f'  {name}: {reason}', file=file)
    if len(failures) > limit:
        print(f'  ... and {len(failures) - limit} more', file=file)
