"""Small helpers shared by the command-line tools and the writers of output files."""
import hashlib
import os
import os.path as osp
import re
import sys


def ensure_parent_dir(path):
    """Create the folder ``path`` (a file's path) goes into, if it has one; return ``path``.

    Light on purpose (no mmengine import): the evaluation writers use it, and ``tools/evaluate.py``
    has a start-up budget.
    """
    parent = osp.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    return path


def file_sha256(path):
    """SHA-256 hex digest of a file's bytes (read in 1 MiB blocks): which input a record came from."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


class UserInputError(ValueError):
    """Base of errors that mean a setting cannot run as asked (``run_cli`` prints one line).

    Defined here, light, so ``run_cli`` recognises its subclasses without importing their modules.
    """


class MissingExtraError(ImportError):
    """An optional package a feature needs (pydicom, ensemble-boxes) is not installed; the message
    says what to install. An ``ImportError``, so callers that already expect one keep working."""


def user_error_types():
    """Exception types that mean the user's input or config is wrong (not a bug in tbmm)."""
    from tbmm.datasets.annotations import AnnotationError
    types = [UserInputError, MissingExtraError, AnnotationError, FileNotFoundError,
             NotADirectoryError]
    try:
        from tbmm.datasets.chestxdet import DatasetBuildError
        types.append(DatasetBuildError)
    except ImportError:  # mmdet missing: the tool fails on its own import anyway
        pass
    try:
        from tbmm.datasets.image_io import ImageReadError
        types.append(ImageReadError)
    except ImportError:
        pass
    try:
        from tbmm.engine.hooks import NonFiniteLossError
        types.append(NonFiniteLossError)
    except ImportError:
        pass
    try:
        from tbmm.checkpoint import UnsafeCheckpointError
        types.append(UnsafeCheckpointError)
    except ImportError:
        pass
    return tuple(types)


def worker_user_error_message(error, error_types):
    """The one-line message of a user error raised in a DataLoader worker, else ``None``.

    PyTorch re-raises a worker's exception in the main process with the worker's whole traceback as
    its message (``Caught ImageReadError in DataLoader worker process 0. Original Traceback ...``),
    as a ``RuntimeError`` where the type cannot be rebuilt from that message; the original message
    is the traceback's last line.
    """
    text = str(error)
    caught = re.match(r'Caught (\w+) in DataLoader worker process \d+', text)
    if not caught or caught.group(1) not in {t.__name__ for t in error_types}:
        return None
    last_line = text.rstrip().splitlines()[-1]
    original = re.match(rf'(?:[\w.]+\.)?{caught.group(1)}: (.*)', last_line)
    return original.group(1) if original else last_line


def config_mistake_message(error):
    """One line for a config mistake that MMEngine's registry reports as a bare ``KeyError`` (an
    unknown ``type``) or ``TypeError`` (a key the built class does not take), else ``None``."""
    text = str(error.args[0]) if error.args else ''
    if isinstance(error, KeyError):
        unknown = re.match(r'(\S+) is not in the (\S+) registry', text)
        if unknown:
            return (f'{unknown.group(1)} is not in the {unknown.group(2)} registry: a misspelt '
                    f'type in the config or --cfg-options, or a module the config does not import')
    if (isinstance(error, TypeError) and 'unexpected keyword argument' in text
            and _raised_while_building(error)):
        return f'{text}: a misspelt or misplaced key in the config or --cfg-options'
    return None


def _raised_while_building(error):
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.endswith(
                osp.join('mmengine', 'registry', 'build_functions.py')):
            return True
        traceback = traceback.tb_next
    return False


def run_cli(main, argv=None):
    """Run a tool's ``main``; user mistakes end in one ``error:`` line and exit code 2, not a traceback."""
    try:
        return main(argv)
    except Exception as e:  # noqa: BLE001  (anything else is re-raised as it is)
        # Looked up only now: the error types' modules import mmdet, which a tool may not need.
        error_types = user_error_types()
        message = worker_user_error_message(e, error_types) or config_mistake_message(e)
        if message is None and not isinstance(e, error_types):
            raise
        print(f'error: {message or e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
