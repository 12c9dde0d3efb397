"""Small helpers shared by the command-line tools and the writers of output files."""
import contextlib
import hashlib
import logging
import os
import os.path as osp
import platform
import re
import sys

from tbmm.errors import MissingExtraError, UserInputError, user_error_names

__all__ = ['MissingExtraError', 'UserInputError', 'cpu_name', 'ensure_parent_dir', 'file_sha256',
           'logger_level', 'run_cli']


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
    """SHA-256 hex digest of a file's bytes (read in 1 MiB blocks): which input a record came
    from."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# File-system errors name the missing path, which is all the user needs.
OS_USER_ERRORS = (FileNotFoundError, NotADirectoryError)


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what :mod:`platform` knows), for the
    machine line of benchmark records."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def logger_level(level, logger=None):
    """Set ``logger`` (default: the root logger) to ``level`` for the ``with`` block, then back:
    quiets a library that logs per parameter or per tensor."""
    logger = logger or logging.getLogger()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def worker_user_error_message(error):
    """The one-line message of a user error raised in a DataLoader worker, else ``None``.

    PyTorch re-raises a worker's exception in the main process with the worker's whole traceback as
    its message (``Caught ImageReadError in DataLoader worker process 0. Original Traceback ...``),
    as a ``RuntimeError`` where the type cannot be rebuilt from that message; the original message
    is the traceback's last line.
    """
    text = str(error)
    caught = re.match(r'Caught (\w+) in DataLoader worker process \d+', text)
    user_errors = user_error_names() | {t.__name__ for t in OS_USER_ERRORS}
    if not caught or caught.group(1) not in user_errors:
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
    """Run a tool's ``main``; user mistakes end in one ``error:`` line and exit code 2, not a
    traceback."""
    try:
        return main(argv)
    except Exception as e:  # noqa: BLE001  (anything else is re-raised as it is)
        message = worker_user_error_message(e) or config_mistake_message(e)
        if message is None and not isinstance(e, (UserInputError, *OS_USER_ERRORS)):
            raise
        print(f'error: {message or e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
