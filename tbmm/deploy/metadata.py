"""What an exported tbmm ONNX model carries besides its network: the ``metadata_props`` entries.

Every entry is a JSON text under a ``tbmm.`` key (onnxruntime returns them as
``session.get_modelmeta().custom_metadata_map``, so reading them needs neither torch nor onnx):

* ``tbmm.format``: ``"tbmm-onnx/1"`` (:data:`MODEL_FORMAT`); a model without it is no tbmm export.
* ``tbmm.version``, ``tbmm.checkpoint_sha256``, ``tbmm.config``: where the weights came from.
* ``tbmm.classes``: the class names, in label order.
* ``tbmm.preprocess``: reading and resizing as the config's test pipeline (``load_channels``,
  ``resize``: ``{"scale": [w, h], "keep_ratio": bool, "interpolation": "bilinear"}``), then
  normalisation per input channel (``mean``, ``std``, ``input_channels``: gray is repeated to 3)
  and padding of the batch (``pad_size_divisor``, ``pad_value``) as the data preprocessor does.
* ``tbmm.anchor_generator``: ``strides`` ([w, h] per level), ``base_sizes``, ``ratios``,
  ``scales``, ``scale_major``, ``center_offset`` (mmdet's ``AnchorGenerator`` settings, with the
  ``octave_base_scale`` and ``scales_per_octave`` they came from).
* ``tbmm.bbox_coder``: ``DeltaXYWHBBoxCoder``'s ``target_means``, ``target_stds``,
  ``clip_border`` and ``wh_ratio_clip``.
* ``tbmm.postprocess``: the head's test settings ``score_thr``, ``nms_pre``, ``min_bbox_size``,
  ``iou_threshold`` (class-wise NMS), ``max_per_img``.
* ``tbmm.outputs``: the names of the per-level outputs (``cls_scores``: raw logits
  ``(N, A*C, H, W)``; ``bbox_preds``: box deltas ``(N, A*4, H, W)``), ``num_anchors``,
  ``num_classes``.
* ``tbmm.thresholds``: ``null``, or per-class operating thresholds
  (``{"classes": {name: threshold}, "source": ..., "sha256": ...}``, see
  :mod:`tbmm.evaluation.functional.thresholds`).

Light on purpose (standard library only): both the exporter and the torch-free runtime use it.
"""
import json
from dataclasses import dataclass

from tbmm.errors import UserInputError

MODEL_FORMAT = 'tbmm-onnx/1'
KEY_PREFIX = 'tbmm.'
SECTIONS = ('format', 'version', 'checkpoint_sha256', 'config', 'classes', 'preprocess',
            'anchor_generator', 'bbox_coder', 'postprocess', 'outputs', 'thresholds')


class DeployModelError(UserInputError):
    """A model file the runtime cannot use (not ONNX, no tbmm metadata, settings it does not
    know); the message is one line naming the file."""


@dataclass(frozen=True)
class DeployMetadata:
    """The parsed ``tbmm.*`` entries of an exported model (see the module docstring)."""

    format: str
    version: str
    checkpoint_sha256: str
    config: str
    classes: tuple
    preprocess: dict
    anchor_generator: dict
    bbox_coder: dict
    postprocess: dict
    outputs: dict
    thresholds: dict = None

    def to_props(self):
        """``{key: JSON text}`` for ``onnx.ModelProto.metadata_props``."""
        return {KEY_PREFIX + name: json.dumps(_jsonable(getattr(self, name)))
                for name in SECTIONS}


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def parse_metadata(props, source):
    """:class:`DeployMetadata` from a model's ``{key: text}`` metadata map.

    Raises :class:`DeployModelError` naming ``source`` when the tbmm entries are absent (an ONNX
    model not exported by tbmm), of another format, or incomplete.
    """
    if KEY_PREFIX + 'format' not in props:
        raise DeployModelError(f'{source}: an ONNX model without tbmm metadata (no '
                               f'"{KEY_PREFIX}format" entry): export it with tools/export.py')
    values = {}
    for name in SECTIONS:
        key = KEY_PREFIX + name
        if key not in props:
            raise DeployModelError(f'{source}: tbmm metadata incomplete: no "{key}" entry')
        try:
            values[name] = json.loads(props[key])
        except json.JSONDecodeError as e:
            raise DeployModelError(f'{source}: tbmm metadata entry "{key}" is not JSON '
                                   f'({e.msg})') from None
    if values['format'] != MODEL_FORMAT:
        raise DeployModelError(f'{source}: tbmm model format {values["format"]!r} is not '
                               f'{MODEL_FORMAT!r} (exported by another tbmm version?)')
    values['classes'] = tuple(values['classes'])
    return DeployMetadata(**values)
