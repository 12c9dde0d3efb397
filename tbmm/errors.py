"""The base of every error that means "the user's input or setting is wrong", not a bug in tbmm.

A leaf module (it imports nothing from tbmm): any module can derive its errors from
:class:`UserInputError`, and ``tbmm.utils.run_cli`` turns every such error into one ``error:`` line
with an ``isinstance`` check, without importing the modules that define them.
"""


class UserInputError(ValueError):
    """A file, record or setting cannot be used as given; the message names it and says why."""


class MissingExtraError(UserInputError, ImportError):
    """An optional package a feature needs (pydicom, ensemble-boxes) is not installed; the message
    says what to install. Also an ``ImportError``, so callers that expect one keep working."""


def user_error_names():
    """Class names of every :class:`UserInputError` subclass defined so far (imported modules).

    A DataLoader worker's error reaches the main process only as text naming its class.
    """
    names, pending = set(), [UserInputError]
    while pending:
        error_type = pending.pop()
        names.add(error_type.__name__)
        pending.extend(error_type.__subclasses__())
    return names


def shorten(text, limit=200):
    """``text`` cut to ``limit`` characters (ending in ``...``): error lines quote user data, which
    can be long."""
    return text if len(text) <= limit else text[:limit - 3] + '...'


def error_line(error, limit=200):
    """The first line of an exception's message (its type name if empty), shortened: what a one-line
    error report quotes from a library's error."""
    lines = str(error).strip().splitlines()
    return shorten(lines[0] if lines else type(error).__name__, limit)
