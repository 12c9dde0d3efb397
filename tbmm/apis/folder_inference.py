"""The folder/file/glob driver behind ``tools/infer.py``: images in, predictions and overlays out.

* :func:`find_images` lists the images a folder, file or glob pattern names.
* :func:`run_inference` predicts them (one checkpoint, or several fused per image by
  :mod:`tbmm.apis.ensemble`; optional flip TTA) and writes the predictions JSON, one overlay per
  image and the list of unreadable files.
"""
import os
import os.path as osp
from collections import namedtuple

from tbmm.apis.inference import (
    build_inference_pipeline,
    build_tta_model,
    iter_predictions,
    sample_to_record,
)
from tbmm.apis.precision import asks_for_inference_amp, inference_autocast_dtype
from tbmm.datasets.image_files import find_images, overlay_names, write_unreadable_list
from tbmm.datasets.image_io import ImageReadError
from tbmm.deploy.records import add_image_fields

__all__ = ['InferenceSummary', 'find_images', 'overlay_names', 'run_inference']


InferenceSummary = namedtuple('InferenceSummary', [
    'n_images', 'n_predicted', 'n_abnormal', 'failures', 'n_skipped', 'predictions_path',
    'overlay_dir', 'precision', 'precision_notice', 'dicom'], defaults=[None])
InferenceSummary.__doc__ = """What :func:`run_inference` did: images found and predicted, images
with a finding at or above the score threshold, ``failures`` as ``(file_name, reason)``, files
skipped for their suffix, where the outputs are, the precision the model ran in (``'float32'``,
``'float16 autocast'``, ``'bfloat16 autocast'``) and why mixed precision was off where it was
asked for (else None); ``dicom``: the :class:`~tbmm.dicom.DicomResultWriter` that wrote the DICOM
results (its ``written`` and ``failures``), None without ``dicom_out``."""


def _failure_reason(error):
    if isinstance(error, ImageReadError):
        return error.reason
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def run_inference(config, checkpoint, source, out_dir, score_thr=0.3, device='cpu',
                  batch_size=1, tta=False, cfg_options=None, progress=True, amp=None,
                  thresholds=None, dicom_out=None):
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
    ``thresholds``: per-class operating thresholds, a ``thresholds.json`` path or
    ``{class: threshold}`` for every class of the model: each box gets an ``above_threshold``
    flag (``score >= its class's threshold``), the overlays draw those boxes and an image with
    one counts as a finding; ``score_thr`` is then unused.
    ``dicom_out``: a folder that gets a Comprehensive SR and a GSPS of each DICOM input's findings
    (:mod:`tbmm.dicom`; the boxes the overlays draw).

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
    images, n_skipped = find_images(
        source, exclude_dirs=[out_dir, overlay_dir] + ([dicom_out] if dicom_out else []))
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
    if thresholds is not None and not isinstance(thresholds, dict):
        from tbmm.evaluation.functional.thresholds import load_thresholds
        thresholds = load_thresholds(thresholds, classes=classes)
    dicom_writer = None
    if dicom_out is not None:
        from tbmm.dicom import DicomResultWriter, algorithm_info
        dicom_writer = DicomResultWriter(dicom_out, algorithm_info(config, checkpoint), classes,
                                         score_thr=score_thr, thresholds=thresholds)
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
            finding = add_image_fields(record, thresholds)
            n_abnormal += (record['abnormal_score'] >= score_thr) if finding is None else finding
            records.append(record)
            shown = thresholds if thresholds is not None else score_thr
            overlay = draw_boxes(result.image, record, classes, score_thr=shown,
                                 title=file_name)
            save_image(osp.join(overlay_dir, overlays[file_name]), overlay)
            if dicom_writer is not None:
                dicom_writer.write(result.path, record)

    failures.sort()
    write_unreadable_list(out_dir, failures)
    if not records:
        raise ImageReadError(source, f'none of the {len(images)} image file(s) could be read '
                             f'(first: {failures[0][0]}: {failures[0][1]})')
    records.sort(key=lambda r: r['file_name'])
    predictions_path = osp.join(out_dir, 'predictions.json')
    write_annotations(predictions_path, records)
    return InferenceSummary(len(images), len(records), n_abnormal, failures, n_skipped,
                            predictions_path, overlay_dir, precision, precision_notice,
                            dicom_writer)
