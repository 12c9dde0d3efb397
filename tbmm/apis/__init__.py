"""Runs behind the tools: config preparation, training and testing (:mod:`.runner`), inference on
image files (:mod:`.inference`, loaded on first use) and the folder driver of ``tools/infer.py``
(:mod:`.folder_inference`)."""
from .runner import load_config, prepare_test_config, prepare_train_config, run_test, run_train

# Loaded on first use: importing them loads the detector code (mmdet.apis and tbmm's models).
_LAZY = {
    'init_model': 'tbmm.apis.inference',
    'iter_predictions': 'tbmm.apis.inference',
    'predict_files': 'tbmm.apis.inference',
    'sample_to_record': 'tbmm.apis.inference',
    'build_tta_model': 'tbmm.apis.inference',
    'apply_tta_config': 'tbmm.apis.inference',
    'find_images': 'tbmm.apis.folder_inference',
    'run_inference': 'tbmm.apis.folder_inference',
}

__all__ = ['load_config', 'prepare_train_config', 'prepare_test_config', 'run_train', 'run_test',
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
