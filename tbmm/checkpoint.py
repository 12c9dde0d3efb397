"""Load MMEngine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` refuses arbitrary pickled objects by default, and the checkpoints
MMEngine 0.10.7 itself saves contain a few: its message hub (``HistoryBuffer`` objects holding numpy
arrays) and numpy scalars such as the ETA and the best score. Resuming, ``load_from`` and testing
then fail with ``UnpicklingError``. Instead of turning the check off, this module

* allow-lists exactly the globals MMEngine's own checkpoints need
  (:func:`register_mmengine_safe_globals`);
* routes MMEngine's loading of local files and downloads (``http(s)://``, ``torchvision://``,
  ``open-mmlab://`` and ``mmcls://`` URLs) through :func:`load_checkpoint_file`, which loads with
  ``weights_only=True`` and refuses anything else with a one-line :class:`UnsafeCheckpointError`,
  unless unsafe loading was enabled explicitly (:func:`allow_unsafe_checkpoint_loading` or
  ``TBMM_UNSAFE_LOAD=1``). MMEngine's ``pavi://`` and ``s3://`` loaders and its cached
  ``open-mmlab://`` local paths call ``torch.load`` themselves: weights-only by torch's default
  with the same allow-list, but without the one-line message or the unsafe override.

Call :func:`setup_checkpoint_loading` once, before MMEngine loads anything.
"""
import logging
import os
import os.path as osp
import pickle
import re
import zipfile
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

from tbmm.errors import UserInputError

__all__ = [
    'UnsafeCheckpointError', 'CheckpointReadError', 'CheckpointMismatchError',
    'check_checkpoint_fits_model', 'UNSAFE_LOAD_ENV',
    'allow_unsafe_checkpoint_loading', 'unsafe_checkpoint_loading_allowed',
    'register_mmengine_safe_globals', 'load_checkpoint_file', 'setup_checkpoint_loading'
]

#: Environment variable that, set to 1/true/yes, allows unsafe (full pickle) checkpoint loading.
UNSAFE_LOAD_ENV = 'TBMM_UNSAFE_LOAD'

_TRUE_VALUES = ('1', 'true', 'yes', 'on')


def _torch_version():
    return tuple(int(p) for p in re.findall(r'\d+', torch.__version__)[:2])


# Before torch 2.6, torch.load did not default to weights_only (so MMEngine's loading works as it
# is) and its weights-only unpickler was no security boundary (CVE-2025-32434): there this module
# changes nothing rather than promise a safety it cannot give.
WEIGHTS_ONLY_SUPPORTED = _torch_version() >= (2, 6)

# HistoryBuffer pickles its default statistics methods as getattr(HistoryBuffer, name).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')

_unsafe_loading_allowed = False
_setup_done = False


class UnsafeCheckpointError(UserInputError, pickle.UnpicklingError):
    """A checkpoint failed the weights-only check; the message is one line naming file and cause."""

    def __init__(self, path, offending_globals, reason=None):
        self.path = path
        self.offending_globals = list(offending_globals)
        if self.offending_globals:
            cause = ('it needs pickled globals outside the allow-list: '
                     + ', '.join(self.offending_globals))
        else:
            cause = f'the weights-only unpickler refused it: {reason}'
        super().__init__(
            f'{path}: refusing to load this checkpoint: {cause}; re-run with '
            f'--unsafe-load-checkpoint (or {UNSAFE_LOAD_ENV}=1) if you trust this file')


class CheckpointReadError(UserInputError):
    """A checkpoint file torch cannot load: empty, truncated, not a checkpoint, or saved on a device
    this machine lacks; the message is one line naming the file."""


# What torch.load raises for damaged files torch.save did write: a cut-off zip archive
# (RuntimeError "PytorchStreamReader failed ..."), a cut-off pickle (EOFError, UnpicklingError
# without weights_only), CUDA tensors without CUDA (RuntimeError), and whatever else the unpickler
# makes of damaged bytes (KeyError, ValueError, IndexError).
_UNREADABLE_CHECKPOINT_ERRORS = (RuntimeError, KeyError, EOFError, ValueError, IndexError)


def _torch_load(path, map_location, weights_only):
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as error:  # noqa: BLE001  (sorted below; anything unexpected is re-raised)
        if not _written_by_torch_save(path):
            # A config, a log, an empty file: whatever the unpickler made of its bytes (KeyError,
            # IndexError, UnpicklingError, ...), the answer is the same.
            raise CheckpointReadError(f'{path}: cannot load this checkpoint (not a file torch.save '
                                      f'wrote: neither a zip archive nor a pickle)') from None
        # Under weights_only an UnpicklingError is the allow-list's refusal, which the caller
        # explains; the full unpickler raises it for damaged data.
        if isinstance(error, pickle.UnpicklingError) and weights_only:
            raise
        if not isinstance(error, _UNREADABLE_CHECKPOINT_ERRORS + (pickle.UnpicklingError,)):
            raise
        detail = ' '.join(str(error).split()) or 'no details'
        raise CheckpointReadError(
            f'{path}: cannot load this checkpoint ({type(error).__name__}: {detail[:200]})'
        ) from None


class CheckpointMismatchError(UserInputError):
    """A checkpoint whose weights do not fit the config's model (another backbone, class count,
    ...); the message is one line naming the file."""


def _without_wrapper_prefix(name):
    # DDP and test-time-augmentation wrappers hold the detector as ``module``.
    while name.startswith('module.'):
        name = name[len('module.'):]
    return name


def check_checkpoint_fits_model(model, checkpoint, source):
    """Raise :class:`CheckpointMismatchError` unless every parameter and buffer of ``model`` is in
    ``checkpoint`` with its shape (extra entries are allowed).

    ``checkpoint`` as loaded: MMEngine's dict with a ``state_dict``, or a bare state dict.

    MMEngine loads checkpoints non-strictly and only logs what did not fit: right for fine-tuning
    from other weights, but a test or an inference with the wrong checkpoint would then report
    the scores of randomly initialised layers.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    saved = {_without_wrapper_prefix(k): tuple(v.shape) for k, v in state_dict.items()
             if hasattr(v, 'shape')}
    missing, reshaped = [], []
    for name, tensor in model.state_dict().items():
        name = _without_wrapper_prefix(name)
        if name not in saved:
            missing.append(name)
        elif saved[name] != tuple(tensor.shape):
            reshaped.append(f'{name} {list(saved[name])} in the checkpoint, {list(tensor.shape)} '
                            f'in the model')
    if not (missing or reshaped):
        return
    problems = []
    if reshaped:
        problems.append(f'{len(reshaped)} tensor(s) of another shape (first: {reshaped[0]})')
    if missing:
        problems.append(f'{len(missing)} missing (first: {missing[0]})')
    raise CheckpointMismatchError(
        f'{source}: this checkpoint does not fit the config\'s model: {"; ".join(problems)}; use '
        f'the config it was trained with (its work dir holds a copy)')


def _written_by_torch_save(path):
    # torch.save writes a zip archive; before torch 1.6 a pickle (protocol 2+ starts with 0x80).
    if zipfile.is_zipfile(path):
        return True
    with open(path, 'rb') as f:
        return f.read(1) == b'\x80'


def allow_unsafe_checkpoint_loading(enabled=True):
    """Allow (or forbid again) full-pickle loading of checkpoints failing the weights-only check."""
    global _unsafe_loading_allowed
    _unsafe_loading_allowed = bool(enabled)


def unsafe_checkpoint_loading_allowed():
    """Whether :func:`allow_unsafe_checkpoint_loading` or ``TBMM_UNSAFE_LOAD`` enabled it."""
    return _unsafe_loading_allowed or os.environ.get(UNSAFE_LOAD_ENV, '').lower() in _TRUE_VALUES


def _history_buffer_method(obj, name):
    """``builtins.getattr`` for the unpickler, limited to HistoryBuffer's statistics methods."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _mmengine_safe_globals():
    # Found by training an MMEngine Runner (optimizer wrapper, param schedulers, validation with
    # save_best), listing its checkpoints' globals with get_unsafe_globals_in_checkpoint, then
    # loading them with weights_only=True until nothing was refused (the dtype classes are needed
    # when the unpickler sets a dtype's state, so that list does not name them).
    reconstruct_array = np.zeros(0).__reduce__()[0]  # numpy.core.multiarray._reconstruct
    numpy_scalar = np.float64(0).__reduce__()[0]  # numpy.core.multiarray.scalar
    return [
        HistoryBuffer,  # message_hub log_scalars (train/loss, train/lr, val/<metric>, ...)
        (_history_buffer_method, 'builtins.getattr'),
        np.ndarray, reconstruct_array,  # HistoryBuffer's log and count histories
        numpy_scalar,  # runtime_info 'eta' and 'best_score' are numpy scalars
        np.dtype,
        # MessageHub stores Python ints and floats, so numpy's default int and float64 arrays
        type(np.dtype(float)), type(np.dtype(int)),
    ]


def register_mmengine_safe_globals():
    """Allow-list the globals in checkpoints saved by MMEngine's Runner; idempotent.

    Returns ``False`` (and registers nothing) on torch < 2.6.
    """
    if not WEIGHTS_ONLY_SUPPORTED:
        return False
    # torch keeps the allow-list as a set, so registering the same objects again changes nothing.
    torch.serialization.add_safe_globals(_mmengine_safe_globals())
    return True


def _refusal_cause(path, error):
    """``(offending_globals, reason)`` for a failed weights-only load, ``reason`` from torch."""
    try:
        offending = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # unreadable as a pickle: torch's error below says why
        offending = []
    match = re.search(r'WeightsUnpickler error:\s*(.+)', str(error))
    reason = match.group(1).strip() if match else ' '.join(str(error).split())
    return offending, reason


def load_checkpoint_file(path, map_location=None):
    """Load a local checkpoint with ``weights_only=True``.

    Raises :class:`UnsafeCheckpointError` when the file needs globals outside the allow-list,
    unless unsafe loading is enabled: then it is loaded with ``weights_only=False`` and a warning
    is logged. Raises :class:`CheckpointReadError` for a file torch cannot read at all.
    """
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} can not be found.')
    try:
        return _torch_load(path, map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        offending, reason = _refusal_cause(path, error)
        if not unsafe_checkpoint_loading_allowed():
            raise UnsafeCheckpointError(path, offending, reason) from None
    print_log(
        f'Loading {path} with weights_only=False because unsafe loading is enabled '
        f'({", ".join(offending) or reason}): this can run arbitrary code from the file',
        logger='current', level=logging.WARNING)
    return _torch_load(path, map_location, weights_only=False)


def load_from_safe_local(filename, map_location):
    # MMEngine's load_from_local signature; CheckpointLoader logs the name after 'load_from_'.
    return load_checkpoint_file(filename, map_location)


def _load_url(url, model_dir=None, map_location=None, progress=True):
    """Download ``url`` into torch hub's cache (as torch.hub does) and load it safely.

    Replaces ``mmengine.runner.checkpoint.load_url``, i.e. ``torch.hub.load_state_dict_from_url``,
    which unpickles downloads with ``weights_only=False``.
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached_file = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached_file):
        torch.hub.download_url_to_file(url, cached_file, progress=progress)
    return load_checkpoint_file(cached_file, map_location)


def setup_checkpoint_loading():
    """Make MMEngine load checkpoints through :func:`load_checkpoint_file`; idempotent.

    Registers the MMEngine allow-list, replaces the local-file scheme of MMEngine's
    ``CheckpointLoader`` (used by ``Runner.resume``, ``load_from``, ``load_checkpoint`` and
    ``Pretrained`` init) and its URL loader. Returns ``False`` on torch < 2.6, changing nothing.
    """
    global _setup_done
    if not register_mmengine_safe_globals():
        return False
    if _setup_done:
        return True
    from mmengine.runner import checkpoint as mmengine_checkpoint
    mmengine_checkpoint.CheckpointLoader.register_scheme('', load_from_safe_local, force=True)
    # http(s)://, torchvision://, open-mmlab:// and mmcls:// all end in MMEngine's load_from_http,
    # called directly rather than through the registry; its module-level ``load_url`` is the one
    # download-and-load call they share, so replacing it covers them all.
    mmengine_checkpoint.load_url = _load_url
    _setup_done = True
    return True
