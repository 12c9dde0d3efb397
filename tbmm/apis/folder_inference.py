"""The folder/file/glob driver behind ``tools/infer.py``: images in, predictions and overlays out.

* :func:`find_images` lists the images a folder, file or glob pattern names.
* :func:`run_inference` predicts them (one checkpoint, or several fused per image by
  :mod:`tbmm.apis.ensemble`; optional flip TTA) and writes the predictions JSON, one overlay per
  image and the list of unreadable files.
"""
import glob
import os
import os.path as osp
from collections import Counter, namedtuple

from tbmm.apis.inference import (
    build_inference_pipeline,
    build_tta_model,
    iter_predictions,
    sample_to_record,
)
from tbmm.apis.precision import asks_for_inference_amp, inference_autocast_dtype
from tbmm.datasets.image_io import IMAGE_SUFFIXES, ImageReadError

__all__ = ['InferenceSummary', 'find_images', 'overlay_names', 'run_inference']


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


InferenceSummary = namedtuple('InferenceSummary', [
    'n_images', 'n_predicted', 'n_abnormal', 'failures', 'n_skipped', 'predictions_path',
    'overlay_dir', 'precision', 'precision_notice'])
InferenceSummary.__doc__ = """What :func:`run_inference` did: images found and predicted, images
with a finding at or above the score threshold, ``failures`` as ``(file_name, reason)``, files
skipped for their suffix, where the outputs are, the precision the model ran in (``'float32'``,
``'float16 autocast'``, ``'bfloat16 autocast'``) and why mixed precision was off where it was
asked for (else None)."""


def _failure_reason(error):
    if isinstance(error, ImageReadError):
        return error.reason
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def run_inference(config, checkpoint, source, out_dir, score_thr=0.3, device='cpu',
                  batch_size=1, tta=False, cfg_options=None, progress=True, amp=None):
    """Predict every image of ``source`` (see :func:`find_images`) and write the results.

    ``checkpoint``: one path, or several of the same config (a fold ensemble) whose detections are
    fused per image by weighted boxes fusion, class by class (:mod:`tbmm.apis.ensemble`; with
    ``tta``, every model's plain and flipped views are fused together).

    Writes ``out_dir/predictions.json`` (annotation format plus ``scores`` per box and an
    image-level ``abnormal_score``: the highest box score, 0 without boxes; every detection the
    model returns is kept, so the file can be evaluated with ``tools/evaluate.py``) and
    ``out_dir/overlays/<file_name>.png`` (boxes scoring at least ``score_thr``). Files that cannot
    be read are listed in ``out_dir/unreadable.txt`` and the summary; the others still run.
    ``amp`` True/False runs the model in mixed precision or float32; None: as the config's
    ``test_cfg.fp16`` says (:mod:`tbmm.apis.precision`).

    Raises:
        FileNotFoundError: ``source`` names no image file.
        ImageReadError: not a single image could be read.
    """
    from tqdm import tqdm

    from tbmm.datasets.annotations import write_annotations
    from tbmm.visualization import draw_boxes, save_image

    out_dir = os.fspath(out_dir)
    overlay_dir = osp.join(out_dir, 'overlays')
    # Both named: with the output folder inside (or equal to) the input, an earlier run's overlays
    # must not be read as new images.
    images, n_skipped = find_images(source, exclude_dirs=[out_dir, overlay_dir])
    if not images:
        others = f' ({n_skipped} file(s) with other suffixes)' if n_skipped else ''
        raise FileNotFoundError(f'{source}: no PNG, JPEG, BMP, TIFF or DICOM files found{others}')
    from tbmm.apis.ensemble import WBFEnsembleModel, init_ensemble_model
    model = init_ensemble_model(config, checkpoint, device=device, cfg_options=cfg_options)
    wanted = asks_for_inference_amp(model.cfg) if amp is None else amp
    autocast_dtype, precision_notice = inference_autocast_dtype(device) if wanted else (None, None)
    precision = ('float32' if autocast_dtype is None
                 else f"{str(autocast_dtype).removeprefix('torch.')} autocast")
    classes = tuple(model.dataset_meta['classes'])
    pipeline = build_inference_pipeline(model.cfg, tta=tta)
    if tta and not isinstance(model, WBFEnsembleModel):  # an ensemble fuses the views itself
        model = build_tta_model(model)

    names = dict(images)
    overlays = overlay_names([name for _, name in images])
    records, failures, n_abnormal = [], [], 0
    with tqdm(total=len(images), unit='img', desc='infer', disable=not progress) as bar:
        for result in iter_predictions(model, (path for path, _ in images), batch_size, pipeline,
                                       keep_images=True, autocast_dtype=autocast_dtype):
            file_name = names[result.path]
            bar.update(1)
            if result.error is not None:
                failures.append((file_name, _failure_reason(result.error)))
                continue
            record = sample_to_record(file_name, result.sample, classes)
            record['abnormal_score'] = max(record['scores'], default=0.0)
            n_abnormal += record['abnormal_score'] >= score_thr
            records.append(record)
            overlay = draw_boxes(result.image, record, classes, score_thr=score_thr,
                                 title=file_name)
            save_image(osp.join(overlay_dir, overlays[file_name]), overlay)

    failures.sort()
    unreadable_path = osp.join(out_dir, 'unreadable.txt')
    if failures:
        os.makedirs(out_dir, exist_ok=True)
        with open(unreadable_path, 'w', encoding='utf-8') as f:
            f.writelines(f'{name}\t{reason}\n' for name, reason in failures)
    elif osp.isfile(unreadable_path):
        os.remove(unreadable_path)  # left over from an earlier run on the same folder
    if not records:
        raise ImageReadError(source, f'none of the {len(images)} image file(s) could be read '
                             f'(first: {failures[0][0]}: {failures[0][1]})')
    records.sort(key=lambda r: r['file_name'])
    predictions_path = osp.join(out_dir, 'predictions.json')
    write_annotations(predictions_path, records)
    return InferenceSummary(len(images), len(records), n_abnormal, failures, n_skipped,
                            predictions_path, overlay_dir, precision, precision_notice)
