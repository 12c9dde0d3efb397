"""int8 quantisation of an exported tbmm model, calibrated on images (torch-free).

:func:`quantize_int8` turns a float32 model from ``tools/export.py`` into a second ONNX file with
onnxruntime's static quantisation: int8 weights per output channel, uint8 activations whose ranges
(min/max) come from running the float model on calibration images prepared exactly as the runtime
prepares its inputs (:mod:`.preprocess`). The default format is QDQ (QuantizeLinear /
DequantizeLinear pairs around each quantised op), which onnxruntime's graph optimiser fuses into
integer kernels (``QLinearConv`` and friends: VNNI on x86 CPUs that have it).

The quantised model keeps every ``tbmm.*`` metadata entry of the float one, so
:class:`tbmm.deploy.OnnxDetector` runs it unchanged, and adds

* ``tbmm.precision``: ``"int8"`` (a model without the entry is float32);
* ``tbmm.quantization``: how it was made (format, calibration method and image count, per-channel,
  which nodes stayed float, onnxruntime's version, the float model's SHA-256).

By default the head's two last convolutions (the ``cls_score_<i>`` / ``bbox_pred_<i>`` outputs:
logits and box deltas) stay float32 (``keep_outputs_float``): their int8 step would move every
score and box; everything before them is quantised.

Needs the ``onnx`` package (the ``export`` extra) besides onnxruntime; neither torch nor mmcv.
"""
import json
import logging
import os
import os.path as osp
import tempfile
from collections import namedtuple

import numpy as np

from tbmm.datasets.image_files import find_images
from tbmm.datasets.image_io import ImageReadError, read_xray
from tbmm.deploy.metadata import KEY_PREFIX, DeployModelError, parse_metadata
from tbmm.deploy.preprocess import pad_batch, prepare_image
from tbmm.errors import MissingExtraError, UserInputError
from tbmm.utils import file_sha256, logger_level

PRECISION_KEY = KEY_PREFIX + 'precision'
QUANTIZATION_KEY = KEY_PREFIX + 'quantization'
FORMATS = ('qdq', 'qoperator')
CALIBRATION_METHODS = ('minmax', 'percentile', 'entropy')
DEFAULT_CALIBRATION_COUNT = 32


class QuantizationError(UserInputError):
    """Calibration images or settings a quantisation cannot use; the message is one line."""


QuantizeSummary = namedtuple('QuantizeSummary', [
    'path', 'n_calibration', 'calibration_files', 'float_nodes', 'settings', 'check'])
QuantizeSummary.__doc__ = """What :func:`quantize_int8` wrote: the int8 file, how many images
calibrated it (and their names), the nodes left in float32, the ``tbmm.quantization`` entry, and
the check on the first calibration image: ``dict(max_score_diff, max_delta_diff)``, the largest
sigmoid-score and box-delta differences of the int8 model from the float one."""


def model_precision(props):
    """``'int8'``, ``'float32'``, ... of a model's ``{key: text}`` metadata map (float32 when it has
    no ``tbmm.precision`` entry)."""
    text = props.get(PRECISION_KEY)
    if text is None:
        return 'float32'
    try:
        return str(json.loads(text))
    except json.JSONDecodeError:
        return str(text)


def _import_quantization():
    try:
        import onnx
        from onnxruntime import quantization
    except ImportError as e:
        raise MissingExtraError("int8 quantisation needs onnx and onnxruntime: pip install "
                                "'tbmm[export]'") from e
    return onnx, quantization


def find_calibration_images(sources):
    """``(path, name)`` of every image in ``sources`` (folders, files, globs), sorted;
    :class:`QuantizationError` (one line) when a source does not exist or there are none."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources or [])
    if not sources:
        raise QuantizationError('int8 quantisation needs calibration images '
                                '(--calibration-images DIR)')
    found = []
    for source in sources:
        try:
            found += find_images(source)[0]
        except FileNotFoundError:
            raise QuantizationError(f'calibration images: {source}: no such file or folder') \
                from None
    if not found:
        raise QuantizationError(f'calibration images: {", ".join(map(str, sources))}: no PNG, '
                                f'JPEG, BMP, TIFF or DICOM files found')
    return found


def calibration_inputs(sources, preprocess, count=DEFAULT_CALIBRATION_COUNT):
    """Network inputs ``(1, C, H, W)`` of up to ``count`` images of ``sources`` (folders, files,
    globs), spread evenly over their sorted list, as the runtime prepares them.

    Returns ``(inputs, names)``. Unreadable files are skipped; :class:`QuantizationError` when
    there are no images or none can be read.
    """
    if count < 1:
        raise QuantizationError(f'--calibration-count must be at least 1, got {count}')
    found = find_calibration_images(sources)
    order = np.unique(np.linspace(0, len(found) - 1, min(count, len(found))).round().astype(int))
    chosen = [found[i] for i in order]
    chosen += [f for f in found if f not in chosen]  # stand-ins for unreadable ones
    inputs, names = [], []
    for path, name in chosen:
        if len(inputs) == count:
            break
        try:
            gray = read_xray(path, channels=1)
        except (ImageReadError, MissingExtraError):
            continue
        tensor = prepare_image(gray, preprocess)[0]
        inputs.append(pad_batch([tensor], preprocess.get('pad_size_divisor', 1),
                                preprocess.get('pad_value', 0.0)))
        names.append(name)
    if not inputs:
        raise QuantizationError(f'calibration images: none of the {len(found)} file(s) could be '
                                f'read (first: {found[0][0]})')
    return inputs, names


_PASS_THROUGH = ('Cast', 'Identity', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze')


def _output_nodes(graph, output_names):
    """Names of the nodes that compute ``output_names``: the last node with weights (a Conv) of
    each, and the shape-only nodes (Cast, Identity, Reshape, ...) after it."""
    producer = {output: node for node in graph.node for output in node.output}
    names = []
    for output in output_names:
        node = producer.get(output)
        while node is not None:
            names.append(node.name)
            if node.op_type not in _PASS_THROUGH or not node.input:
                break
            node = producer.get(node.input[0])
    return list(dict.fromkeys(names))


def quantize_int8(model_path, out, calibration_images, count=DEFAULT_CALIBRATION_COUNT,
                  quant_format='qdq', calibrate_method='minmax', per_channel=True,
                  keep_outputs_float=True):
    """Write an int8 copy of the tbmm model ``model_path`` to ``out``.

    Args:
        model_path: a float32 ``.onnx`` from ``tools/export.py``.
        out: the int8 ``.onnx`` to write.
        calibration_images: folders, files or globs of images like those the model will see.
        count: calibration images used (spread over the sorted list).
        quant_format: ``'qdq'`` or ``'qoperator'`` (onnxruntime's ``QuantFormat``).
        calibrate_method: ``'minmax'``, ``'percentile'`` or ``'entropy'``.
        per_channel: one weight scale per output channel (else per tensor).
        keep_outputs_float: leave the convolutions producing the model's outputs in float32.

    Returns a :class:`QuantizeSummary`.
    """
    if quant_format not in FORMATS:
        raise QuantizationError(f'quantisation format {quant_format!r}: one of {FORMATS}')
    if calibrate_method not in CALIBRATION_METHODS:
        raise QuantizationError(f'calibration method {calibrate_method!r}: one of '
                                f'{CALIBRATION_METHODS}')
    model_path, out = os.fspath(model_path), os.fspath(out)
    if not osp.isfile(model_path):
        raise DeployModelError(f'{model_path}: model file not found')
    if osp.abspath(model_path) == osp.abspath(out):
        raise QuantizationError(f'{out}: the int8 model would overwrite the float one')
    onnx, quantization = _import_quantization()
    import onnxruntime

    try:
        proto = onnx.load(model_path)
    except Exception as e:  # noqa: BLE001  (protobuf's DecodeError and friends)
        raise DeployModelError(f'{model_path}: not an ONNX model ({type(e).__name__})') from None
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = parse_metadata(props, model_path)
    if model_precision(props) != 'float32':
        raise QuantizationError(f'{model_path}: already {model_precision(props)}; quantise the '
                                f'float32 export')
    inputs, names = calibration_inputs(calibration_images, metadata.preprocess, count)
    input_name = proto.graph.input[0].name
    outputs = list(metadata.outputs['cls_scores']) + list(metadata.outputs['bbox_preds'])
    float_nodes = _output_nodes(proto.graph, outputs) if keep_outputs_float else []

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter(inputs)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    formats = dict(qdq=quantization.QuantFormat.QDQ,
                   qoperator=quantization.QuantFormat.QOperator)
    methods = dict(minmax=quantization.CalibrationMethod.MinMax,
                   percentile=quantization.CalibrationMethod.Percentile,
                   entropy=quantization.CalibrationMethod.Entropy)
    # onnxruntime.quantization logs a warning on the root logger per tensor it cannot quantise per
    # channel (e.g. GroupNorm's constants): hidden during the quantisation.
    with tempfile.TemporaryDirectory() as tmp, logger_level(logging.ERROR):
        # Shape inference and onnxruntime's basic fusions (Conv+BN and the like) first, as
        # onnxruntime recommends; the graph keeps its node names, so float_nodes still apply.
        prepared = osp.join(tmp, 'prepared.onnx')
        quantization.quant_pre_process(model_path, prepared, skip_symbolic_shape=True)
        float_nodes = [n for n in float_nodes
                       if n in {node.name for node in onnx.load(prepared).graph.node}]
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        quantization.quantize_static(
            prepared, out, Reader(), quant_format=formats[quant_format], per_channel=per_channel,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, nodes_to_exclude=float_nodes,
            calibrate_method=methods[calibrate_method],
            extra_options=dict(CalibTensorRangeSymmetric=False),
            calibration_cache_path=None)
    settings = dict(format=quant_format, weights='int8 per channel' if per_channel
                    else 'int8 per tensor', activations='uint8',
                    calibrate_method=calibrate_method, calibration_images=len(inputs),
                    float_nodes=float_nodes, onnxruntime=onnxruntime.__version__,
                    float_model_sha256=file_sha256(model_path))
    quantized = onnx.load(out)
    del quantized.metadata_props[:]
    extra = {PRECISION_KEY: json.dumps('int8'), QUANTIZATION_KEY: json.dumps(settings)}
    for key, value in {**props, **extra}.items():
        quantized.metadata_props.add(key=key, value=value)
    quantized.doc_string = proto.doc_string + ' (int8, onnxruntime static quantisation)'
    onnx.save(quantized, out)
    check = compare_outputs(model_path, out, inputs[0], outputs)
    return QuantizeSummary(out, len(inputs), names, float_nodes, settings, check)


def compare_outputs(float_path, int8_path, batch, outputs):
    """Largest differences of the int8 model from the float one on ``batch``: sigmoid scores of
    the ``cls_score`` maps and raw ``bbox_pred`` deltas."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    results = []
    for path in (float_path, int8_path):
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        results.append(session.run(outputs, {session.get_inputs()[0].name: batch}))
    score_diff, delta_diff = 0.0, 0.0
    for name, a, b in zip(outputs, *results):
        if name.startswith('cls_score'):
            a, b = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
            score_diff = max(score_diff, float(np.abs(a - b).max()))
        else:
            delta_diff = max(delta_diff, float(np.abs(a - b).max()))
    return dict(max_score_diff=score_diff, max_delta_diff=delta_diff)

