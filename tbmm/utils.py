"""Small helpers shared by the command-line tools and the writers of output files."""
import os
import os.path as osp
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


class UserInputError(ValueError):
    """Base of errors that mean a setting cannot run as asked (``run_cli`` prints one line).

    Defined here, light, so ``run_cli`` recognises its subclasses without importing their modules.
    """


def user_error_types():
    """Exception types that mean the user's input or config is wrong (not a bug in tbmm)."""
    from tbmm.datasets.annotations import AnnotationError
    types = [UserInputError, AnnotationError, FileNotFoundError, NotADirectoryError]
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


def run_cli(main, argv=None):
    """Run a tool's ``main``; user mistakes end in one ``error:`` line and exit code 2, not a traceback."""
    try:
        return main(argv)
    except user_error_types() as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
