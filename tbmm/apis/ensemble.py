"""Fold ensembles: the detections of several checkpoints of one config fused per image.

The K models of a cross-validation (or any checkpoints of the same config) each predict every
image; their detections are merged with weighted boxes fusion, class by class, by the same code as
flip TTA (:func:`tbmm.models.test_time_augs.fuse_samples`): identical boxes of different classes
both survive, a box all K models found keeps its mean score, a box one of K found keeps 1/K of it
(``conf_type='avg'``).

* :class:`WBFEnsembleModel` (registered in MMDetection's ``MODELS``) holds the K detectors and
  merges their per-image predictions; with TTA data (a ``TestTimeAug`` pipeline) it fuses every
  model's every view together (K x 2 lists for flip TTA).
* :func:`init_ensemble_model` loads checkpoints for inference (``tools/infer.py``);
  :func:`apply_ensemble_config` turns a test config into an ensemble one (``tools/test.py``), and
  :func:`tbmm.apis.runner.test_ensemble` evaluates checkpoints on a config's test set in one call.

Every checkpoint is checked against the model (:func:`tbmm.checkpoint.check_checkpoint_fits_model`)
and must name the same classes as the first; a missing or mismatched one is a one-line error
naming it.
"""
import copy
import os
import os.path as osp
import re

import torch
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import load_state_dict

from tbmm.apis.config import RunConfigError, load_config
from tbmm.apis.inference import apply_tta_pipeline, init_model
from tbmm.checkpoint import check_checkpoint_fits_model, load_checkpoint_file
from tbmm.models.test_time_augs import fuse_samples, load_weighted_boxes_fusion

__all__ = ['WBFEnsembleModel', 'build_ensemble_model', 'init_ensemble_model',
           'apply_ensemble_config', 'check_checkpoint_files']


def check_checkpoint_files(checkpoints):
    """``checkpoints`` (one path or several) as a list of paths; ``FileNotFoundError`` naming the
    first that is not a file."""
    paths = [os.fspath(checkpoints)] if isinstance(checkpoints, (str, os.PathLike)) else [
        os.fspath(p) for p in checkpoints]
    if not paths:
        raise RunConfigError('no checkpoint given')
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint not found: {path}')
    return paths


def _checkpoint_classes(checkpoint):
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    classes = ((meta or {}).get('dataset_meta') or {}).get('classes')
    return tuple(classes) if classes is not None else None


def _check_same_classes(named_classes):
    """``named_classes``: ``(checkpoint path, class names or None)`` per member. The members that
    name classes must name the first one's, in the same order (a label means the same class in
    every model, or the fusion would merge boxes of different classes)."""
    named = [(path, classes) for path, classes in named_classes if classes is not None]
    for path, classes in named[1:]:
        first_path, first = named[0]
        if classes != first:
            raise RunConfigError(
                f'{path}: this checkpoint names the classes {", ".join(classes)}, but {first_path} '
                f'names {", ".join(first)}; an ensemble needs checkpoints of one class list')


@MODELS.register_module()
class WBFEnsembleModel(BaseModel):
    """Several detectors of one config whose detections are fused by weighted boxes fusion.

    Each batch goes through every detector; each image's K predictions (K x V with the V views of a
    ``TestTimeAug`` pipeline, flipped ones flipped back) are merged class by class by
    :func:`tbmm.models.test_time_augs.fuse_samples`, as
    :class:`~tbmm.models.test_time_augs.WBFTTAModel` merges views. Config use (``tools/test.py
    CONFIG CKPT1 CKPT2 ...`` builds it)::

        ensemble_model = dict(type='WBFEnsembleModel', iou_thr=0.55, conf_type='avg')

    Args:
        modules: the detectors (config dicts or modules), all of the same classes.
        checkpoints: one checkpoint path per module, loaded here (each checked to fit its module);
            None: the modules keep their weights (already loaded ones, as
            :func:`build_ensemble_model` passes).
        iou_thr, skip_box_thr, conf_type: weighted boxes fusion settings
            (:func:`tbmm.models.test_time_augs.fuse_views`).
        max_per_img: detections kept per image after fusion, highest scores first; None: the first
            detector's ``test_cfg.max_per_img`` (100 without one).
    """

    def __init__(self, modules, checkpoints=None, iou_thr=0.55, skip_box_thr=0.0, conf_type='avg',
                 max_per_img=None, data_preprocessor=None):
        load_weighted_boxes_fusion()  # fail at build time, not after the first forward pass
        super().__init__(data_preprocessor=data_preprocessor)
        if not modules:
            raise ValueError('WBFEnsembleModel needs at least one detector')
        self.models = torch.nn.ModuleList(
            m if isinstance(m, torch.nn.Module) else MODELS.build(copy.deepcopy(m))
            for m in modules)
        for model in self.models:
            if not hasattr(model, 'test_step'):
                raise TypeError(f'{type(model).__name__} has no test_step')
        self.iou_thr = iou_thr
        self.skip_box_thr = skip_box_thr
        self.conf_type = conf_type
        if max_per_img is None:
            test_cfg = getattr(self.models[0], 'test_cfg', None) or {}
            max_per_img = test_cfg.get('max_per_img', 100)
        self.max_per_img = max_per_img
        if checkpoints is not None:
            self.load_checkpoints(checkpoints)

    def load_checkpoints(self, checkpoints):
        """Load one checkpoint into each detector, each checked to fit it and to name the first
        one's classes (one-line errors naming the file). Returns the classes they name (or None)."""
        paths = check_checkpoint_files(checkpoints)
        if len(paths) != len(self.models):
            raise RunConfigError(f'{len(paths)} checkpoint(s) for {len(self.models)} detector(s)')
        named_classes = []
        for model, path in zip(self.models, paths):
            checkpoint = load_checkpoint_file(path, map_location='cpu')
            check_checkpoint_fits_model(model, checkpoint, path)
            named_classes.append((path, _checkpoint_classes(checkpoint)))
            _check_same_classes(named_classes)
            state_dict = checkpoint.get('state_dict', checkpoint)
            # As MMEngine's Runner loads load_from: DDP / TTA wrappers' prefix removed.
            state_dict = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
            load_state_dict(model, state_dict, strict=False)
        return next((classes for _, classes in named_classes if classes is not None), None)

    @staticmethod
    def _views(data):
        """The batch as a list of per-view batches: several for ``TestTimeAug`` data (each value a
        list of views, as :class:`mmengine.model.BaseTTAModel` splits it), else one."""
        if not isinstance(data, dict):
            raise TypeError(f'WBFEnsembleModel takes a dict batch, got {type(data).__name__}')
        samples = data.get('data_samples')
        if samples and isinstance(samples[0], (list, tuple)):
            return [{key: value[i] for key, value in data.items()} for i in range(len(samples))]
        return [data]

    def test_step(self, data):
        per_image = None
        for view in self._views(data):
            for model in self.models:
                # Each detector writes its pred_instances into the data samples it gets: every
                # one gets copies, so no prediction overwrites another's.
                batch = dict(view, data_samples=[s.clone() for s in view['data_samples']])
                predictions = model.test_step(batch)
                if per_image is None:
                    per_image = [[] for _ in predictions]
                for i, sample in enumerate(predictions):
                    per_image[i].append(sample)
        return [fuse_samples(samples, self.iou_thr, self.skip_box_thr, self.conf_type,
                             self.max_per_img) for samples in per_image]

    def val_step(self, data):
        return self.test_step(data)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        raise NotImplementedError('WBFEnsembleModel only predicts: call test_step')


def build_ensemble_model(models, **wbf_options):
    """Wrap detectors from :func:`tbmm.apis.inference.init_model` (weights loaded, same config)
    in a :class:`WBFEnsembleModel` with the first one's config and classes; the others must name
    the same classes. ``wbf_options``: :class:`WBFEnsembleModel`'s fusion settings."""
    models = list(models)
    _check_same_classes([(getattr(m, 'checkpoint_path', f'model {i}'),
                          tuple((getattr(m, 'dataset_meta', None) or {}).get('classes') or ())
                          or None) for i, m in enumerate(models)])
    ensemble = WBFEnsembleModel(modules=models, **wbf_options)
    ensemble.cfg = getattr(models[0], 'cfg', None)
    ensemble.dataset_meta = getattr(models[0], 'dataset_meta', None)
    return ensemble.eval()


def init_ensemble_model(config, checkpoints, device='cpu', cfg_options=None, **wbf_options):
    """Load each checkpoint of ``checkpoints`` with ``config`` (:func:`init_model`: fit check,
    class names) and return them fused (:func:`build_ensemble_model`); a single checkpoint gives
    the plain detector. Errors name the checkpoint."""
    paths = check_checkpoint_files(checkpoints)
    cfg = config if isinstance(config, Config) else load_config(config, cfg_options)
    models = []
    for path in paths:
        model = init_model(copy.deepcopy(cfg), path, device=device)
        model.checkpoint_path = path  # named by the class check
        models.append(model)
    if len(models) == 1:
        return models[0]
    return build_ensemble_model(models, **wbf_options)


def apply_ensemble_config(cfg, checkpoints, tta=False):
    """Turn a test config into an ensemble of ``checkpoints``, in place; returns ``cfg``.

    ``cfg.model`` becomes the config's ``ensemble_model`` (default
    ``dict(type='WBFEnsembleModel')``) holding one copy of the detector per checkpoint, which it
    loads itself when the Runner builds it (``cfg.load_from`` is cleared). With ``tta``, the test
    pipeline becomes the flip TTA one and every model's views are fused together.
    """
    paths = check_checkpoint_files(checkpoints)
    ensemble = dict(cfg.get('ensemble_model') or dict(type='WBFEnsembleModel'))
    detector = cfg.model
    if detector.get('type') in ('WBFTTAModel', 'DetTTAModel') and 'module' in detector:
        detector = detector.module
    cfg.model = ConfigDict(**ensemble, modules=[copy.deepcopy(detector) for _ in paths],
                           checkpoints=paths)
    cfg.load_from = None
    if tta:
        apply_tta_pipeline(cfg)
    return cfg
