"""Run an exported tbmm ONNX model with onnxruntime, without torch, mmcv, mmdet or mmengine.

:class:`OnnxDetector` loads the model and its ``tbmm.*`` metadata (:mod:`.metadata`) and turns
gray ``uint8`` images into detections: :mod:`.preprocess` (resize, normalise, pad as the config's
test pipeline), the network in onnxruntime, :mod:`.postprocess` (anchors, box decoding,
class-wise NMS). :func:`run_folder` is the driver of ``python -m tbmm.deploy``: the same image
reading (:func:`tbmm.datasets.image_io.read_xray`), file listing, ``predictions.json``, overlays
and ``unreadable.txt`` as ``tools/infer.py``.
"""
import os
import os.path as osp
from collections import namedtuple

import numpy as np

from tbmm.datasets.annotations import write_annotations
from tbmm.datasets.image_files import find_images, overlay_names, write_unreadable_list
from tbmm.datasets.image_io import ImageReadError, read_xray
from tbmm.deploy.metadata import DeployModelError, parse_metadata
from tbmm.deploy.postprocess import AnchorGrid, detect_single_image
from tbmm.deploy.preprocess import pad_batch, prepare_image
from tbmm.deploy.records import add_image_fields, prediction_record
from tbmm.errors import MissingExtraError, UserInputError, error_line

DEFAULT_PROVIDERS = ('CPUExecutionProvider',)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingExtraError("running an ONNX model needs onnxruntime: pip install onnxruntime "
                                "(or the 'tbmm[deploy]' extra; onnxruntime-gpu for CUDA)") from e
    return onnxruntime


def check_providers(providers):
    """``providers`` (names) if onnxruntime has them all, else a one-line
    :class:`UserInputError`."""
    available = _import_onnxruntime().get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        hint = (' (install onnxruntime-gpu and a matching CUDA for CUDAExecutionProvider)'
                if any('CUDA' in p for p in missing) else '')
        raise UserInputError(f'onnxruntime has no {", ".join(missing)}; available: '
                             f'{", ".join(available)}{hint}')
    return list(providers)


class OnnxDetector:
    """An exported tbmm model in an onnxruntime session.

    Args:
        model_path: the ``.onnx`` file (from ``tools/export.py``).
        providers: onnxruntime execution providers in order of preference (default CPU;
            ``('CUDAExecutionProvider', 'CPUExecutionProvider')`` for a GPU).
        intra_op_threads: onnxruntime's threads per operator (None: its default, all cores).

    Raises :class:`DeployModelError` (one line naming the file) for a missing file, a file that
    is not an ONNX model, or an ONNX model without tbmm metadata.
    """

    def __init__(self, model_path, providers=DEFAULT_PROVIDERS, intra_op_threads=None):
        ort = _import_onnxruntime()
        model_path = os.fspath(model_path)
        if not osp.isfile(model_path):
            raise DeployModelError(f'{model_path}: model file not found')
        providers = check_providers(providers)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            options.intra_op_num_threads = int(intra_op_threads)
        options.log_severity_level = 3  # errors only: the session's notes are not the user's
        try:
            self.session = ort.InferenceSession(model_path, options, providers=providers)
        except Exception as e:  # noqa: BLE001  (onnxruntime raises its own types: Fail, ...)
            raise DeployModelError(f'{model_path}: not a loadable ONNX model ({error_line(e)})') \
                from None
        self.path = model_path
        self.metadata = parse_metadata(self.session.get_modelmeta().custom_metadata_map,
                                       model_path)
        self.input_name = self.session.get_inputs()[0].name
        outputs = self.metadata.outputs
        self.output_names = list(outputs['cls_scores']) + list(outputs['bbox_preds'])
        have = {o.name for o in self.session.get_outputs()}
        absent = [name for name in self.output_names if name not in have]
        if absent:
            raise DeployModelError(f'{model_path}: the tbmm metadata names outputs the network '
                                   f'does not have ({", ".join(absent)})')
        self.anchor_grid = AnchorGrid(self.metadata.anchor_generator)

    @property
    def classes(self):
        return self.metadata.classes

    @property
    def precision(self):
        """``'float32'``, or ``'int8'`` for a model from ``tools/export.py --int8``."""
        from tbmm.deploy.quantize import model_precision
        return model_precision(self.session.get_modelmeta().custom_metadata_map)

    @property
    def providers(self):
        """The providers the session really uses (CUDA may fall back to CPU)."""
        return self.session.get_providers()

    def prepare(self, images):
        """Network input ``(N, C, H, W)`` and per image ``(resized shape, scale factor)`` of gray
        ``uint8`` images (``H x W``, or ``H x W x 3`` replicated)."""
        preprocess = self.metadata.preprocess
        prepared = [prepare_image(image, preprocess) for image in images]
        batch = pad_batch([p[0] for p in prepared], preprocess.get('pad_size_divisor', 1),
                          preprocess.get('pad_value', 0.0))
        return batch, [(p[1], p[2]) for p in prepared]

    def run_network(self, batch):
        """The raw per-level maps ``(cls_maps, box_maps)`` of an input batch."""
        maps = self.session.run(self.output_names, {self.input_name: batch})
        n_levels = len(self.metadata.outputs['cls_scores'])
        return maps[:n_levels], maps[n_levels:]

    def decode(self, cls_maps, box_maps, shapes):
        """Per image ``(boxes, scores, labels)`` from the maps of a batch (see :meth:`prepare`)."""
        results = []
        for i, (img_shape, scale_factor) in enumerate(shapes):
            results.append(detect_single_image(
                [m[i] for m in cls_maps], [m[i] for m in box_maps], self.anchor_grid,
                img_shape, scale_factor, self.metadata.bbox_coder, self.metadata.postprocess))
        return results

    def predict(self, images):
        """Per image ``(boxes (n, 4) in original pixels, scores (n,), labels (n,))``, highest
        score first, for gray ``uint8`` images of any sizes (one forward pass)."""
        batch, shapes = self.prepare(images)
        return self.decode(*self.run_network(batch), shapes)


DeploySummary = namedtuple('DeploySummary', [
    'n_images', 'n_predicted', 'n_abnormal', 'failures', 'n_skipped', 'predictions_path',
    'overlay_dir', 'providers', 'thresholds_source', 'dicom'], defaults=[None])
DeploySummary.__doc__ = """What :func:`run_folder` did: images found and predicted, images with a
finding (at or above ``score_thr``, or above their class threshold), ``failures`` as
``(file_name, reason)``, files skipped for their suffix, where the outputs are, the providers the
session used, where the thresholds came from (``'file'``, ``'model'`` or None), and the
:class:`~tbmm.dicom.DicomResultWriter` that wrote the DICOM results (None without ``dicom_out``)."""


def collect_images(sources, exclude_dirs=()):
    """The images of several sources (folders, files, globs; see
    :func:`tbmm.datasets.image_files.find_images`) as ``(images, missing, n_skipped)``.

    A source that does not exist is listed in ``missing`` as ``(source, reason)`` instead of
    stopping the others; a file named twice is read once.
    """
    images, missing, n_skipped, seen = [], [], 0, set()
    for source in sources:
        try:
            found, skipped = find_images(source, exclude_dirs=exclude_dirs)
        except FileNotFoundError:
            missing.append((os.fspath(source), 'no such file or folder'))
            continue
        n_skipped += skipped
        for path, name in found:
            if osp.realpath(path) not in seen:
                seen.add(osp.realpath(path))
                images.append((path, name))
    return images, missing, n_skipped


def _read_batches(images, batch_size):
    """Yield lists of ``(path, name, gray image or exception)``, ``batch_size`` readable ones each
    (unreadable ones go along with the batch they were met in)."""
    batch, n_readable = [], 0
    for path, name in images:
        try:
            batch.append((path, name, read_xray(path, channels=1)))
            n_readable += 1
        except (ImageReadError, MissingExtraError) as e:
            batch.append((path, name, e))
        if n_readable >= batch_size:
            yield batch
            batch, n_readable = [], 0
    if batch:
        yield batch


def _failure_reason(error):
    if isinstance(error, ImageReadError) and error.reason:
        return error.reason
    return error_line(error)


def run_folder(model, sources, out_dir, score_thr=0.3, batch_size=1, thresholds=None,
               progress=False, dicom_out=None):
    """Predict every image of ``sources`` with ``model`` and write the results, as
    ``tools/infer.py`` does.

    Args:
        model: an :class:`OnnxDetector`.
        sources: folders, files or glob patterns (one or several).
        out_dir: gets ``predictions.json`` (every detection the model returns, so it can be
            evaluated), ``overlays/<name>.png`` and, when some files cannot be read,
            ``unreadable.txt``.
        score_thr: lowest score drawn and counted as a finding, without ``thresholds``.
        batch_size: images per forward pass.
        thresholds: ``{class: threshold}`` for every class of the model, or None: the model's own
            (exported with ``--thresholds``) if it has them. With thresholds, each box gets an
            ``above_threshold`` flag and the overlays draw the boxes above their class's threshold.
        dicom_out: a folder that gets a Comprehensive SR and a GSPS of each DICOM input's findings
            (:mod:`tbmm.dicom`; the boxes the overlays draw), as ``tools/infer.py --dicom-out``.

    Raises:
        FileNotFoundError: no source names an image file.
        ImageReadError: not a single image could be read.
    """
    from tbmm.visualization.overlay import draw_boxes, save_image

    if batch_size < 1:
        raise ValueError(f'batch_size must be at least 1, got {batch_size}')
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    out_dir = os.fspath(out_dir)
    overlay_dir = osp.join(out_dir, 'overlays')
    thresholds_source = 'file' if thresholds is not None else None
    if thresholds is None and model.metadata.thresholds:
        thresholds = dict(model.metadata.thresholds['classes'])
        thresholds_source = 'model'
    images, missing, n_skipped = collect_images(
        sources, exclude_dirs=[out_dir, overlay_dir] + ([dicom_out] if dicom_out else []))
    if not images:
        others = f' ({n_skipped} file(s) with other suffixes)' if n_skipped else ''
        raise FileNotFoundError(f'{", ".join(map(str, sources))}: no PNG, JPEG, BMP, TIFF or '
                                f'DICOM files found{others}')
    overlays = overlay_names([name for _, name in images])
    classes = model.classes
    records, failures, n_abnormal = [], list(missing), 0
    paths = {name: path for path, name in images}
    dicom_writer = _dicom_writer(model, dicom_out, score_thr, thresholds) if dicom_out else None
    bar = _progress_bar(len(images), progress)
    for batch in _read_batches(images, batch_size):
        readable = [(name, image) for _, name, image in batch if isinstance(image, np.ndarray)]
        failures += [(name, _failure_reason(error)) for _, name, error in batch
                     if not isinstance(error, np.ndarray)]
        detections = model.predict([image for _, image in readable]) if readable else []
        for (name, image), (boxes, scores, labels) in zip(readable, detections):
            record = prediction_record(name, boxes, scores, labels, classes)
            finding = add_image_fields(record, thresholds)
            n_abnormal += (record['abnormal_score'] >= score_thr) if finding is None else finding
            records.append(record)
            overlay = draw_boxes(image, record, classes,
                                 score_thr=thresholds if thresholds is not None else score_thr,
                                 title=name)
            save_image(osp.join(overlay_dir, overlays[name]), overlay)
            if dicom_writer is not None:
                dicom_writer.write(paths[name], record)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()

    failures.sort()
    write_unreadable_list(out_dir, failures)
    if not records:
        raise ImageReadError(', '.join(map(str, sources)),
                             f'none of the {len(images)} image file(s) could be read (first: '
                             f'{failures[0][0]}: {failures[0][1]})')
    records.sort(key=lambda r: r['file_name'])
    predictions_path = osp.join(out_dir, 'predictions.json')
    write_annotations(predictions_path, records)
    return DeploySummary(len(images) + len(missing), len(records), n_abnormal, failures,
                         n_skipped, predictions_path, overlay_dir, model.providers,
                         thresholds_source, dicom_writer)


def _dicom_writer(model, dicom_out, score_thr, thresholds):
    """A :class:`~tbmm.dicom.DicomResultWriter` naming the exported model: its config, tbmm's
    version at export, the checkpoint's SHA-256 and the ONNX file's."""
    from tbmm.dicom import AlgorithmInfo, DicomResultWriter
    from tbmm.utils import file_sha256

    meta = model.metadata
    algorithm = AlgorithmInfo(
        name=osp.splitext(osp.basename(meta.config))[0], version=meta.version,
        model_sha256=(meta.checkpoint_sha256,),
        parameters=(f'onnx sha256: {file_sha256(model.path)}',))
    return DicomResultWriter(dicom_out, algorithm, model.classes, score_thr=score_thr,
                             thresholds=thresholds)


def _progress_bar(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit='img', desc='deploy')
